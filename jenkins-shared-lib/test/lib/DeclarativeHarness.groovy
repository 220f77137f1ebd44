import org.codehaus.groovy.control.CompilerConfiguration
import org.codehaus.groovy.control.customizers.ImportCustomizer

/**
 * A stand-in for running a declarative Jenkinsfile's structure offline: loads it with
 * DeclarativeScript as base class, runs every block in order (all stages, every post condition),
 * records every step call, and lets tests answer chosen steps (handlers: name -> { List args -> … }).
 *
 *   def h = new DeclarativeHarness(params: [:])
 *   h.run('examples/scheduled-sync.Jenkinsfile')
 *   h.calls('slackImSync')[0].args[0].dryRun
 */
class DeclarativeHarness {
    Map<String, Object> params = [:]
    Map<String, String> env = [BUILD_NUMBER: '7', BUILD_TAG: 'jenkins-slack-im-sync-7', JOB_NAME: 'slack-im-sync']
    final List<Map> calls = []
    final Map<String, Closure> handlers = [:]
    final PipelineHarness.FakeBuild currentBuild = new PipelineHarness.FakeBuild()

    List<Map> calls(String name) {
        return calls.findAll { it.name == name }
    }

    Object run(String relativePath) {
        CompilerConfiguration config = new CompilerConfiguration()
        ImportCustomizer imports = new ImportCustomizer()
        imports.addImports('org.jenkinsci.plugins.workflow.libs.Library', 'com.cloudbees.groovy.cps.NonCPS')
        config.addCompilationCustomizers(imports)
        config.scriptBaseClass = 'DeclarativeScript'
        Binding b = new Binding()
        b.setVariable('__harness', this)
        b.setVariable('params', params)
        b.setVariable('env', env)
        b.setVariable('currentBuild', currentBuild)
        // `agent none` / `agent any`: declarative keywords, not variables
        b.setVariable('none', 'none')
        b.setVariable('any', 'any')
        if (!handlers.containsKey('error')) {
            handlers.error = { List a -> throw new PipelineError(a[0].toString()) }
        }
        GroovyShell shell = new GroovyShell(this.class.classLoader, b, config)
        File f = new File(PipelineHarness.libraryRoot().parentFile, relativePath)
        String className = f.name.replaceAll(/[^A-Za-z0-9_]/, '_')
        return shell.parse(f.getText('UTF-8'), className).run()
    }
}
