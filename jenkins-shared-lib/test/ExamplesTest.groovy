/**
 * The example pipelines and the project's Jenkinsfile, run in DeclarativeHarness: every block runs in
 * order and every step call is recorded, so what they hand to slackImSync (and the image tag CI uses)
 * can be checked.
 */
class ExamplesTest {

    static final String EXAMPLES = 'jenkins-shared-lib/examples'
    static final String SCHEDULED = "${EXAMPLES}/scheduled-sync.Jenkinsfile"
    static final String DEPLOY = "${EXAMPLES}/model-office-sprint-deploy.Jenkinsfile"
    static final String DEMO = "${EXAMPLES}/sales-demo-deploy.Jenkinsfile"
    static final String DEV = "${EXAMPLES}/dev-after-reset.Jenkinsfile"
    static final String ZONES = "${EXAMPLES}/network-zones.Jenkinsfile"
    static final String APPROVE = "${EXAMPLES}/approve-a-plan.Jenkinsfile"

    static List<String> examples() {
        File dir = new File(PipelineHarness.libraryRoot(), 'examples')
        return dir.listFiles().findAll { it.name.endsWith('.Jenkinsfile') }*.name.sort().collect { "${EXAMPLES}/${it}".toString() }
    }

    static Map syncArgs(DeclarativeHarness h) {
        List<Map> calls = h.calls('slackImSync')
        assert calls.size() == 1
        return calls[0].args[0]
    }

    static String text(String path) {
        return new File(PipelineHarness.libraryRoot().parentFile, path).text
    }

    // Item 8 of issue 13: before the job has parameters (its first build), params.DRY_RUN is null;
    // that must mean a dry run, not a real sync.
    void testScheduledExampleFirstBuildIsADryRun() {
        DeclarativeHarness h = new DeclarativeHarness(params: [:])
        h.run(SCHEDULED)
        Map args = syncArgs(h)
        assert args.systems == ['dev', 'model-office', 'sales-demo']
        assert args.dryRun == true
        assert h.currentBuild.displayName.contains('(dry run)')
    }

    // Issue 11: every system nightly from one Slack read: one call, no per-system map in the Jenkinsfile.
    void testScheduledExampleSyncsEverySystemInOneRun() {
        DeclarativeHarness h = new DeclarativeHarness(params: [DRY_RUN: false])
        h.run(SCHEDULED)
        Map args = syncArgs(h)
        assert args.keySet() == ['systems', 'dryRun', 'timeoutMinutes'] as Set
        assert args.dryRun == false
        assert h.calls('cron')[0].args == ['H 2 * * *']
        h = new DeclarativeHarness(params: [DRY_RUN: true])
        h.run(SCHEDULED)
        assert syncArgs(h).dryRun == true
    }

    // Issue 22: plan -> a person approves -> apply exactly that plan; the input holds no executor and
    // the plan travels from the planning agent to the applying one.
    void testApproveExamplePlansWaitsForAPersonThenAppliesThatPlan() {
        DeclarativeHarness h = new DeclarativeHarness(params: [SYSTEM: 'model-office'])
        h.handlers.slackImSync = { List a ->
            a[0].command == 'plan' ? [description: 'model-office: 1 would be deactivated, 4 withheld', exitCode: 0] : [exitCode: 0]
        }
        h.run(APPROVE)
        List<Map> syncs = h.calls('slackImSync')*.args*.getAt(0)
        assert syncs == [[system: 'model-office', command: 'plan', planFile: 'slack-im-plan.json'],
                         [system: 'model-office', planFile: 'slack-im-plan.json']]
        List<String> order = h.calls*.name
        assert order.indexOf('stash') > order.indexOf('slackImSync') && order.indexOf('stash') < order.indexOf('input')
        assert order.indexOf('input') < order.indexOf('unstash') && order.indexOf('unstash') < order.lastIndexOf('slackImSync')
        Map input = h.calls('input')[0].args[0]
        assert input.message.contains('model-office: 1 would be deactivated, 4 withheld'): 'the approver sees what is approved'
        assert h.calls('stash')[0].args[0] == [name: 'slack-im-plan', includes: 'slack-im-plan.json']
    }

