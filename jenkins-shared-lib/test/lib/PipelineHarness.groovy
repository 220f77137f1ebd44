import org.codehaus.groovy.control.CompilerConfiguration
import org.codehaus.groovy.control.customizers.ImportCustomizer

/**
 * A small offline stand-in for JenkinsPipelineUnit (shape of jenkins-infra/pipeline-library BaseTest):
 * loads a vars/*.groovy step with GroovyShell into a Binding whose variables fake the pipeline steps,
 * and records every step call with its arguments.
 *
 *   def h = new PipelineHarness()
 *   h.shHandler = { Map args, Map stepEnv -> 3 }     // status of the sh step
 *   def result = h.load('vars/slackImSync.groovy').call(system: 'dev', targetUrl: 'https://x')
 *   h.calls('sh')[0].args.script
 */
class PipelineHarness {

    static class FakeBuild {
        String result = 'SUCCESS'
        /** The result the current stage shows (Jenkins: a WarningAction/ErrorAction on the stage's node). */
        String stageResult = 'SUCCESS'
        String description
        String displayName
        List<String> getBuildCauses() { return [] }
    }

    /** Where the library lives (…/jenkins-shared-lib). */
    static File libraryRoot() {
        String configured = System.getProperty('slackim.lib.dir') ?: System.getenv('SLACK_IM_LIB_DIR')
        if (configured) {
            return new File(configured).canonicalFile
        }
        File cwd = new File('.').canonicalFile
        return new File(cwd, 'vars/slackImSync.groovy').exists() ? cwd : new File(cwd, 'jenkins-shared-lib')
    }

    final File workspace
    final List<Map> callStack = []
    final Map<String, String> env = [
        BUILD_TAG   : 'jenkins-slack-im-sync-42',
        BUILD_NUMBER: '42',
        JOB_NAME    : 'slack-im-sync',
    ]
    final FakeBuild currentBuild = new FakeBuild()
    /** credentials id -> value handed out by the fake withCredentials. Unknown ids get a distinctive fake value. */
    final Map<String, String> credentials = [:]
    /** Every secret value the fake withCredentials handed out. */
    final Set<String> secretValuesHandedOut = new LinkedHashSet<String>()
    /** Credentials ids that do not exist: withCredentials fails on them, as Jenkins does. */
    final Set<String> missingCredentials = new LinkedHashSet<String>()
    /** credentials id -> content of a Secret file credential (default: a fake PEM). */
    final Map<String, String> credentialFiles = [:]
    /** false (default): secret files are deleted when withCredentials ends, as in Jenkins. */
    boolean keepSecretFiles = false
    /** What isUnix() answers. */
    boolean unix = true
    /** Called for every `sh`: (Map args, Map<String,String> stepEnv) -> status (Integer) or stdout. */
    Closure shHandler = { Map args, Map stepEnv -> 0 }

    private final List<Map<String, String>> scopes = []

    PipelineHarness(File workspace = null) {
        this.workspace = workspace ?: File.createTempDir('slack-im-ws', '')
    }

    static String fakeSecret(String credentialsId) {
        return "S3CR3T-${credentialsId}-9f8e7d".toString()
    }

    /** The environment a step sees right now: withEnv + credential variables, innermost last. */
    Map<String, String> currentStepEnv() {
        Map<String, String> out = new LinkedHashMap<String, String>()
        for (Map<String, String> scope : scopes) {
            scope.each { k, v ->
                if (v == null) {
                    out.remove(k)
                } else {
                    out[k] = v
                }
            }
        }
        return out
    }

    List<Map> calls(String name) {
        return callStack.findAll { it.name == name }
    }

    private Object record(String name, List args, Map extra = [:]) {
        Map call = [name: name, args: args.size() == 1 ? args[0] : args] + extra
        callStack << call
        return call
    }

    /** Every string argument of every recorded call (closures left out), plus the build description. */
    List<String> recordedStrings() {
        List<String> out = []
        for (Map call : callStack) {
            flatten(call.args, out)
        }
        if (currentBuild.description) {
            out << currentBuild.description
        }
        return out
    }

