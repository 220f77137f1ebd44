/**
 * Step tests for vars/slackImSync.groovy, run in PipelineHarness (fake pipeline steps, every call recorded).
 * Each public method named test* runs on a fresh instance (see run-tests.groovy).
 */
class SlackImSyncTest {

    static final Map BASE = [system: 'dev', targetUrl: 'https://dev.example.internal/api',
                             image: 'registry.example.com/slack-im/slack-im:1.2.0']

    PipelineHarness h = new PipelineHarness()
    /** What the fake container leaves as junit.xml (with a fixture). */
    String junitXml = '<testsuites/>'

    /** Runs the step; the fake container "exits" with `status` after leaving `fixture` as summary.json. */
    Map run(Map args, Object status = 0, String fixture = null) {
        h.shHandler = { Map shArgs, Map stepEnv ->
            if (shArgs.label == 'slack-im: empty the report folder') {
                return h.runForReal(shArgs, stepEnv)
            }
            if (status instanceof Closure) {
                return status.call(shArgs, stepEnv)
            }
            if (fixture && shArgs.returnStatus) {
                File dir = new File(h.workspace, stepEnv.SLACK_IM_JENKINS_REPORT_DIR)
                dir.mkdirs()
                new File(dir, 'summary.json').text = withRunId(fixtureText(fixture), stepEnv.SLACK_IM_RUN_ID)
                new File(dir, 'junit.xml').text = junitXml
            }
            return status
        }
        Object result = null
        Throwable thrown = null
        try {
            result = h.load('vars/slackImSync.groovy').call(args)
        } catch (Throwable t) {
            thrown = t
        }
        return [result: result, thrown: thrown]
    }