    // Issue 11: dev right after its 12:00 reset (the reset job triggers it), with a daily cron as a safety net.
    void testDevExampleRunsAfterTheResetJobAndDaily() {
        DeclarativeHarness h = new DeclarativeHarness()
        h.run(DEV)
        assert syncArgs(h) == [system: 'dev']: 'the call users are promised, exactly'
        Map upstream = h.calls('upstream')[0].args[0]
        assert upstream.upstreamProjects == 'dev-reset' && upstream.threshold.toString() == 'SUCCESS'
        assert h.calls('cron')[0].args[0] ==~ /H 1[3-9] \* \* \*/: 'the safety net runs after the 12:00 reset'
    }

    // Issue 11: model-office after each sprint deploy, sales-demo after each demo deploy: the post-deploy step.
    void testDeployExamplesSyncAfterASuccessfulDeployment() {
        DeclarativeHarness h = new DeclarativeHarness(params: [RELEASE: '2025.03'])
        h.run(DEPLOY)
        assert syncArgs(h).system == 'model-office'
        assert syncArgs(h).targetUrl == h.env.TARGET_URL
        List<String> order = h.calls*.name
        assert order.indexOf('success') < order.indexOf('slackImSync') && order.indexOf('sh') < order.indexOf('success')
        h = new DeclarativeHarness(params: [DEMO_HOST: 'demo-3.sales.example.internal'])
        h.run(DEMO)
        assert syncArgs(h).system == 'sales-demo'
        assert syncArgs(h).targetUrl == 'https://demo-3.sales.example.internal'
        // Issue 21: the demo servers get the sales groups only (templates/sales-demo/system.json)
        assert syncArgs(h).usergroups == ['sales', 'solutions']
        assert h.calls*.name.indexOf('success') < h.calls*.name.indexOf('slackImSync')
    }

    // Issue 11: one stage exports and stashes, parallel zone stages unstash and sync from the file.
    void testNetworkZonesExampleExportsOnceAndSyncsTheZonesFromTheFile() {
        DeclarativeHarness h = new DeclarativeHarness()
        h.run(ZONES)
        List<Map> syncs = h.calls('slackImSync')*.args*.getAt(0)
        assert syncs[0] == [command: 'export', membersFile: 'members.json']
        assert syncs[1..-1]*.membersFile == ['members.json', 'members.json']
        assert syncs[1..-1].collect { it.system ? [it.system] : it.systems }.flatten() == ['dev', 'model-office', 'sales-demo']
        List<String> order = h.calls*.name
        assert order.indexOf('stash') > order.indexOf('slackImSync') && order.indexOf('stash') < order.indexOf('parallel')
        assert order.count('unstash') == 2
        for (int i = 0; i < order.size(); i++) {
            if (order[i] == 'unstash') {
                assert order[i + 1] == 'slackImSync': 'each zone unstashes, then syncs'
            }
        }
        assert h.calls('label')*.args*.getAt(0) == ['slack', 'zone-a', 'zone-b']
        // the members file (personal data) is removed after each stage, never archived
        assert h.calls('sh')*.args*.getAt(0).count('rm -f members.json') == 3
        assert !h.calls('archiveArtifacts')
    }

    /*
     * Issue 20: the sales-demo example sends the shared sales-demo token to https://<DEMO_HOST>; a free-text
     * parameter let whoever starts the build send it anywhere. DEMO_HOST is a fixed choice of demo servers,
     * and a value from elsewhere (the `build` step and the REST API pass any string) stops the build
     * before anything runs: no install, no sync.
     */
    void testSalesDemoHostIsAFixedChoiceCheckedBeforeAnythingRuns() {
        DeclarativeHarness h = new DeclarativeHarness(params: [:])
        h.run(DEMO)
        assert !h.calls('string').any { it.args[0]?.name == 'DEMO_HOST' }: 'DEMO_HOST must not be free text'
        Map choice = h.calls('choice').find { it.args[0]?.name == 'DEMO_HOST' }?.args?.getAt(0)
        assert choice: 'DEMO_HOST is a choice parameter'
        List<String> hosts = choice.choices as List
        assert hosts.size() >= 2 && hosts.every { it ==~ /demo-[0-9]+\.sales\.example\.internal/ }: hosts
        // the first build has no parameters yet: the first choice
        assert syncArgs(h).targetUrl == "https://${hosts[0]}".toString()
        for (String host : hosts) {
            h = new DeclarativeHarness(params: [DEMO_HOST: host])
            h.run(DEMO)
            assert syncArgs(h).targetUrl == "https://${host}".toString()
        }
        for (String bad : ['attacker.example.com', 'demo-1.sales.example.internal.attacker.example.com',
                           'demo-1.sales.example.internal/../x', 'demo-1.sales.example.internal"; curl x #', '']) {
            h = new DeclarativeHarness(params: [DEMO_HOST: bad])
            String thrown = null
            try {
                h.run(DEMO)
            } catch (PipelineError e) {
                thrown = e.message
            }
            assert thrown?.contains('DEMO_HOST'): "'${bad}' was not refused"
            assert !h.calls('sh') && !h.calls('slackImSync'): "'${bad}': something ran: ${h.calls*.name}"
        }
    }

