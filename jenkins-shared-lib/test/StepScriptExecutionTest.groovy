/**
 * Executes the shell script slackImSync hands to `sh`, for real, with /bin/sh (dash on Debian), the
 * environment the step sets, and a fake container engine on PATH that records its argv and the values
 * of the variables it was told to forward with `-e NAME`.
 */
class StepScriptExecutionTest {

    static final String FAKE_ENGINE = '''#!/bin/sh
# Fake docker/podman: records argv (one per line) and the forwarded env, acts like the slack-im image.
log="$FAKE_ENGINE_LOG"
: > "$log.args"; : > "$log.env"
prev=""; reports=""
for a in "$@"; do
  printf '%s\\n' "$a" >> "$log.args"
  if [ "$prev" = "-e" ]; then
    if printenv "$a" >/dev/null; then printf '%s=%s\\n' "$a" "$(printenv "$a")" >> "$log.env"; else printf '%s UNSET\\n' "$a" >> "$log.env"; fi
  fi
  if [ "$prev" = "-v" ]; then
    case "$a" in *:/reports) reports="${a%:/reports}" ;; esac
  fi
  prev="$a"
done
[ "$1" = rm ] && exit 0
if [ -n "$reports" ]; then
  touch "$reports/probe" || exit 99
  if [ -n "${FAKE_SUMMARY:-}" ]; then cp "$FAKE_SUMMARY" "$reports/summary.json"; fi
fi
exit "${FAKE_EXIT:-0}"
'''

    static final String FAKE_ID = '''#!/bin/sh
case "$1" in -u) echo 1000 ;; -g) echo 1001 ;; *) exec /usr/bin/id "$@" ;; esac
'''

    File tmp = File.createTempDir('slack-im-sh', '')
    File ws = new File(tmp, 'workspace')
    File bin = new File(tmp, 'bin')
    File out = new File(tmp, 'out')
    File log = new File(tmp, 'engine')

    StepScriptExecutionTest() {
        ws.mkdirs()
        bin.mkdirs()
        for (String name : ['docker', 'podman']) {
            File f = new File(bin, name)
            f.text = FAKE_ENGINE
            f.setExecutable(true)
        }
    }

    /** Renders step.sh/step.env, then runs them as the end-to-end test will: source env, sh -xe step.sh. */
    Map execute(List<String> params, Map<String, String> extraEnv = [:], List<String> shell = ['sh', '-xe']) {
        Map rendered = StepRenderer.render(['system=dev', 'targetUrl=http://127.0.0.1:8080'] + params)
        StepRenderer.write(out, rendered)
        List<String> cmd = ['sh', '-c', 'set -a; . "$1"; set +a; shift; exec "$@"', 'sh',
                            new File(out, 'step.env').path] + shell + [new File(out, 'step.sh').path]
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(ws)
        Map<String, String> env = pb.environment()
        env.keySet().removeAll(env.keySet().findAll { it.startsWith('SLACK') })
        env.PATH = "${bin.path}:/usr/bin:/bin".toString()
        env.FAKE_ENGINE_LOG = log.path
        env.putAll(extraEnv)
        Process p = pb.start()
        StringBuffer stdout = new StringBuffer()
        StringBuffer stderr = new StringBuffer()
        p.consumeProcessOutput(stdout, stderr)
        int rc = p.waitFor()
        Thread.sleep(50)
        File argsFile = new File("${log.path}.args")
        File envFile = new File("${log.path}.env")
        return [rc: rc, stdout: stdout.toString(), stderr: stderr.toString(), rendered: rendered,
                argv: argsFile.exists() ? argsFile.readLines() : [],
                forwarded: envFile.exists() ? envFile.readLines() : []]
    }

    static List<String> valuesAfter(List<String> argv, String flag) {
        List<String> out = []
        for (int i = 0; i < argv.size() - 1; i++) {
            if (argv[i] == flag) {
                out << argv[i + 1]
            }
        }
        return out
    }

