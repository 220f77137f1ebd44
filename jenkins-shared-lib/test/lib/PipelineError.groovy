/** Thrown by the fake `error` step (in Jenkins, error() fails the build with an AbortException-like error). */
class PipelineError extends RuntimeException {
    PipelineError(String message) {
        super(message)
    }
}