    // Item 13 of issue 13: a moving tag needs pull: 'always'. Issue 11: the image may come from SLACK_IM_IMAGE.
    void testExamplesPinTheImageOrPullMovingTagsAlways() {
        for (String example : examples()) {
            DeclarativeHarness h = new DeclarativeHarness(params: [:])
            h.run(example)
            for (Map call : h.calls('slackImSync')) {
                Map args = call.args[0]
                String image = args.image ?: h.env.SLACK_IM_IMAGE
                assert image: "${example}: no image and no SLACK_IM_IMAGE"
                if (image.endsWith(':latest') || !image.substring(image.lastIndexOf('/') + 1).contains(':')) {
                    assert args.pull == 'always': "${example}: ${image} without pull: 'always'"
                }
            }
        }
    }

    /*
     * Issue 11: every system name the examples and the documentation use is a folder under templates/
     * (an old example said 'modeloffice' for the shipped 'model-office').
     */
    static Set<String> systemNamesIn(String text) {
        Set<String> names = [] as Set
        List<java.util.regex.Pattern> single = [
            ~/\bsystem\s*:\s*['"]([^'"]+)['"]/,               // system: 'dev'
            ~/\b[A-Z_]*SYSTEM\s*=\s*'([^']+)'/,               // TARGET_SYSTEM = 'model-office'
            ~/%SYSTEM=(\S+)/,                                 // parameterizedCron
            ~/slack-im-([A-Za-z0-9_.-]+?)-target-token/,       // credentials by convention
            ~/templates\/([A-Za-z0-9_.-]+)\//,                // templates/dev/system.json
        ]
        for (java.util.regex.Pattern p : single) {
            text.findAll(p) { List m -> names << m[1] }
        }
        text.findAll(~/SLACK_IM_SYSTEM=([A-Za-z0-9_.,-]+)/) { List m -> names.addAll(m[1].split(',')) }
        // choice(name: 'SYSTEM', choices: ['dev', 'model-office']): a job parameter naming the system
        text.findAll(~/name\s*:\s*'[A-Z_]*SYSTEM'\s*,\s*choices\s*:\s*\[([^\]]*)\]/) { List m ->
            names.addAll(m[1].split(',')*.trim()*.replaceAll(/^'|'$/, ''))
        }
        // systems: ['dev', 'model-office'] or systems: [dev: [:], 'model-office': [...]]: the top-level items
        java.util.regex.Matcher m = text =~ /\bsystems\s*:\s*\[/
        while (m.find()) {
            int depth = 1
            StringBuilder item = new StringBuilder()
            List<String> items = []
            for (int i = m.end(); i < text.length() && depth > 0; i++) {
                char c = text.charAt(i)
                depth += c == '[' ? 1 : (c == ']' ? -1 : 0)
                if (depth == 1 && c == ',' || depth == 0) {
                    items << item.toString()
                    item = new StringBuilder()
                } else if (depth == 1) {
                    item << c
                }
            }
            for (String it : items) {
                String name = it.trim().replaceAll(/:.*$/, '').trim().replaceAll(/^['"]|['"]$/, '')
                if (name) {
                    names << name
                }
            }
        }
        // placeholders in the docs
        return names.findAll { !(it =~ /[<>&…]|^\.\.\.$/) } as Set
    }

    void testEverySystemNameUsedIsAShippedFolder() {
        File root = PipelineHarness.libraryRoot().parentFile
        Set<String> folders = new File(root, 'templates').listFiles().findAll { it.isDirectory() }*.name as Set
        assert folders.containsAll(['dev', 'model-office', 'sales-demo'])
        List<String> files = examples() + ['jenkins-shared-lib/README.md', 'README.md', 'jenkins-shared-lib/vars/slackImSync.txt']
        Map<String, Set<String>> unknown = [:]
        for (String f : files) {
            Set<String> names = systemNamesIn(text(f))
            if (f.endsWith('.Jenkinsfile')) {
                assert names: "${f}: no system name found (the check would prove nothing)"
            }
            Set<String> bad = names.findAll { !(it in folders) } as Set
            if (bad) {
                unknown[f] = bad
            }
        }
        assert unknown.isEmpty(): "system names without a folder under templates/: ${unknown}"
    }

    // Issue 11: the call users are promised is the first Jenkins example both READMEs show, exactly.
    void testTheReadmesFirstJenkinsExampleIsTheShortestCall() {
        for (String readme : ['README.md', 'jenkins-shared-lib/README.md']) {
            // the first line of a fenced code block that calls the step
            boolean inCode = false
            String first = null
            for (String line : text(readme).readLines()) {
                if (line.startsWith('```')) {
                    inCode = !inCode
                } else if (inCode && first == null && line.contains('slackImSync(')) {
                    first = line
                }
            }
            assert first == "slackImSync(system: 'dev')": "${readme}: first example is '${first}'"
            assert text(readme).contains('SLACK_IM_IMAGE'): "${readme} must say where the image comes from"
        }
    }

    void testTheSystemNameScanFindsWhatItShould() {
        assert systemNamesIn("slackImSync(system: 'modeloffice')") == ['modeloffice'] as Set
        assert systemNamesIn("systems: [dev: [:], 'model-office': [maxDeactivate: 5], \"sales-demo\": [vars: [a: 'b']]])") ==
            ['dev', 'model-office', 'sales-demo'] as Set
        assert systemNamesIn("systems: ['dev', 'qa'], x") == ['dev', 'qa'] as Set
        assert systemNamesIn("TARGET_SYSTEM = 'staging'\n'slack-im-uat-target-token'\nSLACK_IM_SYSTEM=a,b") ==
            ['staging', 'uat', 'a', 'b'] as Set
        assert systemNamesIn("'slack-im-&lt;system&gt;-target-token' systems: [name: [...]]") == ['name'] as Set
    }

    // Item 10 of issue 13: propagate: false and catchError do not stop everything from throwing, and a
    // timeout makes the build ABORTED; the docs and the deploy example must say so.
    void testDocsSayWhatPropagateFalseAndATimeoutDo() {
        String help = text('jenkins-shared-lib/vars/slackImSync.txt')
        String readme = text('jenkins-shared-lib/README.md')
        String deploy = text(DEPLOY)
        for (String doc : [help, readme]) {
            assert !doc.contains('never fail or mark the build')
            assert doc.contains('ABORTED')
        }
        assert help.contains('invalid parameters') && help.contains('missing credential')
        assert deploy.contains('ABORTED')
        assert !(deploy =~ /(?s)A failed sync marks the build UNSTABLE instead of failing/).find() ||
            deploy.contains('timeout')
    }

    // Item 12 of issue 13: the CI image tag must be unique per build across a multibranch job.
    void testCiImageTagIsUniquePerBuild() {
        Map<String, String> tags = [:]
        for (Map e : [[BUILD_TAG: 'jenkins-slack-im-main-7', GIT_COMMIT: 'a' * 40],
                      [BUILD_TAG: 'jenkins-slack-im-PR-12-7', GIT_COMMIT: 'b' * 40],
                      [BUILD_TAG: 'jenkins-slack-im-v1.2.0-7', GIT_COMMIT: 'a' * 40],
                      [BUILD_TAG: 'jenkins-platform-slack-im-feature%2Fx-7', GIT_COMMIT: 'c' * 40]]) {
            DeclarativeHarness h = new DeclarativeHarness()
            h.env.putAll(e + [BUILD_NUMBER: '7'])
            h.run('Jenkinsfile')
            String image = h.env.LOCAL_IMAGE
            assert image ==~ /slack-im:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}/: image
            assert image.contains(e.GIT_COMMIT.take(12)): image
            tags[e.BUILD_TAG] = image
        }
        assert tags.values().toSet().size() == tags.size(): tags
    }
}
