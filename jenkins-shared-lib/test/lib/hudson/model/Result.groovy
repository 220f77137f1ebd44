package hudson.model

/** Stand-in for Jenkins' hudson.model.Result: the examples' upstream trigger names a threshold. */
class Result {
    static final Result SUCCESS = new Result('SUCCESS')
    static final Result UNSTABLE = new Result('UNSTABLE')
    static final Result FAILURE = new Result('FAILURE')

    final String name

    private Result(String name) {
        this.name = name
    }

    String toString() {
        return name
    }
}