    void testRunsUnderPosixShAndPassesSecretsByNameOnly() {
        String tricky = 'it\'s "quoted"; $(touch pwned) `touch pwned2` \\ $HOME'
        Map r = execute(['vars.tenant=' + tricky, 'secrets.db_password=db-cred', 'credential.slack-im-slack-bot-token=xoxb-e2e-test-token'])
        assert r.rc == 0: r.stderr
        List<String> argv = r.argv
        assert argv[0..1] == ['run', '--rm']
        assert argv[-2..-1] == ['slack-im:latest', 'sync']
        List<String> names = valuesAfter(argv, '-e')
        assert names.containsAll(['SLACK_BOT_TOKEN', 'SLACK_IM_SECRET_TARGET_TOKEN', 'SLACK_IM_SECRET_DB_PASSWORD',
                                  'SLACK_IM_SYSTEM', 'SLACK_IM_TARGET_URL', 'SLACK_IM_REPORT_DIR', 'SLACK_IM_VAR_TENANT'])
        assert names.every { it ==~ /[A-Z][A-Z0-9_]*/ }
        // values reach the engine through the environment, byte for byte
        assert r.forwarded.contains('SLACK_BOT_TOKEN=xoxb-e2e-test-token')
        assert r.forwarded.contains('SLACK_IM_SECRET_DB_PASSWORD=' + PipelineHarness.fakeSecret('db-cred'))
        assert r.forwarded.contains('SLACK_IM_VAR_TENANT=' + tricky)
        assert r.forwarded.contains('SLACK_IM_REPORT_DIR=/reports')
        assert !r.forwarded.any { it.endsWith(' UNSET') }
        assert !new File(ws, 'pwned').exists() && !new File(ws, 'pwned2').exists()
        // ... and never through argv or the -x trace
        for (String secret : ['xoxb-e2e-test-token', PipelineHarness.fakeSecret('db-cred'), PipelineHarness.fakeSecret('slack-im-dev-target-token')]) {
            assert !argv.any { it.contains(secret) }
            assert !r.stdout.contains(secret) && !r.stderr.contains(secret)
        }
        assert valuesAfter(argv, '-v') == ["${ws.canonicalPath}/slack-im-reports/dev:/reports".toString()]
        assert new File(ws, 'slack-im-reports/dev/probe').exists()
        String uid = 'id -u'.execute().text.trim()
        if (uid == '0') {
            // root agent: the image's own non-root user, and a report folder it can write
            assert !argv.contains('--user')
            assert new File(ws, 'slack-im-reports/dev').canWrite()
            assert 'stat -c %a slack-im-reports/dev'.execute(null, ws).text.trim() == '777'
        } else {
            assert valuesAfter(argv, '--user') == ["${uid}:${'id -g'.execute().text.trim()}".toString()]
        }
        assert argv.containsAll(['--cap-drop', 'ALL', '--security-opt', 'no-new-privileges'])
        assert !argv.contains('--network')
        assert valuesAfter(argv, '--name')[0] ==~ /slack-im-dev-jenkins-slack-im-sync-42-[0-9a-f]{8}/
    }

    void testExitCodeIsPropagatedAndStaleReportsAreRemoved() {
        File stale = new File(ws, 'slack-im-reports/dev/summary.json')
        stale.parentFile.mkdirs()
        stale.text = '{"stale": true}'
        new File(ws, 'slack-im-reports/dev/junit.xml').text = '<stale/>'
        Map r = execute([], [FAKE_EXIT: '3'])
        assert r.rc == 3
        assert !stale.exists()
        assert !new File(ws, 'slack-im-reports/dev/junit.xml').exists()
        assert r.stdout.contains('slack-im: exit code 3')
    }

    void testRunScriptRefusesASymlinkedReportFolder() {
        File outside = File.createTempDir('slack-im-outside', '')
        java.nio.file.Files.createSymbolicLink(new File(ws, 'slack-im-reports').toPath(), outside.toPath())
        Map r = execute([])
        assert r.rc == 125
        assert r.stderr.contains('is a symbolic link')
        assert r.argv.isEmpty()
        assert outside.list().length == 0
    }

