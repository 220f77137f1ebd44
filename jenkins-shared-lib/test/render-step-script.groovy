// Usage: groovy jenkins-shared-lib/test/render-step-script.groovy <outdir> [param=value ...]
// Writes <outdir>/step.sh (the exact script slackImSync gives `sh`) and <outdir>/step.env (the
// environment around it: withEnv + credential variables). Defaults: system=dev, and targetUrl=http://127.0.0.1:8080
// unless one of targetUrl=, systems=, command=export or env.SLACK_IM_TARGET_URL= is given (targetUrl= with no
// value: no URL, the system folder's "url" applies).
// Parameter syntax (vars.NAME=, secrets.NAME=, credential.ID=value, env.NAME=): test/lib/StepRenderer.groovy.
// Run the result like Jenkins does:
//   (set -a; . <outdir>/step.env; set +a; cd <workspace> && sh -xe <outdir>/step.sh)
if (args.length < 1) {
    System.err.println('usage: render-step-script.groovy <outdir> [param=value ...]')
    System.exit(64)
}
File testDir = new File(getClass().protectionDomain.codeSource.location.toURI()).parentFile
System.setProperty('slackim.lib.dir', testDir.parentFile.canonicalPath)
GroovyClassLoader loader = new GroovyClassLoader(getClass().classLoader)
loader.addClasspath(new File(testDir, 'lib').canonicalPath)
Class renderer = loader.loadClass('StepRenderer')

File outdir = new File(args[0])
List<String> params = args.length > 1 ? (args[1..-1] as List<String>) : []
boolean export = params.contains('command=export')
if (!export && !params.any { it.startsWith('system=') || it.startsWith('systems=') }) {
    params = ['system=dev'] + params
}
if (!params.any { it.startsWith('targetUrl=') || it.startsWith('systems=') || it.startsWith('env.SLACK_IM_TARGET_URL=') } &&
        !export) {
    params = params + ['targetUrl=http://127.0.0.1:8080']
}
try {
    Map rendered = renderer.render(params)
    renderer.write(outdir, rendered)
    println "wrote ${new File(outdir, 'step.sh')} and ${new File(outdir, 'step.env')}"
} catch (RuntimeException e) {
    if (e.class.name.endsWith('PipelineError')) {
        System.err.println(e.message)
        System.exit(2)
    }
    throw e
}