    private static void flatten(Object o, List<String> out) {
        if (o instanceof Map) {
            o.each { k, v -> out << k.toString(); flatten(v, out) }
        } else if (o instanceof Collection || o instanceof Object[]) {
            o.each { flatten(it, out) }
        } else if (o != null && !(o instanceof Closure)) {
            out << o.toString()
        }
    }

    Script load(String relativePath) {
        CompilerConfiguration config = new CompilerConfiguration()
        ImportCustomizer imports = new ImportCustomizer()
        imports.addImports('com.cloudbees.groovy.cps.NonCPS')
        config.addCompilationCustomizers(imports)
        // Unknown steps throw NoSuchMethodError, as in Jenkins.
        config.scriptBaseClass = 'PipelineScript'
        GroovyShell shell = new GroovyShell(this.class.classLoader, binding(), config)
        // the library's src/ classes, as Jenkins puts them on the library's class path
        shell.classLoader.addClasspath(new File(libraryRoot(), 'src').path)
        return shell.parse(new File(libraryRoot(), relativePath))
    }

    private Binding binding() {
        Binding b = new Binding()
        b.setVariable('env', env)
        b.setVariable('currentBuild', currentBuild)
        b.setVariable('params', [:])

        b.setVariable('echo', { String msg -> record('echo', [msg]); null })
        b.setVariable('error', { String msg ->
            record('error', [msg])
            currentBuild.result = 'FAILURE'
            currentBuild.stageResult = 'FAILURE'
            throw new PipelineError(msg)
        })
        b.setVariable('unstable', { String msg ->
            record('unstable', [msg])
            if (currentBuild.result != 'FAILURE') {
                currentBuild.result = 'UNSTABLE'
            }
            currentBuild.stageResult = 'UNSTABLE'
            null
        })
        b.setVariable('string', { Map a -> record('string', [a]); [$class: 'StringBinding'] + a })
        b.setVariable('file', { Map a -> record('file', [a]); [$class: 'FileBinding'] + a })
        b.setVariable('withCredentials', { List bindings, Closure body ->
            record('withCredentials', [bindings])
            Map<String, String> scope = [:]
            for (Map binding : bindings) {
                if (missingCredentials.contains(binding.credentialsId)) {
                    throw new PipelineError("Could not find credentials entry with ID '${binding.credentialsId}'")
                }
            }
            List<File> secretDirs = []
            for (Map binding : bindings) {
                String value
                if (binding.$class == 'FileBinding') {
                    File f = writeSecretFile(binding.credentialsId.toString())
                    secretDirs << f.parentFile
                    value = f.path
                } else {
                    value = credentials[binding.credentialsId] ?: fakeSecret(binding.credentialsId)
                    secretValuesHandedOut << value
                }
                scope[binding.variable] = value
            }
            try {
                return scoped(scope, body)
            } finally {
                if (!keepSecretFiles) {
                    secretDirs.each { it.deleteDir() }
                }
            }
        })
        b.setVariable('withEnv', { List vars, Closure body ->
            record('withEnv', [vars])
            Map<String, String> scope = [:]
            for (Object v : vars) {
                String s = v.toString()
                int eq = s.indexOf('=')
                assert eq > 0: "withEnv entry without '=': ${s}"
                // Like Jenkins (EnvVars.override): an empty value removes the variable.
                String value = s.substring(eq + 1)
                scope[s.substring(0, eq)] = value.isEmpty() ? null : value
            }
            scoped(scope, body)
        })
        b.setVariable('timeout', { Map a, Closure body -> record('timeout', [a]); body() })
        b.setVariable('sh', { Object a ->
            Map args = a instanceof Map ? a : [script: a.toString()]
            Map<String, String> stepEnv = currentStepEnv()
            record('sh', [args], [env: stepEnv])
            Object status = shHandler.call(args, stepEnv)
            if (args.returnStatus) {
                return status as Integer
            }
            if (!args.returnStdout && status != 0) {
                throw new PipelineError("script returned exit code ${status}")
            }
            return args.returnStdout ? status.toString() : null
        })
        // libraryResource (pipeline-groovy-lib): a file of the library's resources/ folder, as a string.
        b.setVariable('libraryResource', { String path ->
            record('libraryResource', [path])
            File f = new File(libraryRoot(), "resources/${path}")
            if (!f.exists()) {
                throw new PipelineError("No such library resource ${path} could be found.")
            }
            return f.getText('UTF-8')
        })
        b.setVariable('isUnix', { -> record('isUnix', []); unix })
        b.setVariable('archiveArtifacts', { Map a -> record('archiveArtifacts', [a]); null })
        // junit (JUnit plugin): with failing test cases it marks the build UNSTABLE unless
        // skipMarkingBuildUnstable, and the stage UNSTABLE unless skipMarkingStageUnstable.
        b.setVariable('junit', { Map a ->
            record('junit', [a])
            File f = new File(workspace, a.testResults.toString())
            int failures = f.exists() ? f.text.findAll(/<(failure|error)[\s>\/]/).size() : 0
            if (!f.exists() && !a.allowEmptyResults) {
                throw new PipelineError("No test report files were found: ${a.testResults}")
            }
            if (failures > 0) {
                if (!a.skipMarkingBuildUnstable && currentBuild.result == 'SUCCESS') {
                    currentBuild.result = 'UNSTABLE'
                }
                if (!a.skipMarkingStageUnstable && currentBuild.stageResult == 'SUCCESS') {
                    currentBuild.stageResult = 'UNSTABLE'
                }
            }
            [failCount: failures]
        })
        b.setVariable('fileExists', { String path -> record('fileExists', [path]); new File(workspace, path).exists() })
        // readFile (workflow-basic-steps). There is deliberately no readJSON: it belongs to Pipeline
        // Utility Steps, which the step must not need; calling it throws NoSuchMethodError.
        b.setVariable('readFile', { Object a ->
            String path = a instanceof Map ? a.file.toString() : a.toString()
            record('readFile', [a])
            File f = new File(workspace, path)
            if (!f.exists()) {
                throw new PipelineError("java.nio.file.NoSuchFileException: ${path}")
            }
            return f.getText('UTF-8')
        })
        return b
    }