    void testSummaryWrittenByTheContainerLandsInTheReportDir() {
        File fixture = new File(PipelineHarness.libraryRoot(), 'test/fixtures/summary-ok.json')
        Map r = execute(['reportDir=reports/nightly'], [FAKE_SUMMARY: fixture.path])
        assert r.rc == 0
        assert new File(ws, 'reports/nightly/summary.json').text == fixture.text
    }

    void testWorksWithoutJenkinsShFlags() {
        Map r = execute([], [FAKE_EXIT: '4'], ['sh'])
        assert r.rc == 4
        r = execute([], [FAKE_EXIT: '0'], ['bash', '--posix'])
        assert r.rc == 0
    }

    void testOptionalFlags() {
        new File(ws, 'deploy/templates/dev').mkdirs()
        Map r = execute(['network=host', 'pull=always', 'templatesDir=deploy/templates', 'caBundle=/etc/ssl/certs/ca-certificates.crt',
                         'image=registry.example.com/slack-im:1.2.3', 'command=plan'])
        assert r.rc == 0: r.stderr
        assert valuesAfter(r.argv, '--network') == ['host']
        assert valuesAfter(r.argv, '--pull') == ['always']
        assert valuesAfter(r.argv, '-v').containsAll([
            "${ws.canonicalPath}/deploy/templates:/templates:ro".toString(),
            '/etc/ssl/certs/ca-certificates.crt:/etc/slack-im/ca.pem:ro'])
        assert r.forwarded.contains('SSL_CERT_FILE=/etc/slack-im/ca.pem')
        assert r.argv[-2..-1] == ['registry.example.com/slack-im:1.2.3', 'plan']
    }

    void testRootlessPodmanKeepsTheUserId() {
        File id = new File(bin, 'id')
        id.text = FAKE_ID
        id.setExecutable(true)
        Map r = execute(['engine=podman'])
        assert r.rc == 0: r.stderr
        assert valuesAfter(r.argv, '--userns') == ['keep-id']
        assert valuesAfter(r.argv, '--user') == ['1000:1001']
        r = execute(['engine=docker'])
        assert !r.argv.contains('--userns')
    }

    void testMissingEngineExits127() {
        new File(bin, 'docker').delete()
        Map rendered = StepRenderer.render(['system=dev', 'targetUrl=http://127.0.0.1:8080'])
        StepRenderer.write(out, rendered)
        ProcessBuilder pb = new ProcessBuilder(['/bin/sh', '-c', 'set -a; . "$1"; set +a; exec /bin/sh -xe "$2"', 'sh',
                                                new File(out, 'step.env').path, new File(out, 'step.sh').path]).directory(ws)
        pb.environment().PATH = "${bin.path}:/nonexistent".toString()
        pb.redirectErrorStream(true)
        Process p = pb.start()
        String text = p.inputStream.text
        assert p.waitFor() == 127
        assert text.contains("container engine 'docker' not found")
    }

    void testCleanupScriptRemovesTheNamedContainer() {
        PipelineHarness h = new PipelineHarness()
        h.shHandler = { Map a, Map e -> if (a.script.contains('set -- run')) { throw new InterruptedException('aborted') }; 0 }
        try {
            h.load('vars/slackImSync.groovy').call(system: 'dev', targetUrl: 'http://x.example')
            assert false: 'expected the interruption to propagate'
        } catch (InterruptedException expected) {
            Map cleanup = h.calls('sh').find { it.args.label == 'slack-im: remove the container' }
            ProcessBuilder pb = new ProcessBuilder(['sh', '-xe', '-c', cleanup.args.script]).directory(ws)
            pb.environment().putAll(cleanup.env)
            pb.environment().PATH = "${bin.path}:/usr/bin:/bin".toString()
            pb.environment().FAKE_ENGINE_LOG = log.path
            assert pb.start().waitFor() == 0
            assert new File("${log.path}.args").readLines() == ['rm', '-f', cleanup.env.SLACK_IM_JENKINS_CONTAINER_NAME]
            assert cleanup.args.script == '"$SLACK_IM_JENKINS_ENGINE" rm -f "$SLACK_IM_JENKINS_CONTAINER_NAME" >/dev/null 2>&1 || true'
        }
    }
}
