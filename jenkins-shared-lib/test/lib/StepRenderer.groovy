/**
 * Runs vars/slackImSync.groovy in the PipelineHarness and captures what the real step would hand to
 * the agent's shell: the `sh` script and the environment around it (withEnv + credential variables).
 *
 * Parameters are `key=value` strings:
 *   system=dev targetUrl=http://127.0.0.1:8080 engine=podman network=host dryRun=true
 *   systems=dev,model-office    -> systems: ['dev', 'model-office']
 *   membersFile=members.json    -> membersFile: 'members.json' (for sync/plan/check an empty placeholder is
 *                                  made in the harness's workspace: the script checks the real one when it runs)
 *   planFile=plan.json          -> planFile: 'plan.json' (for sync an empty placeholder is made, like membersFile)
 *   vars.tenant=acme            -> vars: [tenant: 'acme']
 *   secrets.db_password=cred-id -> secrets: [db_password: 'cred-id']
 *   credentialFile.<id>=<path> -> the content of Secret file credential <id> (written 0400 in a 0700
 *                                  folder under <workspace>@tmp/secretFiles/, kept after rendering)
 *   credential.<id>=<value>     -> the value the fake withCredentials hands out for credentials id <id>
 *                                  (default: a distinctive fake value, PipelineHarness.fakeSecret(id))
 *   env.<NAME>=<value>          -> the Jenkins env (e.g. env.CONTAINER_BIN=podman)
 * The step itself accepts 'true'/'false' and numeric strings, so values are passed as strings.
 */
class StepRenderer {

    static Map parse(List<String> params, PipelineHarness h) {
        Map stepArgs = [:]
        for (String p : params) {
            int eq = p.indexOf('=')
            if (eq <= 0) {
                throw new IllegalArgumentException("parameter '${p}' is not key=value")
            }
            String key = p.substring(0, eq)
            String value = p.substring(eq + 1)
            if (key.startsWith('vars.') || key.startsWith('secrets.')) {
                String map = key.substring(0, key.indexOf('.'))
                stepArgs.get(map, [:])[key.substring(map.length() + 1)] = value
            } else if (key.startsWith('credentialFile.')) {
                h.credentialFiles[key.substring('credentialFile.'.length())] = new File(value).text
            } else if (key.startsWith('credential.')) {
                h.credentials[key.substring('credential.'.length())] = value
            } else if (key.startsWith('env.')) {
                h.env[key.substring('env.'.length())] = value
            } else if (key == 'systems') {
                stepArgs.systems = value.split(',') as List
            } else {
                stepArgs[key] = value
            }
        }
        return stepArgs
    }

    /** Returns [script: String, env: Map<String,String>, result: step result]. */
    static Map render(List<String> params) {
        PipelineHarness h = new PipelineHarness()
        // The rendered script runs later, outside the harness: keep the secret files it names.
        h.keepSecretFiles = true
        Map stepArgs = parse(params, h)
        if (stepArgs.membersFile && stepArgs.command != 'export') {
            h.writeWorkspaceFile(stepArgs.membersFile.toString(), '')
        }
        if (stepArgs.planFile && stepArgs.command in [null, 'sync']) {
            h.writeWorkspaceFile(stepArgs.planFile.toString(), '')
        }
        h.shHandler = { Map args, Map stepEnv -> 0 }
        Object result = h.load('vars/slackImSync.groovy').call(stepArgs)
        Map run = h.calls('sh').find { it.args.returnStatus && it.args.script.contains('set -- create') }
        assert run: "the step made no container run:\n${h.printCallStack()}"
        return [script: run.args.script, env: run.env, result: result]
    }

    static String shellQuote(String s) {
        return "'" + s.replace("'", "'\\''") + "'"
    }

    /** Writes outdir/step.sh and outdir/step.env (shell-sourceable NAME='value' lines). */
    static void write(File outdir, Map rendered) {
        outdir.mkdirs()
        new File(outdir, 'step.sh').text = rendered.script
        StringBuilder env = new StringBuilder()
        env << '# Environment the slackImSync step gives its sh step (withEnv + withCredentials).\n'
        env << '# Use: set -a; . ./step.env; set +a; cd <workspace>; sh -xe step.sh   (Jenkins runs sh -xe)\n'
        rendered.env.each { k, v -> env << "${k}=${shellQuote(v.toString())}\n" }
        new File(outdir, 'step.env').text = env.toString()
    }
}