    private Object scoped(Map<String, String> scope, Closure body) {
        scopes << scope
        try {
            return body()
        } finally {
            scopes.remove(scopes.size() - 1)
        }
    }

    /**
     * Writes a Secret file credential the way the Credentials Binding plugin does on an agent:
     * <workspace>@tmp/secretFiles/<random>/<file name>, the file 0400 and its folder 0700.
     */
    File writeSecretFile(String credentialsId) {
        File dir = new File("${workspace.path}@tmp/secretFiles/${UUID.randomUUID()}")
        dir.mkdirs()
        File f = new File(dir, 'ca.pem')
        f.text = credentialFiles[credentialsId] ?: "-----BEGIN CERTIFICATE-----\nfake ${credentialsId}\n-----END CERTIFICATE-----\n"
        java.nio.file.Files.setPosixFilePermissions(f.toPath(), java.nio.file.attribute.PosixFilePermissions.fromString('r--------'))
        java.nio.file.Files.setPosixFilePermissions(dir.toPath(), java.nio.file.attribute.PosixFilePermissions.fromString('rwx------'))
        return f
    }

    /** Runs an sh step's script for real with /bin/sh in the fake workspace and the step's environment. */
    int runForReal(Map args, Map<String, String> stepEnv) {
        ProcessBuilder pb = new ProcessBuilder(['sh', '-c', args.script.toString()]).directory(workspace)
        pb.environment().putAll(stepEnv)
        pb.redirectErrorStream(true)
        Process p = pb.start()
        String output = p.inputStream.text
        int status = p.waitFor()
        record('sh output', [output])
        return status
    }

    /** Writes a file into the fake workspace (e.g. what the container would leave in the report folder). */
    File writeWorkspaceFile(String path, String text) {
        File f = new File(workspace, path)
        f.parentFile.mkdirs()
        f.text = text
        return f
    }

    String printCallStack() {
        return callStack.collect { c -> "${c.name}(${c.args instanceof Closure ? '{…}' : c.args})" }.join('\n')
    }
}
