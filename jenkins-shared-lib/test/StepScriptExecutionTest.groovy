/**
 * Executes the shell script slackImSync hands to `sh`, for real, with /bin/sh (dash on Debian), the
 * environment the step sets, and a fake container engine on PATH that records its argv and the values
 * of the variables it was told to forward with `-e NAME`.
 */
class StepScriptExecutionTest {

    /*
     * Fake docker/podman, acting like a daemon that may be remote: it refuses bind mounts (-v, --mount),
     * as agent paths would not exist on a remote daemon's host. `create` records its argv (one per line)
     * and the values of the variables named with -e; `cp SRC NAME:/` copies SRC into $log.root (the
     * container's file system), recording the CA bundle's mode; `start` acts like the slack-im image
     * (writes $log.root/reports); `cp NAME:/reports/. DEST` copies the reports out; `rm` is recorded.
     */
    static final String FAKE_ENGINE = '''#!/bin/sh
log="$FAKE_ENGINE_LOG"
root="$log.root"
cmd="$1"; shift
printf '%s\\n' "$cmd $*" >> "$log.calls"
case "$cmd" in
  create)
    : > "$log.args"; : > "$log.env"
    printf '%s\\n' create >> "$log.args"
    prev=""
    for a in "$@"; do
      printf '%s\\n' "$a" >> "$log.args"
      case "$a" in -v|--volume|--mount|--volume=*|--mount=*) echo "fake engine: no bind mounts on a remote daemon" >&2; exit 125 ;; esac
      if [ "$prev" = "-e" ]; then
        if printenv "$a" >/dev/null; then printf '%s=%s\\n' "$a" "$(printenv "$a")" >> "$log.env"; else printf '%s UNSET\\n' "$a" >> "$log.env"; fi
      fi
      prev="$a"
    done
    mkdir -p "$root"
    exit 0 ;;
  cp)
    case "$1" in
      *:/reports/.) cp -R "$root/reports/." "$2" ;;
      *:/members/members.json) cp "$root/members/members.json" "$2" ;;
      *:/plan/plan.json) cp "$root/plan/plan.json" "$2" ;;
      *)
        if [ -f "$1/etc/slack-im/ca.pem" ]; then stat -c %a "$1/etc/slack-im/ca.pem" > "$log.camode"; fi
        cp -R "$1" "$root/" ;;
    esac
    exit $? ;;
  start)
    touch "$root/reports/probe" || exit 99
    if [ -n "${FAKE_SUMMARY:-}" ]; then cp "$FAKE_SUMMARY" "$root/reports/summary.json"; fi
    # slack-im export FILE: the members file, 0600, in the container's /members
    if grep -qx export "$log.args" && [ "${FAKE_EXIT:-0}" = 0 ]; then
      (umask 077; echo '{"members": []}' > "$root/members/members.json") || exit 98
    fi
    # slack-im plan --out /plan/plan.json: the saved plan, 0600, in the container's /plan
    if grep -qx -- --out "$log.args" && [ "${FAKE_EXIT:-0}" = 0 ]; then
      (umask 077; echo '{"format": "slack-im-plan/1"}' > "$root/plan/plan.json") || exit 97
    fi
    exit "${FAKE_EXIT:-0}" ;;
  rm)
    exit 0 ;;
esac
echo "fake engine: unexpected command $cmd" >&2
exit 126
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
    /** The parameters every execute() starts from. */
    List<String> base = ['system=dev', 'targetUrl=http://127.0.0.1:8080', 'image=slack-im:test']

    Map execute(List<String> params, Map<String, String> extraEnv = [:], List<String> shell = ['sh', '-xe']) {
        Map rendered = StepRenderer.render(base + params)
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
        // waits for the output too (consumeProcessOutput + waitFor could miss the last lines on a busy machine)
        p.waitForProcessOutput(stdout, stderr)
        int rc = p.exitValue()
        File argsFile = new File("${log.path}.args")
        File envFile = new File("${log.path}.env")
        File callsFile = new File("${log.path}.calls")
        File caModeFile = new File("${log.path}.camode")
        return [rc: rc, stdout: stdout.toString(), stderr: stderr.toString(), rendered: rendered,
                argv: argsFile.exists() ? argsFile.readLines() : [],
                forwarded: envFile.exists() ? envFile.readLines() : [],
                calls: callsFile.exists() ? callsFile.readLines() : [],
                caMode: caModeFile.exists() ? caModeFile.text.trim() : null,
                root: new File("${log.path}.root")]
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

    void testRunsUnderPosixShAndPassesVariablesByNameAndSecretsAsFiles() {
        String tricky = 'it\'s "quoted"; $(touch pwned) `touch pwned2` \\ $HOME'
        Map r = execute(['vars.tenant=' + tricky, 'secrets.db_password=db-cred', 'credential.slack-im-slack-bot-token=xoxb-e2e-test-token'])
        assert r.rc == 0: r.stderr
        List<String> argv = r.argv
        assert argv[0] == 'create'
        assert argv[-2..-1] == ['slack-im:test', 'sync']
        List<String> names = valuesAfter(argv, '-e')
        assert names.containsAll(['SLACK_BOT_TOKEN_FILE', 'SLACK_IM_SECRET_TARGET_TOKEN_FILE', 'SLACK_IM_SECRET_DB_PASSWORD_FILE',
                                  'SLACK_IM_SYSTEM', 'SLACK_IM_TARGET_URL__DEV', 'SLACK_IM_REPORT_DIR', 'SLACK_IM_VAR_TENANT'])
        assert names.every { it ==~ /[A-Z][A-Z0-9_]*/ }
        // values reach the engine through the environment, byte for byte; secrets as files
        assert new File(r.root, 'etc/slack-im/secrets/SLACK_BOT_TOKEN').text == 'xoxb-e2e-test-token'
        assert new File(r.root, 'etc/slack-im/secrets/SLACK_IM_SECRET_DB_PASSWORD').text == PipelineHarness.fakeSecret('db-cred')
        assert r.forwarded.contains('SLACK_IM_VAR_TENANT=' + tricky)
        assert r.forwarded.contains('SLACK_IM_REPORT_DIR=/reports')
        assert !r.forwarded.any { it.endsWith(' UNSET') }
        assert !new File(ws, 'pwned').exists() && !new File(ws, 'pwned2').exists()
        // ... and never through argv or the -x trace
        for (String secret : ['xoxb-e2e-test-token', PipelineHarness.fakeSecret('db-cred'), PipelineHarness.fakeSecret('slack-im-dev-target-token')]) {
            assert !argv.any { it.contains(secret) }
            assert !r.stdout.contains(secret) && !r.stderr.contains(secret)
        }
        // created, inputs copied in, started, reports copied out, removed: nothing bind-mounted
        String name = valuesAfter(argv, '--name')[0]
        assert r.calls.collect { it.split(' ')[0] } == ['create', 'cp', 'start', 'cp', 'rm']
        assert r.calls[1] ==~ /cp \/.*\/in\/\. ${java.util.regex.Pattern.quote(name)}:\//
        assert r.calls[2] == "start --attach ${name}".toString()
        assert r.calls[3] == "cp ${name}:/reports/. ${ws.canonicalPath}/slack-im-reports/dev".toString()
        assert r.calls[4] == "rm -f ${name}".toString()
        assert new File(ws, 'slack-im-reports/dev/probe').exists()
        assert !argv.contains('-v') && !argv.contains('--user') && !argv.contains('--userns')
        assert argv.containsAll(['--cap-drop', 'ALL', '--security-opt', 'no-new-privileges'])
        assert !argv.contains('--network')
        assert valuesAfter(argv, '--name')[0] ==~ /slack-im-dev-jenkins-slack-im-sync-42-[0-9a-f]{8}-[0-9a-f]{3}/
    }

    void testExitCodeIsPropagatedAndTheContainerRemoved() {
        Map r = execute([], [FAKE_EXIT: '3'])
        assert r.rc == 3
        assert r.stdout.contains('slack-im: exit code 3')
        assert r.calls[-1].startsWith('rm -f slack-im-dev-')
    }

    // Item 6 of issue 13: a remote or sidecar daemon (the fake refuses bind mounts, as agent paths do
    // not exist there) still gets its inputs and gives back the reports.
    void testWorksWithADaemonThatCannotSeeTheAgentsFiles() {
        File fixture = new File(PipelineHarness.libraryRoot(), 'test/fixtures/summary-ok.json')
        new File(ws, 'deploy/templates/dev').mkdirs()
        new File(ws, 'deploy/templates/dev/system.json').text = '{}'
        Map r = execute(['templatesDir=deploy/templates', 'caBundle=/etc/ssl/certs/ca-certificates.crt'],
                        [FAKE_SUMMARY: fixture.path])
        assert r.rc == 0: r.stderr
        assert new File(ws, 'slack-im-reports/dev/summary.json').text == fixture.text
        assert new File(r.root, 'workspace-templates/dev/system.json').text == '{}'
        assert r.forwarded.contains('SLACK_IM_TEMPLATES=/workspace-templates')
        assert new File(r.root, 'etc/slack-im/ca.pem').text == new File('/etc/ssl/certs/ca-certificates.crt').text
    }

    void testCreateFailureIs125AndRemovesTheContainer() {
        File engine = new File(bin, 'docker')
        engine.text = engine.text.replace('    mkdir -p "$root"\n    exit 0 ;;', '    exit 1 ;;')
        Map r = execute([])
        assert r.rc == 125
        assert r.stderr.contains('docker create failed')
        assert r.calls.collect { it.split(' ')[0] } == ['create', 'rm']
    }

    // Item 4 of issue 13: a Secret file credential is 0400 in a 0700 folder; the container's user
    // (65532) must still read the CA bundle.
    void testCaCredentialFileIsMadeReadableForTheContainersUser() {
        Map r = execute(['caCredentialsId=corp-ca'])
        assert r.rc == 0: r.stderr
        String path = r.rendered.env.SLACK_IM_JENKINS_CA_FILE
        assert ['stat', '-c', '%a', path].execute().text.trim() == '400'
        assert ['stat', '-c', '%a', new File(path).parent].execute().text.trim() == '700'
        assert r.caMode == '444'
        assert new File(r.root, 'etc/slack-im/ca.pem').text.contains('fake corp-ca')
        assert r.forwarded.contains('SSL_CERT_FILE=/etc/slack-im/ca.pem')
    }

    void testSlacksCaBundleGoesInBesideTheTargetsOne() {
        new File(ws, 'certs').mkdirs()
        new File(ws, 'certs/proxy.pem').text = 'proxy ca'
        Map r = execute(['caCredentialsId=corp-ca', 'slackCaBundle=certs/proxy.pem'])
        assert r.rc == 0: r.stderr
        assert new File(r.root, 'etc/slack-im/ca.pem').text.contains('fake corp-ca')
        assert new File(r.root, 'etc/slack-im/slack-ca.pem').text == 'proxy ca'
        assert r.forwarded.contains('SSL_CERT_FILE=/etc/slack-im/ca.pem')
        assert r.forwarded.contains('SLACK_IM_SLACK_CA_FILE=/etc/slack-im/slack-ca.pem')
    }

    // Item 13 of issue 13: a relative caBundle is a file in the workspace (it used to become a named volume).
    void testRelativeCaBundleIsAWorkspaceFile() {
        new File(ws, 'certs').mkdirs()
        new File(ws, 'certs/corp.pem').text = 'corp ca'
        Map r = execute(['caBundle=certs/corp.pem'])
        assert r.rc == 0: r.stderr
        assert new File(r.root, 'etc/slack-im/ca.pem').text == 'corp ca'
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
        assert valuesAfter(r.argv, '-v').isEmpty()
        assert r.forwarded.contains('SSL_CERT_FILE=/etc/slack-im/ca.pem')
        assert r.argv[-2..-1] == ['registry.example.com/slack-im:1.2.3', 'plan']
    }

    void testNeverMapsTheUserNorMountsAnything() {
        File id = new File(bin, 'id')
        id.text = FAKE_ID
        id.setExecutable(true)
        for (String engine : ['podman', 'docker']) {
            Map r = execute(["engine=${engine}".toString()])
            assert r.rc == 0: r.stderr
            assert !r.argv.contains('--userns') && !r.argv.contains('--user') && !r.argv.contains('-v')
        }
    }

    void testMissingEngineExits127() {
        new File(bin, 'docker').delete()
        Map rendered = StepRenderer.render(['system=dev', 'targetUrl=http://127.0.0.1:8080', 'image=slack-im:test'])
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

    // Issue 11: export writes the members file in the container; it comes out 0600, nothing else does.
    void testExportCopiesTheMembersFileOutPrivate() {
        base = ['command=export', 'membersFile=zone/members.json', 'image=slack-im:test']
        Map r = execute([])
        assert r.rc == 0: r.stderr
        assert r.argv[-3..-1] == ['slack-im:test', 'export', '/members/members.json']
        File members = new File(ws, 'zone/members.json')
        assert members.text.contains('"members"')
        assert ['stat', '-c', '%a', members.path].execute().text.trim() == '600'
        assert valuesAfter(r.argv, '-e').sort() == ['SLACK_BOT_TOKEN_FILE', 'SLACK_IM_MEMBERS_KEY_FILE', 'SLACK_IM_REPORT_DIR', 'SLACK_IM_RUN_ID']
        String name = valuesAfter(r.argv, '--name')[0]
        assert r.calls.collect { it.split(' ')[0] } == ['create', 'cp', 'start', 'cp', 'cp', 'rm']
        assert r.calls[4] == "cp ${name}:/members/members.json ${ws.canonicalPath}/zone/members.json".toString()
    }

    // Issue 22: plan saves the plan in the container and it comes out 0600 to planFile; a failed plan
    // leaves no older plan file behind.
    void testPlanCopiesThePlanFileOutPrivate() {
        new File(ws, 'plans').mkdirs()
        new File(ws, 'plans/dev-plan.json').text = 'an older plan'
        Map r = execute(['command=plan', 'planFile=plans/dev-plan.json'])
        assert r.rc == 0: r.stderr
        assert r.argv[-4..-1] == ['slack-im:test', 'plan', '--out', '/plan/plan.json']
        File plan = new File(ws, 'plans/dev-plan.json')
        assert plan.text.contains('slack-im-plan/1')
        assert ['stat', '-c', '%a', plan.path].execute().text.trim() == '600'
        String name = valuesAfter(r.argv, '--name')[0]
        assert r.calls.contains("cp ${name}:/plan/plan.json ${ws.canonicalPath}/plans/dev-plan.json".toString())
        Map failed = execute(['command=plan', 'planFile=plans/dev-plan.json'], [FAKE_EXIT: '1'])
        assert failed.rc == 1
        assert !plan.exists(): 'no older plan stays in place of a failed one'
    }

    // Issue 22: sync with planFile applies exactly the workspace plan, copied in read-only.
    void testSyncAppliesThePlanFileCopiedIn() {
        new File(ws, 'dev-plan.json').text = '{"format": "slack-im-plan/1", "reviewed": true}'
        Map r = execute(['planFile=dev-plan.json'])
        assert r.rc == 0: r.stderr
        assert r.argv[-4..-1] == ['slack-im:test', 'sync', '--plan', '/plan/plan.json']
        File inContainer = new File(r.root, 'plan/plan.json')
        assert inContainer.text.contains('"reviewed": true')
        assert ['stat', '-c', '%a', inContainer.path].execute().text.trim() == '444'
        new File(ws, 'dev-plan.json').delete()
        Map missing = execute(['planFile=dev-plan.json'])
        assert missing.rc == 125
        assert missing.stderr.contains('planFile dev-plan.json is not a file in the workspace')
    }

    // Issue 20: the members key is written into the container as a file only the run reads; no
    // forwarded variable, argument or line of output holds it, and the agent keeps no copy.
    void testTheMembersKeyGoesInAsAFileNeverAsAValue() {
        String key = 'mk-7Rt2Yp9Wq4Zx1Lc6Vb3Nm8Ks5Hd0Jf2Ga'
        new File(ws, 'members.json').text = '{"members": []}'
        for (List<String> params : [['membersFile=members.json'],
                                    ['command=export', 'membersFile=members.json', 'membersKeyCredentialsId=zone-key']]) {
            String id = params.contains('membersKeyCredentialsId=zone-key') ? 'zone-key' : 'slack-im-members-key'
            if (params.contains('command=export')) {
                base = ['image=slack-im:test']
            }
            Map r = execute(params + ["credential.${id}=${key}".toString()])
            assert r.rc == 0: r.stderr
            File inContainer = new File(r.root, 'etc/slack-im/members.key')
            assert inContainer.text == key
            assert ['stat', '-c', '%a', inContainer.path].execute().text.trim() == '444'
            assert r.forwarded.contains('SLACK_IM_MEMBERS_KEY_FILE=/etc/slack-im/members.key')
            for (String text : r.forwarded + r.argv + [r.stdout, r.stderr]) {
                assert !text.contains(key): "the key in ${text}"
            }
            assert !ws.listFiles().any { it.name.contains('key') }
            new File("${log.path}.root").deleteDir()
        }
    }

    /*
     * Issue 20: every secret (the Slack bot token, each system's target token, every SLACK_IM_SECRET_*)
     * reaches the container as a file read through its *_FILE variable. The container's environment
     * (what `docker inspect` shows; here: the values of the variables named with -e) holds only their
     * paths, no argument holds a value, no -e is NAME=value, and the agent keeps no copy.
     */
    void testEverySecretGoesInAsAFileNeverAsEnvironment() {
        Map<String, String> values = [
            'slack-im-slack-bot-token'          : 'xoxb-5Jq8Wm2Rt7Kp4Zv9Lc3Nx6Hd',
            'slack-im-dev-target-token'         : 'tgt-Qw7Er4Ty1Ui8Op5As2Df9Gh6',
            'slack-im-model-office-target-token': 'tgt-Mo3Lk8Jh5Gf2Ds9Ap6Qw1Ez4',
            'db-cred'                           : 'db-Zx3Cv6Bn9Mq2Wk5Ej8Rl1Tp4',
        ]
        List<String> credentials = values.collect { k, v -> "credential.${k}=${v}".toString() }
        Map<String, List<String>> cases = [
            single: [['system=dev', 'targetUrl=http://127.0.0.1:8080'], [
                'SLACK_BOT_TOKEN_FILE', 'SLACK_BOT_TOKEN', 'slack-im-slack-bot-token',
                'SLACK_IM_SECRET_TARGET_TOKEN_FILE', 'SLACK_IM_SECRET_TARGET_TOKEN', 'slack-im-dev-target-token',
                'SLACK_IM_SECRET_DB_PASSWORD_FILE', 'SLACK_IM_SECRET_DB_PASSWORD', 'db-cred']],
            // the binary reads SLACK_IM_SECRET_<NAME>_FILE__<SYSTEM> (the overlay strips the suffix first)
            several: [['systems=dev,model-office', 'env.SLACK_IM_TARGET_URL__DEV=http://127.0.0.1:8080',
                       'env.SLACK_IM_TARGET_URL__MODEL_OFFICE=http://127.0.0.1:8081'], [
                'SLACK_BOT_TOKEN_FILE', 'SLACK_BOT_TOKEN', 'slack-im-slack-bot-token',
                'SLACK_IM_SECRET_TARGET_TOKEN_FILE__DEV', 'SLACK_IM_SECRET_TARGET_TOKEN__DEV', 'slack-im-dev-target-token',
                'SLACK_IM_SECRET_TARGET_TOKEN_FILE__MODEL_OFFICE', 'SLACK_IM_SECRET_TARGET_TOKEN__MODEL_OFFICE',
                'slack-im-model-office-target-token',
                'SLACK_IM_SECRET_DB_PASSWORD_FILE', 'SLACK_IM_SECRET_DB_PASSWORD', 'db-cred']],
        ]
        for (Map.Entry c : cases.entrySet()) {
            File agentTmp = new File(tmp, "agent-tmp-${c.key}")
            agentTmp.mkdirs()
            base = ['image=slack-im:test'] + c.value[0]
            Map r = execute(['secrets.db_password=db-cred'] + credentials, [TMPDIR: agentTmp.path])
            assert r.rc == 0: "${c.key}: ${r.stderr}"
            List<String> expected = c.value[1]
            for (int i = 0; i < expected.size(); i += 3) {
                String fileVar = expected[i]
                String path = "/etc/slack-im/secrets/${expected[i + 1]}"
                assert r.forwarded.contains("${fileVar}=${path}".toString()): "${c.key}: ${fileVar} in ${r.forwarded}"
                File inContainer = new File(r.root, path)
                assert inContainer.text == values[expected[i + 2]]: "${c.key}: ${path}"
                assert ['stat', '-c', '%a', inContainer.path].execute().text.trim() == '444'
            }
            List<String> names = valuesAfter(r.argv, '-e')
            assert names.every { it ==~ /[A-Z][A-Z0-9_]*/ }: "${c.key}: -e NAME=value in ${r.argv}"
            assert !names.any { it == 'SLACK_BOT_TOKEN' || (it.startsWith('SLACK_IM_SECRET_') && !it.contains('_FILE')) }:
                "${c.key}: a secret forwarded as environment: ${names}"
            for (String secret : values.values()) {
                for (String text : r.forwarded + r.argv + [r.stdout, r.stderr]) {
                    assert !text.contains(secret): "${c.key}: a secret value in ${text}"
                }
            }
            assert agentTmp.list().length == 0: "${c.key}: the agent kept ${agentTmp.list()}"
            new File("${log.path}.root").deleteDir()
        }
    }

    void testAFailedExportLeavesNoOlderMembersFile() {
        new File(ws, 'members.json').text = '{"stale": true}'
        base = ['command=export', 'membersFile=members.json', 'image=slack-im:test']
        Map r = execute([], [FAKE_EXIT: '1'])
        assert r.rc == 1
        assert !new File(ws, 'members.json').exists(): "a stale file must not be stashed as this run's export"
    }

    void testMembersFileIsCopiedInAndReadInsteadOfSlack() {
        new File(ws, 'members.json').text = '{"members": ["zone"]}'
        Map r = execute(['membersFile=members.json', 'membersMaxAge=90m'])
        assert r.rc == 0: r.stderr
        assert new File(r.root, 'members/members.json').text == '{"members": ["zone"]}'
        assert r.forwarded.contains('SLACK_IM_MEMBERS_FILE=/members/members.json')
        assert r.forwarded.contains('SLACK_IM_MEMBERS_MAX_AGE=90m')
        assert !valuesAfter(r.argv, '-e').any { it.startsWith('SLACK_BOT_TOKEN') }
        assert r.argv[-2..-1] == ['slack-im:test', 'sync']
        assert new File(ws, 'members.json').text == '{"members": ["zone"]}': 'a sync leaves the file alone'
    }

    void testSymlinkedOrMissingMembersFileIsRefused() {
        File outside = File.createTempDir('slack-im-outside', '')
        new File(outside, 'members.json').text = 'elsewhere'
        java.nio.file.Files.createSymbolicLink(new File(ws, 'zone').toPath(), outside.toPath())
        Map r = execute(['membersFile=zone/members.json'])
        assert r.rc == 125
        assert r.stderr.contains('is a symbolic link')
        assert r.argv.isEmpty()
        r = execute(['membersFile=gone.json'])
        assert r.rc == 125 && r.stderr.contains('membersFile gone.json is not a file in the workspace')
    }

    void testSystemsRunOneContainerWithSuffixedNames() {
        base = ['systems=dev,model-office', 'image=slack-im:test', 'env.SLACK_IM_TARGET_URL__MODEL_OFFICE=http://127.0.0.1:8081']
        Map r = execute([])
        assert r.rc == 0: r.stderr
        assert r.calls.count { it.startsWith('create ') } == 1
        List<String> names = valuesAfter(r.argv, '-e')
        assert names.containsAll(['SLACK_IM_SECRET_TARGET_TOKEN_FILE__DEV', 'SLACK_IM_SECRET_TARGET_TOKEN_FILE__MODEL_OFFICE',
                                  'SLACK_IM_TARGET_URL__MODEL_OFFICE', 'SLACK_BOT_TOKEN_FILE'])
        assert r.forwarded.contains('SLACK_IM_SYSTEM=dev,model-office')
        assert r.forwarded.contains('SLACK_IM_TARGET_URL__MODEL_OFFICE=http://127.0.0.1:8081')
        assert new File(r.root, 'etc/slack-im/secrets/SLACK_IM_SECRET_TARGET_TOKEN__MODEL_OFFICE').text ==
            PipelineHarness.fakeSecret('slack-im-model-office-target-token')
        assert !r.argv.any { it.contains(PipelineHarness.fakeSecret('slack-im-dev-target-token')) }
        assert r.calls.find { it.startsWith('cp ') && it.contains(':/reports/.') }.endsWith("${ws.canonicalPath}/slack-im-reports")
    }

    void testCleanupScriptRemovesTheNamedContainer() {
        PipelineHarness h = new PipelineHarness()
        h.shHandler = { Map a, Map e -> if (a.script.contains('set -- create')) { throw new InterruptedException('aborted') }; 0 }
        try {
            h.load('vars/slackImSync.groovy').call(system: 'dev', targetUrl: 'http://x.example', image: 'slack-im:test')
            assert false: 'expected the interruption to propagate'
        } catch (InterruptedException expected) {
            Map cleanup = h.calls('sh').find { it.args.label == 'slack-im: remove the container' }
            ProcessBuilder pb = new ProcessBuilder(['sh', '-xe', '-c', cleanup.args.script]).directory(ws)
            pb.environment().putAll(cleanup.env)
            pb.environment().PATH = "${bin.path}:/usr/bin:/bin".toString()
            pb.environment().FAKE_ENGINE_LOG = log.path
            assert pb.start().waitFor() == 0
            assert new File("${log.path}.calls").readLines() == ["rm -f ${cleanup.env.SLACK_IM_JENKINS_CONTAINER_NAME}".toString()]
            assert cleanup.args.script == new File(PipelineHarness.libraryRoot(), 'resources/slack-im/remove-container.sh').text
        }
    }
}