    /** The fixture as the binary writes it when SLACK_IM_RUN_ID is set: run_id first. */
    static String withRunId(String json, String runId) {
        return runId == null ? json : json.replaceFirst(/^\s*\{/, '{"run_id": "' + runId + '",')
    }

    static String fixtureText(String name) {
        return new File(PipelineHarness.libraryRoot(), "test/fixtures/${name}").text
    }

    Map runCall() {
        List<Map> runs = h.calls('sh').findAll { it.args.returnStatus && it.args.script.contains('set -- create') }
        assert runs.size() == 1: h.printCallStack()
        return runs[0]
    }

    String errorMessage(Map out) {
        assert out.thrown instanceof PipelineError: "expected error(), got ${out.thrown}\n${h.printCallStack()}"
        assert h.calls('error').size() == 1
        return h.calls('error')[0].args
    }

    void assertNoContainerRun() {
        assert h.calls('sh').isEmpty() || h.calls('sh')*.args.label == ['slack-im: empty the report folder']
        assert h.calls('withCredentials').isEmpty()
    }

    void assertNoSecretInRecordedStrings() {
        assert !h.secretValuesHandedOut.isEmpty()
        List<String> strings = h.recordedStrings()
        for (String secret : h.secretValuesHandedOut) {
            for (String s : strings) {
                assert !s.contains(secret): "secret value found in a recorded string: ${s}"
            }
        }
    }

    /**
     * Runs the step with a container that acts like the binary rejecting its configuration: exit 2 and
     * the summary.json it then writes (report::write_config_error). Returns the build's error message.
     */
    String binaryRejects(Map args, String error) {
        Map out = run(args, { Map a, Map e ->
            if (a.returnStatus) {
                h.writeWorkspaceFile("${e.SLACK_IM_JENKINS_REPORT_DIR}/summary.json", groovy.json.JsonOutput.toJson([
                    run_id: e.SLACK_IM_RUN_ID, system: e.SLACK_IM_SYSTEM, command: 'sync', exit_code: 2,
                    error: "configuration: ${error}".toString(), counts: [:], actions: [],
                    headline: "${e.SLACK_IM_SYSTEM}: sync failed, exit 2: bad configuration or template".toString(),
                    exit_meaning: 'bad configuration or template',
                    first_failures: ["configuration: ${error}".toString()], withheld_actions: [], not_listed: 0]))
            }
            2
        })
        assert h.currentBuild.result == 'FAILURE'
        return errorMessage(out)
    }

    // ----- parameter validation ------------------------------------------------------------

    void testUnknownParameterIsAnErrorWithSuggestion() {
        Map out = run(BASE + [sytem: 'dev', dryrun: true])
        String msg = errorMessage(out)
        assert msg.contains("unknown parameter 'sytem' (did you mean 'system'?)")
        assert msg.contains("unknown parameter 'dryrun' (did you mean 'dryRun'?)")
        assertNoContainerRun()
        assert h.currentBuild.result == 'FAILURE'
    }

    void testMissingSystemIsAnError() {
        Map out = run([targetUrl: 'https://x.example'])
        assert errorMessage(out).contains("the 'system' parameter is required")
        assertNoContainerRun()
    }

    void testBlankOrUnsafeSystemIsAnError() {
        assert errorMessage(run(BASE + [system: '  '])).contains("'system' parameter is required")
        h = new PipelineHarness()
        assert errorMessage(run(BASE + [system: '../etc'])).contains("system '../etc' is not a valid system name")
    }

    // Issue 22: the Slack post links to the build: Jenkins' BUILD_URL is handed to the container by name,
    // like every variable of the run; notifyOn is SLACK_IM_NOTIFY_ON.
    void testJenkinsBuildUrlReachesTheContainerForTheSlackPostsLink() {
        h.env.BUILD_URL = 'https://jenkins.example/job/slack-im-sync/42/'
        run(BASE + [notifyChannel: 'C0DEVOPS01', notifyOn: 'problems'])
        Map call = runCall()
        List<String> names = call.env.SLACK_IM_JENKINS_ENV_NAMES.split(' ') as List
        assert 'BUILD_URL' in names && 'SLACK_IM_NOTIFY_ON' in names
        assert call.env.BUILD_URL == 'https://jenkins.example/job/slack-im-sync/42/'
        assert call.env.SLACK_IM_NOTIFY_ON == 'problems'
        h = new PipelineHarness()
        run(BASE)
        assert !('BUILD_URL' in (runCall().env.SLACK_IM_JENKINS_ENV_NAMES.split(' ') as List)): 'no BUILD_URL, none passed'
        h = new PipelineHarness()
        assert errorMessage(run(BASE + [variables: [BUILD_URL: 'https://elsewhere.example/']]))
            .contains('variables: BUILD_URL is set by the step')
    }

    // Issue 21: values are the binary's to validate (no second copy in the step); its message fails the build.
    void testBadTargetUrlIsTheBinarysErrorShownByTheBuild() {
        String msg = binaryRejects(BASE + [targetUrl: 'ftp://x'], 'SLACK_IM_TARGET_URL__DEV is invalid: ftp://x is not an http(s) URL')
        assert runCall().env.SLACK_IM_TARGET_URL__DEV == 'ftp://x'
        assert msg == 'slack-im sync (dev) exited with code 2: bad configuration or template. ' +
            'First errors: configuration: SLACK_IM_TARGET_URL__DEV is invalid: ftp://x is not an http(s) URL'
        h = new PipelineHarness()
        h.env.SLACK_IM_TARGET_URL = 'dev.example.internal'
        binaryRejects([system: 'dev', image: 'slack-im:1.0'], 'SLACK_IM_TARGET_URL is invalid')
        assert runCall().env.SLACK_IM_TARGET_URL == 'dev.example.internal'
    }

    // Issue 21: the step accepted these, the binary rejects them; now the binary's message is the build's.
    void testValuesTheBinaryRejectsFailTheBuildWithItsMessage() {
        Map cases = [
            [channel: '#general']      : 'SLACK_IM_CHANNEL is invalid: #general is a channel name, not an id (C…)',
            [concurrency: 100]         : 'SLACK_IM_CONCURRENCY is invalid: 100 is not in 1–64',
            [includeGuests: 'maybe']   : 'SLACK_IM_INCLUDE_GUESTS is invalid: maybe is not true or false',
            [variables: [SLACK_IM_USERGRUOPS: 'qa']]: 'SLACK_IM_USERGRUOPS is not a slack-im variable (did you mean SLACK_IM_USERGROUPS?)',
        ]
        for (Map.Entry c : cases.entrySet()) {
            h = new PipelineHarness()
            String msg = binaryRejects(BASE + c.key, c.value)
            assert msg.contains('exited with code 2: bad configuration or template'): c.key
            assert msg.contains(c.value): c.key
        }
    }

    // Issue 21: without image: or SLACK_IM_IMAGE the library's own image applies (VariablesTest); a bad one is refused.
    void testAnInvalidImageReferenceIsAnError() {
        String msg = errorMessage(run([system: 'dev', image: 'slack-im; rm -rf /']))
        assert msg.contains("image 'slack-im; rm -rf /' is not a valid image reference")
        assertNoContainerRun()
    }

    void testImageDefaultsToSlackImImageAndTheParameterWins() {
        h.env.SLACK_IM_IMAGE = 'registry.example.com/slack-im/slack-im:1.3.0'
        run([system: 'dev'])
        assert runCall().env.SLACK_IM_JENKINS_IMAGE == 'registry.example.com/slack-im/slack-im:1.3.0'
        h = new PipelineHarness()
        h.env.SLACK_IM_IMAGE = 'registry.example.com/slack-im/slack-im:1.3.0'
        run([system: 'dev', image: 'registry.example.com/slack-im/slack-im:1.2.0'])
        assert runCall().env.SLACK_IM_JENKINS_IMAGE == 'registry.example.com/slack-im/slack-im:1.2.0'
    }

    // Issue 11: the README's first example, exactly as written, with a global SLACK_IM_IMAGE.
    void testTheDocumentedCallRunsAsWritten() {
        h.env.SLACK_IM_IMAGE = 'registry.example.com/slack-im/slack-im:1.2.0'
        Map out = run([system: 'dev'], 0, 'summary-ok.json')
        assert out.thrown == null: "${out.thrown}\n${h.printCallStack()}"
        assert out.result.result == 'SUCCESS'
        Map call = runCall()
        assert call.env.SLACK_IM_SYSTEM == 'dev'
        // no URL: the system folder's system.json "url" applies
        assert !call.env.containsKey('SLACK_IM_TARGET_URL')
        assert !call.env.SLACK_IM_JENKINS_ENV_NAMES.split(' ').contains('SLACK_IM_TARGET_URL')
        assert h.calls('withCredentials')[0].args.collect { [it.credentialsId, it.variable] } == [
            ['slack-im-slack-bot-token', 'SLACK_IM_JENKINS_SECRET__SLACK_BOT_TOKEN'],
            ['slack-im-dev-target-token', 'SLACK_IM_JENKINS_SECRET__SLACK_IM_SECRET_TARGET_TOKEN'],
        ]
        assert h.currentBuild.description == 'dev: 3 created, 1 updated, 0 deactivated, 41 unchanged, 2 skipped'
        assertReportsPublished()
    }

    void testTargetUrlFromTheJobOrFolderEnvironment() {
        h.env.SLACK_IM_TARGET_URL = 'https://dev.from-folder.example'
        run([system: 'dev', image: 'slack-im:1.0'])
        assert runCall().env.SLACK_IM_TARGET_URL == 'https://dev.from-folder.example'
        h = new PipelineHarness()
        h.env.SLACK_IM_TARGET_URL = 'https://dev.from-folder.example'
        run(BASE)
        Map env = runCall().env
        assert env.SLACK_IM_TARGET_URL__DEV == 'https://dev.example.internal/api': 'the parameter wins'
        assert !env.containsKey('SLACK_IM_TARGET_URL')
    }

    // Issue 20: the shipped folders key on the e-mail's local part, which slack-im accepts only with
    // the company's domains named; a folder property names them once for every job in it.
    void testEmailDomainsFromTheJobOrFolderEnvironment() {
        h.env.SLACK_IM_EMAIL_DOMAINS = 'example.com'
        run([system: 'dev', image: 'slack-im:1.0'])
        assert runCall().env.SLACK_IM_EMAIL_DOMAINS == 'example.com'
        h = new PipelineHarness()
        h.env.SLACK_IM_EMAIL_DOMAINS = 'example.com'
        h.env.SLACK_IM_EMAIL_DOMAINS__MODEL_OFFICE = 'mo.example.com'
        run([systems: ['dev', 'model-office'], image: 'slack-im:1.0'])
        Map env = runCall().env
        assert env.SLACK_IM_EMAIL_DOMAINS__DEV == 'example.com'
        assert env.SLACK_IM_EMAIL_DOMAINS__MODEL_OFFICE == 'mo.example.com'
        h = new PipelineHarness()
        h.env.SLACK_IM_EMAIL_DOMAINS = 'example.com'
        run([system: 'dev', image: 'slack-im:1.0', emailDomains: 'example.org'])
        assert runCall().env.SLACK_IM_EMAIL_DOMAINS == 'example.org': 'the parameter wins'
    }

    // Issue 20: a folder-level SLACK_IM_TARGET_URL set for one system must not carry another
    // system's token to it; the system's own SLACK_IM_TARGET_URL__<SYSTEM> wins, and reaches the
    // container suffixed (it names its system, so the binary lets it point anywhere).
    void testTheSystemsOwnSuffixedUrlWinsOverTheUnsuffixedOne() {
        h.env.SLACK_IM_TARGET_URL = 'https://dev.from-folder.example'
        h.env.SLACK_IM_TARGET_URL__MODEL_OFFICE = 'https://mo.example'
        run([system: 'model-office', image: 'slack-im:1.0'])
        Map env = runCall().env
        assert env.SLACK_IM_TARGET_URL__MODEL_OFFICE == 'https://mo.example'
        assert !env.containsKey('SLACK_IM_TARGET_URL')
        assert !env.SLACK_IM_JENKINS_ENV_NAMES.split(' ').contains('SLACK_IM_TARGET_URL')
    }

    // Issue 20: targetUrl: is this call's URL for the system of this call, so it reaches the container as
    // SLACK_IM_TARGET_URL__<SYSTEM>; passed unsuffixed, the binary would hold it to the folder's host
    // like a global set for another system. A global SLACK_IM_TARGET_URL then stays out of the container.
    void testTargetUrlParameterReachesTheContainerSuffixedForItsSystem() {
        run([system: 'model-office', image: 'slack-im:1.0', targetUrl: 'https://mo-staging.example'])
        Map env = runCall().env
        assert env.SLACK_IM_TARGET_URL__MODEL_OFFICE == 'https://mo-staging.example'
        assert !env.containsKey('SLACK_IM_TARGET_URL')
        h = new PipelineHarness()
        h.env.SLACK_IM_TARGET_URL = 'https://dev.example.internal'
        run([system: 'model-office', image: 'slack-im:1.0', targetUrl: 'https://mo-staging.example'])
        env = runCall().env
        assert env.SLACK_IM_TARGET_URL__MODEL_OFFICE == 'https://mo-staging.example'
        assert !env.containsKey('SLACK_IM_TARGET_URL'): 'the global is not passed beside the parameter'
        h = new PipelineHarness()
        String msg = errorMessage(run([system: 'dev', image: 'slack-im:1.0', targetUrl: 'https://a.example',
                                       variables: [SLACK_IM_TARGET_URL: 'https://b.example']]))
        assert msg.contains('targetUrl and variables.SLACK_IM_TARGET_URL both give the URL of dev: give one')
        assertNoContainerRun()
        h = new PipelineHarness()
        msg = errorMessage(run([system: 'dev', image: 'slack-im:1.0', targetUrl: 'https://a.example',
                                variables: [SLACK_IM_TARGET_URL__DEV: 'https://b.example']]))
        assert msg.contains('SLACK_IM_TARGET_URL__DEV is given twice')
    }

    // Issue 20: a job's or global SLACK_IM_TARGET_URL set for dev, and a run of model-office alone: it
    // reaches the container unsuffixed, and the binary refuses a host other than the folder's (exit 2)
    // before model-office's token goes anywhere; the build shows the binary's message.
    void testAGlobalUnsuffixedUrlIsPassedUnsuffixedForTheBinarysHostRule() {
        h.env.SLACK_IM_TARGET_URL = 'https://dev.example.internal'
        String msg = binaryRejects([system: 'model-office', image: 'slack-im:1.0'],
            'SLACK_IM_TARGET_URL is invalid: it points at dev.example.internal:443, but model-office\'s folder names ' +
            'model-office.example.internal:443')
        Map env = runCall().env
        assert env.SLACK_IM_TARGET_URL == 'https://dev.example.internal'
        assert !env.containsKey('SLACK_IM_TARGET_URL__MODEL_OFFICE')
        assert msg.contains('exited with code 2: bad configuration or template')
        assert msg.contains("model-office's folder names model-office.example.internal:443")
    }

    // Item 13 of issue 13: a moving tag without pull: 'always' is warned about.
    void testMovingTagWithoutPullAlwaysIsWarnedAbout() {
        run(BASE + [image: 'registry.example.com/slack-im/slack-im:latest'], 0)
        assert h.calls('echo').any { it.args.contains("has a moving tag; without pull: 'always'") }
        for (Map ok : [[image: 'registry.example.com:5000/slack-im/slack-im:latest', pull: 'always'],
                       [image: 'registry.example.com:5000/slack-im/slack-im:1.2.0'],
                       [image: 'slack-im@sha256:0123']]) {
            h = new PipelineHarness()
            run(BASE + ok, 0)
            assert !h.calls('echo').any { it.args.contains('moving tag') }: ok
        }
        h = new PipelineHarness()
        run(BASE + [image: 'registry.example.com:5000/slack-im/slack-im'], 0)
        assert h.calls('echo').any { it.args.contains('moving tag') }
    }

    // Item 8 of issue 13: params.DRY_RUN is null before a job has parameters; that is no real sync.
    void testNullDryRunIsAnErrorNotARealSync() {
        String msg = errorMessage(run(BASE + [dryRun: null]))
        assert msg.contains('dryRun is null')
        assertNoContainerRun()
    }

    void testBadEngineIsAnError() {
        String msg = errorMessage(run(BASE + [engine: 'rkt']))
        assert msg.contains("engine 'rkt' must be 'docker' or 'podman'")
        assertNoContainerRun()
    }

    void testBadCommandIsAnError() {
        assert errorMessage(run(BASE + [command: 'deploy'])).contains("command 'deploy' must be one of 'sync', 'plan', 'check'")
    }

    void testBadVarNamesAreErrors() {
        String msg = errorMessage(run(BASE + [vars: ['bad-name': 'x', 'a b': 'y', 'x;rm -rf /': 'z', ok_name: 'fine']]))
        assert msg.contains("vars: name 'bad-name' may only contain letters, digits and '_'")
        assert msg.contains("vars: name 'a b'")
        assert msg.contains("vars: name 'x;rm -rf /'")
        assert !msg.contains("'ok_name'")
        assertNoContainerRun()
    }

    void testBadSecretNamesAndIdsAreErrors() {
        String msg = errorMessage(run(BASE + [secrets: ['db-password': 'cred', api_key: '', other: 42]]))
        assert msg.contains("secrets: name 'db-password' may only contain letters, digits and '_'")
        assert msg.contains('secrets.api_key must be the id of a Secret text credential')
        assert msg.contains('secrets.other must be the id of a Secret text credential')
        assertNoContainerRun()
    }

    void testVarsAndSecretsMustBeMapsAndNamesCaseInsensitiveUnique() {
        String msg = errorMessage(run(BASE + [vars: 'tenant=acme', secrets: [Token: 'a', TOKEN: 'b']]))
        assert msg.contains('vars must be a map of name: value')
        assert msg.contains("secrets: name 'TOKEN' is given twice") || msg.contains("secrets: name 'Token' is given twice")
    }

    void testSecretTargetTokenClashIsAnError() {
        assert errorMessage(run(BASE + [secrets: [target_token: 'x']])).contains('clashes with targetCredentialsId')
    }

    void testAllProblemsAreReportedAtOnce() {
        String msg = errorMessage(run([engine: 'lxc', timeoutMinutes: 0, reportDir: '../outside', image: 'a b']))
        assert msg.contains("'system' parameter is required")
        assert msg.contains("image 'a b'")
        assert msg.contains("engine 'lxc'")
        assert msg.contains('timeoutMinutes must be a whole number >= 1')
        assert msg.contains("reportDir '../outside' must be a relative folder inside the workspace")
    }

    void testReportDirMustStayInTheWorkspace() {
        for (String bad : ['/tmp/x', 'a/../../b', 'reports/', 'rep orts', 'r*']) {
            h = new PipelineHarness()
            assert errorMessage(run(BASE + [reportDir: bad])).contains("reportDir '${bad}'")
        }
    }

    void testNetworkAndPullAreValidated() {
        String msg = errorMessage(run(BASE + [network: 'container:other', pull: 'sometimes']))
        assert msg.contains("network 'container:other'")
        assert msg.contains("pull 'sometimes'")
    }

    // ----- credentials and the sh script ----------------------------------------------------

    void testCredentialsAreBoundAndPassedAsFiles() {
        run(BASE + [secrets: [db_password: 'dev-db-password'], vars: [tenant: 'acme']])
        List bindings = h.calls('withCredentials')[0].args
        assert bindings.collect { [it.$class, it.credentialsId, it.variable] } == [
            ['StringBinding', 'slack-im-slack-bot-token', 'SLACK_IM_JENKINS_SECRET__SLACK_BOT_TOKEN'],
            ['StringBinding', 'slack-im-dev-target-token', 'SLACK_IM_JENKINS_SECRET__SLACK_IM_SECRET_TARGET_TOKEN'],
            ['StringBinding', 'dev-db-password', 'SLACK_IM_JENKINS_SECRET__SLACK_IM_SECRET_DB_PASSWORD'],
        ]
        Map call = runCall()
        assert call.args.returnStatus == true
        List<String> names = call.env.SLACK_IM_JENKINS_ENV_NAMES.split(' ') as List
        assert names.containsAll(['SLACK_BOT_TOKEN_FILE', 'SLACK_IM_SECRET_TARGET_TOKEN_FILE', 'SLACK_IM_SECRET_DB_PASSWORD_FILE',
                                  'SLACK_IM_SYSTEM', 'SLACK_IM_TARGET_URL__DEV', 'SLACK_IM_REPORT_DIR', 'SLACK_IM_VAR_TENANT'])
        assert names.every { it ==~ /[A-Z][A-Z0-9_]*/ }
        assert !names.any { it.startsWith('SLACK_IM_JENKINS_') }: 'step-internal settings must not reach the container'
        // issue 20: no secret is forwarded as the container's environment; each is a file it reads
        assert !names.any { it in ['SLACK_BOT_TOKEN', 'SLACK_IM_SECRET_TARGET_TOKEN', 'SLACK_IM_SECRET_DB_PASSWORD'] }
        assert call.env.SLACK_IM_JENKINS_SECRET_NAMES.split(' ') as List ==
            ['SLACK_BOT_TOKEN', 'SLACK_IM_SECRET_TARGET_TOKEN', 'SLACK_IM_SECRET_DB_PASSWORD']
        assert call.env.SLACK_BOT_TOKEN_FILE == '/etc/slack-im/secrets/SLACK_BOT_TOKEN'
        assert call.env.SLACK_IM_SECRET_DB_PASSWORD_FILE == '/etc/slack-im/secrets/SLACK_IM_SECRET_DB_PASSWORD'
        String script = call.args.script
        assert script.contains('set -- "$@" -e "$variable"')
        assert !script.contains('SLACK_BOT_TOKEN=')
        // the secrets are in the sh step's environment (from withCredentials), nowhere else
        assert call.env.SLACK_IM_JENKINS_SECRET__SLACK_BOT_TOKEN == PipelineHarness.fakeSecret('slack-im-slack-bot-token')
        assert !call.env.containsKey('SLACK_BOT_TOKEN')
        List<String> withEnv = h.calls('withEnv')[0].args
        assert !withEnv.any { it.startsWith('SLACK_BOT_TOKEN=') || it.startsWith('SLACK_IM_JENKINS_SECRET__') }
        assertNoSecretInRecordedStrings()
    }

    void testRenderedRunLineNamesTheSecretFilesNotTheSecrets() {
        // What `-e "$name"` expands to, for the recorded environment.
        Map call = run(BASE).with { runCall() }
        List<String> expanded = call.env.SLACK_IM_JENKINS_ENV_NAMES.split(' ').collect { "-e ${it}".toString() }
        assert expanded.contains('-e SLACK_BOT_TOKEN_FILE')
        assert expanded.contains('-e SLACK_IM_SECRET_TARGET_TOKEN_FILE')
        assert !expanded.contains('-e SLACK_BOT_TOKEN') && !expanded.contains('-e SLACK_IM_SECRET_TARGET_TOKEN')
    }

    void testShScriptIsTheSameConstantForAnyParameters() {
        run(BASE)
        String first = runCall().args.script
        h = new PipelineHarness()
        run([system: 'sales-demo-1', targetUrl: 'https://demo.example/$(reboot)', engine: 'podman', network: 'host',
             vars: [tenant: '"; rm -rf / #'], secrets: [x: 'cred'], image: 'registry.example.com/slack-im:1.2.3',
             dryRun: true, command: 'plan', templatesDir: 'deploy/templates', caBundle: '/etc/pki/ca.pem'])
        String second = runCall().args.script
        assert first == second
        assert !second.contains('sales-demo-1') && !second.contains('reboot') && !second.contains('registry.example.com')
    }

    void testNoSecretValueInAnyRecordedStringOnEveryPath() {
        h.credentials['slack-im-slack-bot-token'] = 'xoxb-REAL-LOOKING-TOKEN-424242'
        Map out = run(BASE + [secrets: [api: 'api-cred']], 3, 'summary-partial.json')
        assert out.thrown == null
        assertNoSecretInRecordedStrings()
        assert !out.result.toString().contains('xoxb-REAL-LOOKING-TOKEN-424242')
        for (int status : [0, 1, 2, 4]) {
            h = new PipelineHarness()
            run(BASE + [secrets: [api: 'api-cred'], caCredentialsId: 'corp-ca'], status, 'summary-withheld.json')
            assertNoSecretInRecordedStrings()
        }
    }

    void testCustomAndDisabledCredentials() {
        run(BASE + [slackCredentialsId: 'other-slack', targetCredentialsId: 'dev-api-token'])
        assert h.calls('string').collect { it.args.credentialsId } == ['other-slack', 'dev-api-token']
        h = new PipelineHarness()
        run(BASE + [targetCredentialsId: false])
        assert h.calls('string').collect { it.args.variable } == ['SLACK_IM_JENKINS_SECRET__SLACK_BOT_TOKEN']
        assert !runCall().env.SLACK_IM_JENKINS_ENV_NAMES.contains('TARGET_TOKEN')
        assert !runCall().env.SLACK_IM_JENKINS_SECRET_NAMES.contains('TARGET_TOKEN')
    }

    void testCaCredentialIsAFileBindingMountedByThePath() {
        run(BASE + [caCredentialsId: 'corp-ca'])
        assert h.calls('file')[0].args == [credentialsId: 'corp-ca', variable: 'SLACK_IM_JENKINS_CA_FILE']
        Map call = runCall()
        assert call.env.SSL_CERT_FILE == '/etc/slack-im/ca.pem'
        assert call.env.SLACK_IM_JENKINS_ENV_NAMES.contains('SSL_CERT_FILE')
        assert call.env.SLACK_IM_JENKINS_CA_FILE
    }

    // Issue 20: slack-im trusts SSL_CERT_FILE for the targets only; Slack's own bundle (a
    // TLS-inspecting proxy's CA) is SLACK_IM_SLACK_CA_FILE, a separate credential.
    void testSlacksCaBundleIsItsOwnCredentialNeverTheTargetsOne() {
        run(BASE + [slackCaCredentialsId: 'proxy-ca'])
        assert h.calls('file')[0].args == [credentialsId: 'proxy-ca', variable: 'SLACK_IM_JENKINS_SLACK_CA_FILE']
        Map call = runCall()
        assert call.env.SLACK_IM_SLACK_CA_FILE == '/etc/slack-im/slack-ca.pem'
        assert call.env.SSL_CERT_FILE == null
        h = new PipelineHarness()
        Map out = run(BASE + [slackCaCredentialsId: 'proxy-ca', slackCaBundle: '/etc/pki/proxy.pem'])
        assert errorMessage(out).contains('slackCaCredentialsId and slackCaBundle are exclusive')
    }

    void testNonSecretSettingsGoThroughWithEnv() {
        run(BASE + [dryRun: true, notifyChannel: 'C0123ABC', vars: [tenant: 'acme', Region: 'eu'], image: 'reg.example/slack-im:1.0',
                    engine: 'podman', network: 'host', pull: 'always', emailDomains: ['example.com', 'example.org'],
                    maxDeactivate: 5, includeGuests: false, logLevel: 'debug', timeoutMinutes: 12])
        Map env = runCall().env
        assert env.SLACK_IM_SYSTEM == 'dev'
        assert env.SLACK_IM_TARGET_URL__DEV == 'https://dev.example.internal/api'
        assert env.SLACK_IM_DRY_RUN == 'true'
        assert env.SLACK_IM_NOTIFY_CHANNEL == 'C0123ABC'
        assert env.SLACK_IM_VAR_TENANT == 'acme'
        assert env.SLACK_IM_VAR_REGION == 'eu'
        assert env.SLACK_IM_EMAIL_DOMAINS == 'example.com,example.org'
        assert env.SLACK_IM_MAX_DEACTIVATE == '5'
        assert env.SLACK_IM_INCLUDE_GUESTS == 'false'
        assert env.RUST_LOG == 'debug'
        assert env.SLACK_IM_REPORT_DIR == '/reports'
        assert env.SLACK_IM_JENKINS_ENGINE == 'podman'
        assert env.SLACK_IM_JENKINS_IMAGE == 'reg.example/slack-im:1.0'
        assert env.SLACK_IM_JENKINS_NETWORK == 'host'
        assert env.SLACK_IM_JENKINS_PULL == 'always'
        assert env.SLACK_IM_JENKINS_REPORT_DIR == 'slack-im-reports/dev'
        assert h.calls('timeout')[0].args == [time: 12, unit: 'MINUTES']
    }

    // Item 11 of issue 13: withEnv drops a variable whose value is empty (the stand-in does too), and
    // slack-im reads an empty variable as unset: an empty value is left out, by value and by name.
    void testEmptyValuesAreLeftOutConsistently() {
        run(BASE + [vars: [tenant: 'acme', suffix: ''], emailDomains: '', notifyChannel: 'C0123'])
        Map call = runCall()
        List<String> withEnv = h.calls('withEnv')[0].args
        assert !withEnv.any { it.startsWith('SLACK_IM_VAR_SUFFIX=') || it.startsWith('SLACK_IM_EMAIL_DOMAINS=') }
        List<String> names = call.env.SLACK_IM_JENKINS_ENV_NAMES.split(' ') as List
        assert !names.contains('SLACK_IM_VAR_SUFFIX') && !names.contains('SLACK_IM_EMAIL_DOMAINS')
        // every name handed to the container has a value in the sh step's environment
        for (String name : names) {
            assert call.env.containsKey(name): "-e ${name} names a variable the sh step does not have"
        }
        assert call.env.SLACK_IM_VAR_TENANT == 'acme'
    }

    void testDefaults() {
        run(BASE)
        Map env = runCall().env
        assert env.SLACK_IM_JENKINS_ENGINE == 'docker'
        assert env.SLACK_IM_JENKINS_IMAGE == 'registry.example.com/slack-im/slack-im:1.2.0'
        assert env.SLACK_IM_JENKINS_COMMAND == 'sync'
        assert !env.containsKey('SLACK_IM_JENKINS_NETWORK') && !env.containsKey('SLACK_IM_JENKINS_PULL')
        assert !env.containsKey('SLACK_IM_DRY_RUN')
        assert !env.containsKey('SLACK_IM_NOTIFY_CHANNEL')
        assert env.SLACK_IM_JENKINS_CONTAINER_NAME ==~ /slack-im-dev-jenkins-slack-im-sync-42-[0-9a-f]{8}-[0-9a-f]{3}/
        assert h.calls('timeout')[0].args == [time: 30, unit: 'MINUTES']
    }

    void testEngineDefaultsToContainerBin() {
        h.env.CONTAINER_BIN = 'podman'
        run(BASE)
        assert runCall().env.SLACK_IM_JENKINS_ENGINE == 'podman'
    }

    // ----- exit codes --------------------------------------------------------------------------

    void testExitZeroIsSuccess() {
        Map out = run(BASE, 0, 'summary-ok.json')
        assert out.thrown == null
        assert h.currentBuild.result == 'SUCCESS'
        assert h.calls('unstable').isEmpty() && h.calls('error').isEmpty()
        assert out.result.exitCode == 0
        assert out.result.result == 'SUCCESS'
    }

    void testExitThreeIsUnstableWithFirstErrors() {
        Map out = run(BASE, 3, 'summary-partial.json')
        assert out.thrown == null
        assert h.currentBuild.result == 'UNSTABLE'
        String msg = h.calls('unstable')[0].args
        assert msg.contains('exited with code 3: partial: some actions failed, the rest applied')
        assert msg.contains('create bob@example.com: POST /api/users: HTTP 409 Conflict: login already taken')
        assert msg.contains('deactivate old@example.com: DELETE /api/users/old%40example.com: timeout after 30s')
        assert out.result.exitCode == 3 && out.result.result == 'UNSTABLE'
    }

    void testExitFourIsUnstableNamingTheGuard() {
        Map out = run(BASE, 4, 'summary-withheld.json')
        assert out.thrown == null
        assert h.currentBuild.result == 'UNSTABLE'
        String msg = h.calls('unstable')[0].args
        assert msg.contains('a guard withheld creates, deactivations')
        assert msg.contains('deactivate a1@example.com: withheld (guard: 9 deactivations > SLACK_IM_MAX_DEACTIVATE=3)')
        assert out.result.exitCode == 4
    }

    void testExitOneIsAnErrorNamingTheMeaning() {
        String msg = errorMessage(run(BASE, 1))
        assert msg.contains('exited with code 1: failed before completing (Slack, target listing or network)')
        assert msg.contains('summary.md')
        assert h.currentBuild.result == 'FAILURE'
    }

    void testExitTwoIsAnErrorNamingTheMeaningAndTheSummaryError() {
        String msg = errorMessage(run(BASE, { Map a, Map e ->
            if (a.returnStatus) {
                h.writeWorkspaceFile("${e.SLACK_IM_JENKINS_REPORT_DIR}/summary.json",
                    '{"run_id":"' + e.SLACK_IM_RUN_ID + '","system":"dev","exit_code":2,"error":"templates/dev/create.json: undefined value user.emial","counts":{},' +
                    '"exit_meaning":"bad configuration or template","first_failures":["templates/dev/create.json: undefined value user.emial"]}')
            }
            2
        }))
        assert msg.contains('exited with code 2: bad configuration or template')
        assert msg.contains('undefined value user.emial')
    }

    void testSummaryAsWrittenByTheBinaryOnAnEarlyFailure() {
        // fixture: the real image's summary.json after Slack was unreachable (plan, exit 1)
        String msg = errorMessage(run(BASE + [command: 'plan'], 1, 'summary-error.json'))
        assert msg == 'slack-im plan (dev) exited with code 1: failed before completing (Slack, target listing or network). ' +
            'First errors: Slack users.list: connection error: Connection refused (os error 111)'
        assert h.currentBuild.description == 'dev: plan failed, exit 1: failed before completing (Slack, target listing or network)'
    }

    void testEngineAndUnknownExitCodes() {
        assert errorMessage(run(BASE, 125)).contains('the container engine could not create, fill or run the container')
        h = new PipelineHarness()
        assert errorMessage(run(BASE, 127)).contains('not found')
        h = new PipelineHarness()
        assert errorMessage(run(BASE, 42)).contains('exited with code 42: unexpected exit code')
    }

    void testPropagateFalseLeavesTheVerdictToTheCaller() {
        Map out = run(BASE + [propagate: false], 1)
        assert out.thrown == null
        assert h.calls('error').isEmpty() && h.calls('unstable').isEmpty()
        assert out.result.exitCode == 1 && out.result.result == 'FAILURE'
        h = new PipelineHarness()
        out = run(BASE + [propagate: false], 3, 'summary-partial.json')
        assert h.calls('unstable').isEmpty() && out.result.result == 'UNSTABLE'
        assert h.currentBuild.result == 'SUCCESS'
    }

    // ----- reports ------------------------------------------------------------------------------

    void assertReportsPublished(String dir = 'slack-im-reports/dev') {
        assert h.calls('archiveArtifacts')*.args == [[artifacts: "${dir}/**".toString(), allowEmptyArchive: true, fingerprint: false]]
        assert h.calls('junit')*.args == [[allowEmptyResults: true, skipMarkingBuildUnstable: true, skipMarkingStageUnstable: true, testResults: "${dir}/junit.xml".toString()]]
    }

    // Item 9 of issue 13: junit marks the stage UNSTABLE too unless skipMarkingStageUnstable.
    void testJunitFailuresDoNotMarkTheBuildOrTheStage() {
        junitXml = '<testsuites><testsuite name="slack-im.dev" tests="2" failures="1">' +
            '<testcase name="bob@example.com"><failure message="HTTP 409"/></testcase><testcase name="ada@example.com"/>' +
            '</testsuite></testsuites>'
        Map out = run(BASE + [propagate: false], 3, 'summary-partial.json')
        assert out.result.result == 'UNSTABLE'
        assert h.calls('junit').size() == 1
        assert h.currentBuild.result == 'SUCCESS'
        assert h.currentBuild.stageResult == 'SUCCESS': 'junit marked the stage: the exit code owns the verdict'
    }

    void testReportsArePublishedOnSuccess() {
        run(BASE, 0, 'summary-ok.json')
        assertReportsPublished()
        // published before the verdict
        List<String> order = h.callStack*.name
        assert order.indexOf('junit') < order.lastIndexOf('echo')
    }

    void testReportsArePublishedWhenTheRunFails() {
        run(BASE, 1)
        assertReportsPublished()
        List<String> order = h.callStack*.name
        assert order.indexOf('junit') < order.indexOf('error')
    }

    void testReportsArePublishedAndContainerRemovedWhenShThrows() {
        Map out = run(BASE + [reportDir: 'out/sync'], { Map a, Map e ->
            if (a.returnStatus && a.script.contains('set -- create')) {
                throw new InterruptedException('Timeout has been exceeded')
            }
            0
        })
        assert out.thrown instanceof InterruptedException
        assertReportsPublished('out/sync')
        Map cleanup = h.calls('sh').find { it.args.label == 'slack-im: remove the container' }
        assert cleanup && cleanup.args.returnStatus
        assert cleanup.env.SLACK_IM_JENKINS_CONTAINER_NAME
        assert h.calls('error').isEmpty()
    }

    void testNoCleanupCallWhenTheRunReturned() {
        run(BASE, 0)
        assert h.calls('sh')*.args.label == ['slack-im: empty the report folder', 'slack-im sync (dev)']
    }

    // Item 2 of issue 13: a previous build's reports are never published as this run's.
    void leaveStaleReports(String dir = 'slack-im-reports/dev') {
        h.writeWorkspaceFile("${dir}/summary.json", fixtureText('summary-ok.json'))
        h.writeWorkspaceFile("${dir}/junit.xml", '<testsuites><testcase name="stale"><failure/></testcase></testsuites>')
        h.writeWorkspaceFile("${dir}/summary.md", 'stale')
    }

    void testMissingCredentialPublishesNoStaleReports() {
        leaveStaleReports()
        h.missingCredentials << 'slack-im-dev-target-token'
        Map out = run(BASE, 0)
        assert out.thrown instanceof PipelineError && out.thrown.message.contains('slack-im-dev-target-token')
        assert h.calls('sh')*.args.label == ['slack-im: empty the report folder', 'slack-im: remove the container']
        List<String> order = h.callStack*.name
        assert order.indexOf('sh') < order.indexOf('withCredentials'): 'the folder is emptied before anything else'
        assert new File(h.workspace, 'slack-im-reports/dev').list() == [] as String[]
        assert h.currentBuild.description == null
    }

    void testEngineMissingPublishesNoStaleReports() {
        leaveStaleReports()
        Map out = run(BASE, 127)
        assert out.thrown instanceof PipelineError
        assert !new File(h.workspace, 'slack-im-reports/dev/summary.json').exists()
        assert out.result == null && h.currentBuild.description == 'dev: sync failed, exit 127: ' +
            'the container engine or the image entrypoint was not found'
    }

    void testASummaryFromAnotherRunIsIgnored() {
        Map out = run(BASE, { Map a, Map e ->
            if (a.label == 'slack-im sync (dev)') {
                h.writeWorkspaceFile("${e.SLACK_IM_JENKINS_REPORT_DIR}/summary.json",
                    withRunId(fixtureText('summary-ok.json'), 'jenkins-slack-im-sync-41-0000'))
            }
            0
        })
        assert out.thrown == null
        assert out.result.summary == null
        assert h.calls('echo').any { it.args.contains("is not this run's (run_id 'jenkins-slack-im-sync-41-0000'") }
        assert !h.currentBuild.description.contains('created')
    }

    void testTheRunIdIsNewForEveryCallAndPassedToTheContainer() {
        run(BASE, 0, 'summary-ok.json')
        String first = runCall().env.SLACK_IM_RUN_ID
        assert first ==~ /jenkins-slack-im-sync-42-[0-9a-f-]{36}/
        assert runCall().env.SLACK_IM_JENKINS_ENV_NAMES.split(' ').contains('SLACK_IM_RUN_ID')
        h = new PipelineHarness()
        run(BASE, 0, 'summary-ok.json')
        assert runCall().env.SLACK_IM_RUN_ID != first
    }

    // Item 5 of issue 13: a symbolic link on the report folder's path is refused before anything runs.
    void testSymlinkedReportFolderIsRefused() {
        File outside = File.createTempDir('slack-im-outside', '')
        new File(outside, 'keep.txt').text = 'precious'
        for (List<String> link : [['slack-im-reports', 'slack-im-reports/dev'], ['out/sync', 'out/sync']]) {
            h = new PipelineHarness()
            File l = new File(h.workspace, link[0])
            l.parentFile.mkdirs()
            java.nio.file.Files.createSymbolicLink(l.toPath(), outside.toPath())
            String msg = errorMessage(run(BASE + [reportDir: link[1]], 0, 'summary-ok.json'))
            assert msg.contains("the report folder '${link[1]}' is or lies under a symbolic link")
            assert new File(outside, 'keep.txt').text == 'precious'
            assert outside.list() as List == ['keep.txt']
            assert h.calls('withCredentials').isEmpty()
            assert h.calls('archiveArtifacts').isEmpty() && h.calls('junit').isEmpty()
            assert h.calls('sh').size() == 1
        }
    }

    // Item 13 of issue 13: sh and a container engine need a Unix agent.
    void testNonUnixAgentIsRefused() {
        h.unix = false
        String msg = errorMessage(run(BASE, 0))
        assert msg.contains('needs a Unix agent')
        assert h.calls('sh').isEmpty()
    }

    // Issue 21: the description is the binary's headline (summary.json), not re-derived from the counts.
    void testDescriptionFromSummary() {
        run(BASE, 0, 'summary-ok.json')
        assert h.currentBuild.description == 'dev: 3 created, 1 updated, 0 deactivated, 41 unchanged, 2 skipped'
    }

    void testDescriptionShowsFailuresAndWithheld() {
        run(BASE, 3, 'summary-partial.json')
        assert h.currentBuild.description == 'dev: 2 created, 0 updated, 1 deactivated, 40 unchanged, 0 skipped, 2 FAILED'
        h = new PipelineHarness()
        run(BASE, 4, 'summary-withheld.json')
        assert h.currentBuild.description ==
            'dev: 1 created, 0 updated, 0 deactivated, 12 unchanged, 0 skipped, 9 deactivations WITHHELD'
    }

    void testDescriptionForDryRunAndAppendsToPrevious() {
        h.currentBuild.description = 'deployed 1.4.2'
        run([system: 'modeloffice', targetUrl: 'https://mo.example', image: 'slack-im:1.0', dryRun: true], 0, 'summary-dryrun.json')
        assert h.currentBuild.description == 'deployed 1.4.2; modeloffice: 5 would be created, 2 would be updated, ' +
            '1 would be deactivated, 30 unchanged, 1 skipped'
    }

    void testDescriptionWithoutSummary() {
        run(BASE + [command: 'check'], 0)
        assert h.currentBuild.description == 'dev: check ok'
        h = new PipelineHarness()
        run(BASE, 2)
        assert h.currentBuild.description == 'dev: sync failed, exit 2: bad configuration or template'
    }

    // Item 7 of issue 13: exit 3/4 without a summary is not "sync ok".
    void testExitThreeOrFourWithoutSummaryIsDescribedAsSuch() {
        run(BASE, 3)
        assert h.currentBuild.description ==
            'dev: sync exit 3: partial: some actions failed, the rest applied (no summary.json from this run)'
        h = new PipelineHarness()
        run(BASE, 4)
        assert h.currentBuild.description.startsWith('dev: sync exit 4: a guard withheld creates, deactivations')
        assert !h.currentBuild.description.contains(' ok')
    }

    // Item 13 of issue 13: a long BUILD_TAG must not cut the container name's unique suffix.
    void testContainerNameKeepsItsUniqueSuffix() {
        h.env.BUILD_TAG = 'jenkins-' + 'very-long-folder/'.multiply(12) + 'PR-1234-42'
        run(BASE, 0)
        String name = runCall().env.SLACK_IM_JENKINS_CONTAINER_NAME
        String nonce = runCall().env.SLACK_IM_RUN_ID[-36..-1].take(12)
        assert name.endsWith('-' + nonce)
        assert name.length() <= 128
        assert name ==~ /[A-Za-z0-9][A-Za-z0-9_.-]*/
    }

    void testUnreadableSummaryIsAWarningNotACrash() {
        Map out = run(BASE, { Map a, Map e ->
            if (a.returnStatus) {
                h.writeWorkspaceFile("${e.SLACK_IM_JENKINS_REPORT_DIR}/summary.json", '{"counts": {truncated')
            }
            0
        })
        assert out.thrown == null
        assert h.calls('echo').any { it.args.contains('WARNING: could not read slack-im-reports/dev/summary.json') }
        assert out.result.summary == null
    }

    // Item 1 of issue 13: no Pipeline Utility Steps. The stand-in has no readJSON, and a missing step
    // throws NoSuchMethodError (an Error) as in Jenkins.
    void testSummaryIsReadWithoutPipelineUtilitySteps() {
        Map out = run(BASE, 0, 'summary-ok.json')
        assert out.thrown == null: "${out.thrown}\n${h.printCallStack()}"
        assert out.result.summary.counts.create == 3
        assert h.calls('readFile')*.args == [[file: 'slack-im-reports/dev/summary.json', encoding: 'UTF-8']]
        // plain, serializable maps and lists (JsonSlurper's lazy maps are not)
        assert out.result.summary instanceof LinkedHashMap
        assert out.result.summary.counts instanceof LinkedHashMap
        assert out.result.summary.actions instanceof ArrayList
    }

    void testTheStandInThrowsNoSuchMethodErrorForAMissingStep() {
        Script step = h.load('vars/slackImSync.groovy')
        try {
            step.invokeMethod('readJSON', [[file: 'x']] as Object[])
            assert false: 'readJSON is not a stock step'
        } catch (NoSuchMethodError expected) {
            assert expected.message.contains("No such DSL method 'readJSON'")
        }
    }

    void testReturnedValue() {
        Map out = run(BASE, 0, 'summary-ok.json')
        Map r = out.result
        assert r.exitCode == 0
        assert r.result == 'SUCCESS'
        assert r.meaning == 'done'
        assert r.reportDir == 'slack-im-reports/dev'
        assert r.summary.counts.create == 3
        assert r.description == 'dev: 3 created, 1 updated, 0 deactivated, 41 unchanged, 2 skipped'
    }

    // ----- several systems from one Slack read (issue 11) ---------------------------------------

    static final Map MULTI = [systems: ['dev', 'model-office'], image: 'registry.example.com/slack-im/slack-im:1.2.0']

    void testSystemsRunOnceWithEachSystemsTokenByName() {
        Map out = run(MULTI, 0, 'summary-ok.json')
        assert out.thrown == null: "${out.thrown}\n${h.printCallStack()}"
        Map call = runCall()
        assert call.args.label == 'slack-im sync (dev, model-office)'
        assert call.env.SLACK_IM_SYSTEM == 'dev,model-office'
        assert !call.env.containsKey('SLACK_IM_TARGET_URL')
        assert h.calls('withCredentials')[0].args.collect { [it.credentialsId, it.variable] } == [
            ['slack-im-slack-bot-token', 'SLACK_IM_JENKINS_SECRET__SLACK_BOT_TOKEN'],
            ['slack-im-dev-target-token', 'SLACK_IM_JENKINS_SECRET__SLACK_IM_SECRET_TARGET_TOKEN__DEV'],
            ['slack-im-model-office-target-token', 'SLACK_IM_JENKINS_SECRET__SLACK_IM_SECRET_TARGET_TOKEN__MODEL_OFFICE'],
        ]
        List<String> names = call.env.SLACK_IM_JENKINS_ENV_NAMES.split(' ') as List
        // the binary reads SLACK_IM_SECRET_<NAME>_FILE__<SYSTEM>: the overlay takes the suffix off first
        assert names.containsAll(['SLACK_BOT_TOKEN_FILE', 'SLACK_IM_SECRET_TARGET_TOKEN_FILE__DEV',
                                  'SLACK_IM_SECRET_TARGET_TOKEN_FILE__MODEL_OFFICE', 'SLACK_IM_SYSTEM', 'SLACK_IM_RUN_ID'])
        assert !names.any { it.startsWith('SLACK_IM_SECRET_TARGET_TOKEN') && !it.contains('_FILE') }
        assert call.env.SLACK_IM_SECRET_TARGET_TOKEN_FILE__MODEL_OFFICE ==
            '/etc/slack-im/secrets/SLACK_IM_SECRET_TARGET_TOKEN__MODEL_OFFICE'
        assert call.env.SLACK_IM_JENKINS_SECRET__SLACK_IM_SECRET_TARGET_TOKEN__MODEL_OFFICE ==
            PipelineHarness.fakeSecret('slack-im-model-office-target-token')
        assert !h.calls('withEnv').any { w -> w.args.any { it.toString().startsWith('SLACK_IM_JENKINS_SECRET__') } }
        assert call.args.script == new PipelineHarness().load('vars/slackImSync.groovy').runScript()
        assert call.env.SLACK_IM_JENKINS_CONTAINER_NAME.startsWith('slack-im-dev-model-office-jenkins-slack-im-sync-42-')
        assertNoSecretInRecordedStrings()
    }

    void testSystemsPublishOneJunitAndDescribeEachSystem() {
        Map out = run(MULTI, 3, 'summary-multi.json')
        assert out.thrown == null
        assertReportsPublished('slack-im-reports')
        assert h.calls('readFile')*.args == [[file: 'slack-im-reports/summary.json', encoding: 'UTF-8']]
        assert h.currentBuild.description == 'dev: 3 created, 1 updated, 0 deactivated, 41 unchanged, 2 skipped\n' +
            'model-office: 2 created, 0 updated, 1 deactivated, 40 unchanged, 0 skipped, 1 FAILED'
        assert h.currentBuild.result == 'UNSTABLE'
        String msg = h.calls('unstable')[0].args
        assert msg.startsWith('slack-im sync (dev, model-office) exited with code 3: partial')
        assert msg.contains('model-office: create bob@example.com: POST /api/users: HTTP 409 Conflict')
        assert out.result.exitCode == 3 && out.result.reportDir == 'slack-im-reports'
        assert out.result.summary.systems*.system == ['dev', 'model-office']
    }

    // The combined summary's error joins the systems' errors: each is reported once, named by its system.
    void testSystemsErrorsAreReportedOncePerSystem() {
        Map out = run(MULTI, { Map a, Map e ->
            if (a.returnStatus) {
                h.writeWorkspaceFile("${e.SLACK_IM_JENKINS_REPORT_DIR}/summary.json", '{"run_id":"' + e.SLACK_IM_RUN_ID +
                    '","command":"sync","exit_code":1,"error":"model-office: listing: connection refused","systems":[' +
                    '{"system":"dev","exit_code":0,"error":null,"counts":{"create":1},"actions":[]},' +
                    '{"system":"model-office","exit_code":1,"error":"listing: connection refused","counts":{},"actions":[]}],' +
                    '"headline":"dev: 1 created, 0 updated, 0 deactivated, 0 unchanged, 0 skipped\\nmodel-office: sync failed, exit 1: ' +
                    'failed before completing (Slack, target listing or network)",' +
                    '"exit_meaning":"failed before completing (Slack, target listing or network)",' +
                    '"first_failures":["model-office: listing: connection refused"],"withheld_actions":[],"not_listed":0}')
            }
            1
        })
        String msg = errorMessage(out)
        assert msg.endsWith('First errors: model-office: listing: connection refused')
        assert h.currentBuild.description ==
            'dev: 1 created, 0 updated, 0 deactivated, 0 unchanged, 0 skipped\nmodel-office: sync failed, exit 1: ' +
            'failed before completing (Slack, target listing or network)'
    }

    void testSystemsWithoutThisRunsSummaryNameEverySystem() {
        run(MULTI, 2)
        assert h.currentBuild.description == 'dev, model-office: sync failed, exit 2: bad configuration or template'
    }

    void testSystemsMapCarriesEachSystemsOwnSettingsSuffixed() {
        h.env.SLACK_IM_TARGET_URL__DEV = 'https://dev.from-folder.example'
        h.env.SLACK_IM_TARGET_URL = 'https://ignored-with-systems.example'
        run([systems: [dev: [:], 'model-office': [targetUrl: 'https://mo.example.internal', maxDeactivate: 5,
                                                  vars: [tenant: 'mo'], secrets: [directory_key: 'mo-directory-key'],
                                                  emailDomains: ['example.com', 'example.org'], protect: 'admin@example.com',
                                                  targetCredentialsId: 'mo-api-token']],
             vars: [default_role: 'agent'], image: 'slack-im:1.0', dryRun: true])
        Map env = runCall().env
        assert env.SLACK_IM_TARGET_URL__DEV == 'https://dev.from-folder.example'
        assert env.SLACK_IM_TARGET_URL__MODEL_OFFICE == 'https://mo.example.internal'
        assert !env.SLACK_IM_JENKINS_ENV_NAMES.split(' ').contains('SLACK_IM_TARGET_URL')
        assert env.SLACK_IM_MAX_DEACTIVATE__MODEL_OFFICE == '5'
        assert env.SLACK_IM_EMAIL_DOMAINS__MODEL_OFFICE == 'example.com,example.org'
        assert env.SLACK_IM_PROTECT__MODEL_OFFICE == 'admin@example.com'
        assert env.SLACK_IM_VAR_TENANT__MODEL_OFFICE == 'mo'
        assert env.SLACK_IM_VAR_DEFAULT_ROLE == 'agent'
        assert env.SLACK_IM_DRY_RUN == 'true'
        assert h.calls('withCredentials')[0].args.collect { [it.credentialsId, it.variable] } == [
            ['slack-im-slack-bot-token', 'SLACK_IM_JENKINS_SECRET__SLACK_BOT_TOKEN'],
            ['slack-im-dev-target-token', 'SLACK_IM_JENKINS_SECRET__SLACK_IM_SECRET_TARGET_TOKEN__DEV'],
            ['mo-api-token', 'SLACK_IM_JENKINS_SECRET__SLACK_IM_SECRET_TARGET_TOKEN__MODEL_OFFICE'],
            ['mo-directory-key', 'SLACK_IM_JENKINS_SECRET__SLACK_IM_SECRET_DIRECTORY_KEY__MODEL_OFFICE'],
        ]
        for (String name : env.SLACK_IM_JENKINS_ENV_NAMES.split(' ')) {
            assert env.containsKey(name) && name ==~ /[A-Z][A-Z0-9_]*/
        }
    }

    void testSystemsWithoutTargetTokens() {
        run(MULTI + [targetCredentialsId: false, systems: [dev: [:], 'sales-demo': [targetCredentialsId: 'demo-token']]])
        assert h.calls('string').collect { it.args.variable } == ['SLACK_IM_JENKINS_SECRET__SLACK_BOT_TOKEN', 'SLACK_IM_JENKINS_SECRET__SLACK_IM_SECRET_TARGET_TOKEN__SALES_DEMO']
    }

    void testSystemAndSystemsTogetherIsAnError() {
        String msg = errorMessage(run(MULTI + [system: 'dev']))
        assert msg.contains("give either 'system' (one system) or 'systems'")
        assertNoContainerRun()
    }

    void testSystemsAreValidated() {
        String msg = errorMessage(run([systems: ['dev', 'dev', '../x'], image: 'slack-im:1.0',
                                       targetCredentialsId: 'one-token']))
        assert msg.contains("systems: 'dev' is given twice")
        assert msg.contains("systems: '../x' is not a valid system name")
        assert msg.contains("targetCredentialsId names one system's token")
        assertNoContainerRun()
        // Issue 21: a shared URL, two names with one suffix (a-b, a.b) are the binary's to judge.
        h = new PipelineHarness()
        binaryRejects([systems: ['a-b', 'a.b'], image: 'slack-im:1.0', targetUrl: 'https://one.example'],
            'SLACK_IM_SYSTEM is invalid: a-b and a.b share the suffix __A_B')
        assert runCall().env.SLACK_IM_TARGET_URL == 'https://one.example'
        h = new PipelineHarness()
        msg = errorMessage(run([systems: [dev: [maxDeactivte: 3, vars: ['a-b': 1]], qa: 'x'],
                                image: 'slack-im:1.0']))
        assert msg.contains("systems.dev: unknown setting 'maxDeactivte' (did you mean 'maxDeactivate'?)")
        assert msg.contains("systems.dev.vars: name 'a-b' may only contain letters, digits and '_'")
        assert msg.contains('systems.qa must be a map of settings')
        h = new PipelineHarness()
        assert errorMessage(run([systems: [], image: 'slack-im:1.0'])).contains('systems is empty')
        h = new PipelineHarness()
        assert errorMessage(run([systems: 'dev,model-office', image: 'slack-im:1.0'])).contains('systems must be a list')
    }

    // ----- members file: export, and syncs that read it instead of Slack (issue 11) ------------

    static final Map EXPORT = [command: 'export', membersFile: 'members.json', image: 'slack-im:1.0']

    void testExportWritesTheMembersFileWithTheSlackTokenOnly() {
        Map out = run(EXPORT, 0)
        assert out.thrown == null: "${out.thrown}\n${h.printCallStack()}"
        Map call = runCall()
        assert call.args.label == 'slack-im export (members)'
        assert call.env.SLACK_IM_JENKINS_COMMAND == 'export'
        assert call.env.SLACK_IM_JENKINS_MEMBERS_FILE == 'members.json'
        assert !call.env.containsKey('SLACK_IM_SYSTEM') && !call.env.containsKey('SLACK_IM_TARGET_URL')
        assert !call.env.containsKey('SLACK_IM_MEMBERS_FILE')
        assert h.calls('string').collect { it.args.variable } == ['SLACK_IM_JENKINS_SECRET__SLACK_BOT_TOKEN', 'SLACK_IM_JENKINS_MEMBERS_KEY']
        assert call.env.SLACK_IM_JENKINS_REPORT_DIR == 'slack-im-reports/export'
        assert h.currentBuild.description == 'members exported to members.json'
        assert call.env.SLACK_IM_JENKINS_CONTAINER_NAME.startsWith('slack-im-export-')
        h = new PipelineHarness()
        errorMessage(run(EXPORT, 1))
        assert h.currentBuild.description == 'members export failed, exit 1: failed before completing (Slack, target listing or network)'
    }

    void testExportIsValidated() {
        String msg = errorMessage(run([command: 'export', image: 'slack-im:1.0', system: 'dev', vars: [a: 'b'], dryRun: true]))
        assert msg.contains('export needs membersFile')
        assert msg.contains("system does not apply to command 'export'")
        assert msg.contains("vars does not apply to command 'export'")
        assert msg.contains("dryRun does not apply to command 'export'")
        h = new PipelineHarness()
        msg = errorMessage(run(EXPORT + [membersFile: 'slack-im-reports/export/members.json']))
        assert msg.contains("membersFile 'slack-im-reports/export/members.json' must not lie in the report folder")
        h = new PipelineHarness()
        assert errorMessage(run(EXPORT + [membersFile: '../members.json'])).contains("membersFile '../members.json' must be a relative")
    }

    // ----- saved plans: plan -> input -> apply exactly that plan (issue 22) ----------------------

    void testPlanWithPlanFileSavesAndArchivesIt() {
        run(BASE + [command: 'plan', planFile: 'dev-plan.json'], 0, 'summary-ok.json')
        Map call = runCall()
        assert call.env.SLACK_IM_JENKINS_PLAN_FILE == 'dev-plan.json'
        assert call.env.SLACK_IM_JENKINS_COMMAND == 'plan'
        List<Map> archived = h.calls('archiveArtifacts')*.args
        assert archived.any { it.artifacts == 'dev-plan.json' && it.fingerprint == true }: archived
    }

    void testSyncWithPlanFileNeedsTheFileAndArchivesNoPlan() {
        String msg = errorMessage(run(BASE + [planFile: 'dev-plan.json']))
        assert msg.contains("planFile 'dev-plan.json' is not in the workspace")
        assert msg.contains("command: 'plan', planFile: 'dev-plan.json'")
        h = new PipelineHarness()
        h.writeWorkspaceFile('dev-plan.json', '{}')
        run(BASE + [planFile: 'dev-plan.json'], 0, 'summary-ok.json')
        assert runCall().env.SLACK_IM_JENKINS_PLAN_FILE == 'dev-plan.json'
        assert !h.calls('archiveArtifacts')*.args.any { it.artifacts == 'dev-plan.json' }
    }

    void testPlanFileIsValidated() {
        String msg = errorMessage(run(BASE + [command: 'check', planFile: 'p.json']))
        assert msg.contains("planFile does not apply to command 'check'")
        h = new PipelineHarness()
        msg = errorMessage(run(BASE + [command: 'plan', planFile: 'slack-im-reports/dev/plan.json']))
        assert msg.contains("planFile 'slack-im-reports/dev/plan.json' must not lie in the report folder")
        h = new PipelineHarness()
        assert errorMessage(run(BASE + [command: 'plan', planFile: '/tmp/p.json'])).contains("planFile '/tmp/p.json' must be a relative")
    }

    void testSyncFromAMembersFileNeedsNoSlackToken() {
        h.writeWorkspaceFile('members.json', '{}')
        run(BASE + [membersFile: 'members.json', membersMaxAge: '2h'], 0, 'summary-ok.json')
        Map call = runCall()
        assert call.env.SLACK_IM_MEMBERS_FILE == '/members/members.json'
        assert call.env.SLACK_IM_MEMBERS_MAX_AGE == '2h'
        assert call.env.SLACK_IM_JENKINS_MEMBERS_FILE == 'members.json'
        assert h.calls('string').collect { it.args.variable } == ['SLACK_IM_JENKINS_SECRET__SLACK_IM_SECRET_TARGET_TOKEN', 'SLACK_IM_JENKINS_MEMBERS_KEY']
        assert !call.env.SLACK_IM_JENKINS_ENV_NAMES.split(' ').any { it.startsWith('SLACK_BOT_TOKEN') }
        // posting the summary to Slack needs the token again
        h = new PipelineHarness()
        h.writeWorkspaceFile('members.json', '{}')
        run(MULTI + [membersFile: 'members.json', notifyChannel: 'C0DEVOPS01'])
        assert h.calls('string').collect { it.args.variable }.contains('SLACK_IM_JENKINS_SECRET__SLACK_BOT_TOKEN')
        assert runCall().env.SLACK_BOT_TOKEN_FILE == '/etc/slack-im/secrets/SLACK_BOT_TOKEN'
    }

    // Issue 20: export signs the members file and every run from it checks it, with one key. It is a
    // Secret text credential that reaches the container as a file (SLACK_IM_MEMBERS_KEY_FILE), never
    // as an environment value (`docker inspect` would show it).
    void testTheMembersKeyIsACredentialThatReachesTheContainerAsAFile() {
        run(EXPORT + [membersKeyCredentialsId: 'zone-members-key'])
        assert h.calls('string').collect { it.args } .contains(
            [credentialsId: 'zone-members-key', variable: 'SLACK_IM_JENKINS_MEMBERS_KEY'])
        Map call = runCall()
        List<String> names = call.env.SLACK_IM_JENKINS_ENV_NAMES.split(' ') as List
        assert call.env.SLACK_IM_MEMBERS_KEY_FILE == '/etc/slack-im/members.key'
        assert names.contains('SLACK_IM_MEMBERS_KEY_FILE')
        assert !names.contains('SLACK_IM_MEMBERS_KEY') && !names.contains('SLACK_IM_JENKINS_MEMBERS_KEY')
        // a sync from the file takes the same key, by default the credential slack-im-members-key
        h = new PipelineHarness()
        h.writeWorkspaceFile('members.json', '{}')
        run(BASE + [membersFile: 'members.json'], 0, 'summary-ok.json')
        assert h.calls('string').collect { it.args } .contains(
            [credentialsId: 'slack-im-members-key', variable: 'SLACK_IM_JENKINS_MEMBERS_KEY'])
        assert runCall().env.SLACK_IM_MEMBERS_KEY_FILE == '/etc/slack-im/members.key'
        assertNoSecretInRecordedStrings()
    }

    void testTheMembersKeyIsOnlyGivenAsACredential() {
        String msg = errorMessage(run(EXPORT + [variables: [SLACK_IM_MEMBERS_KEY: 'mk-4Hs9Qz7Vw2Lp8Xr5Tn3Yb6Kd1Jf0Gc9Ua']]))
        assert msg.contains('SLACK_IM_MEMBERS_KEY is set by the step: use membersKeyCredentialsId')
        assert !msg.contains('mk-4Hs9Qz7Vw2Lp8Xr5Tn3Yb6Kd1Jf0Gc9Ua')
        h = new PipelineHarness()
        msg = errorMessage(run(EXPORT + [variables: [SLACK_IM_MEMBERS_KEY_FILE: '/run/key']]))
        assert msg.contains('SLACK_IM_MEMBERS_KEY_FILE is set by the step: use membersKeyCredentialsId')
        h = new PipelineHarness()
        msg = errorMessage(run(BASE + [membersKeyCredentialsId: 'zone-members-key']))
        assert msg.contains('membersKeyCredentialsId needs membersFile')
        assertNoContainerRun()
    }

    // An unsigned file is the binary's choice to allow (SLACK_IM_MEMBERS_UNSIGNED=allow), never a default.
    void testNoMembersKeyOnlyWithAnExplicitFalse() {
        run(EXPORT + [membersKeyCredentialsId: false, variables: [SLACK_IM_MEMBERS_UNSIGNED: 'allow']])
        assert h.calls('string').collect { it.args.variable } == ['SLACK_IM_JENKINS_SECRET__SLACK_BOT_TOKEN']
        Map call = runCall()
        assert !call.env.containsKey('SLACK_IM_MEMBERS_KEY_FILE')
        assert call.env.SLACK_IM_MEMBERS_UNSIGNED == 'allow'
    }

    void testAMissingMembersFileIsAnErrorBeforeTheCredentials() {
        String msg = errorMessage(run(BASE + [membersFile: 'zone/members.json']))
        assert msg.contains("membersFile 'zone/members.json' is not in the workspace")
        assert msg.contains('unstash it')
        assertNoContainerRun()
    }

    // Issue 21: the duration is the binary's to validate.
    void testMembersMaxAgeIsTheBinarysToValidate() {
        h.writeWorkspaceFile('m.json', '{}')
        String msg = binaryRejects(BASE + [membersFile: 'm.json', membersMaxAge: 'two hours'],
            'SLACK_IM_MEMBERS_MAX_AGE is invalid: two hours is not a duration (90m, 24h, 2d or seconds)')
        assert runCall().env.SLACK_IM_MEMBERS_MAX_AGE == 'two hours'
        assert msg.contains('SLACK_IM_MEMBERS_MAX_AGE is invalid')
    }

    // ----- documentation ------------------------------------------------------------------------

    void testHelpDocumentsEveryParameter() {
        Map defaults = h.load('vars/slackImSync.groovy').defaultConfig()
        String help = new File(PipelineHarness.libraryRoot(), 'vars/slackImSync.txt').text
        Collection<String> missing = defaults.keySet().findAll { !help.contains("<code>${it}</code>") }
        assert missing.isEmpty(): "parameters missing from vars/slackImSync.txt: ${missing}"
    }
}
