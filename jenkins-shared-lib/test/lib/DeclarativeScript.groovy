/**
 * Base class of the Jenkinsfiles DeclarativeHarness loads: every unknown call (pipeline, agent, stage,
 * steps, sh, slackImSync, ...) is recorded with its arguments; a trailing closure argument is run
 * (so stages, post conditions and script blocks execute in order); an `environment { }` block's
 * assignments land in `env`.
 */
abstract class DeclarativeScript extends Script {

    def methodMissing(String name, def args) {
        DeclarativeHarness h = (DeclarativeHarness) binding.getVariable('__harness')
        List argList = args as List
        h.calls << [name: name, args: argList.findAll { !(it instanceof Closure) }]
        if (h.handlers.containsKey(name)) {
            return h.handlers[name].call(argList)
        }
        Object last = argList ? argList[-1] : null
        if (last instanceof Closure) {
            if (name == 'environment') {
                Map before = new LinkedHashMap(binding.variables)
                Object r = ((Closure) last).call()
                binding.variables.each { k, v ->
                    if (!before.containsKey(k) || !before[k].is(v)) {
                        h.env[k.toString()] = v?.toString()
                    }
                }
                return r
            }
            return ((Closure) last).call()
        }
        return null
    }
}
