/**
 * Base class of the scripts PipelineHarness loads. Like Jenkins (workflow-cps), a call to a step that
 * does not exist (e.g. one from a plugin that is not installed) throws java.lang.NoSuchMethodError,
 * an Error, so `catch (Exception e)` does not hide it.
 */
abstract class PipelineScript extends Script {

    def methodMissing(String name, def args) {
        throw new NoSuchMethodError("No such DSL method '${name}' found among steps (PipelineHarness)")
    }
}
