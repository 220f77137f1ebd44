/**
 * Issue 21: every variable of `slack-im --help` can be given through the step, and the README's first
 * call runs on a Jenkins where nothing but the library is configured.
 *
 * The variables come from the README's table, which tests/config_errors.rs checks against the built
 * binary's --help (same names, same order), so a variable added to the binary and its README row
 * fails here until the step can pass it.
 */
class VariablesTest {

    PipelineHarness h = new PipelineHarness()

    /** The variable names of the README's table (`A` / `…_FILE` is A and A_FILE), as --help lists them. */
    static List<String> documentedVariables() {
        File readme = new File(PipelineHarness.libraryRoot().parentFile, 'README.md')
        List<String> names = []
        boolean inTable = false
        for (String line : readme.readLines()) {
            if (line.startsWith('| variable |')) {
                inTable = true
                continue
            }
            if (inTable && line.startsWith('|---')) {
                continue
            }
            if (inTable && !line.startsWith('| ')) {
                break
            }
            if (inTable) {
                String cell = line.substring(2, line.indexOf(' |'))
                for (String n : cell.split(' / ')) {
                    String name = n.replace('`', '').trim()
                    names << (name.startsWith('…') ? names[-1] + name.substring(1) : name)
                }
            }
        }
        assert names.size() > 20: "README variable table not found or too short: ${names}"
        return names
    }

    Map run(Map args) {
        h.shHandler = { Map shArgs, Map stepEnv ->
            shArgs.label == 'slack-im: empty the report folder' ? h.runForReal(shArgs, stepEnv) : 0
        }
        try {
            return [result: h.load('vars/slackImSync.groovy').call(args), thrown: null]
        } catch (Throwable t) {
            return [result: null, thrown: t]
        }
    }

    Map containerRun() {
        Map call = h.calls('sh').find { it.args.returnStatus && it.args.script.contains('set -- create') }
        assert call: h.printCallStack()
        return call
    }

    static final Map BASE = [system: 'dev', image: 'slack-im:1.0']

    // The drift test: a variable the binary documents that the step cannot hand to the container fails.
    void testEveryDocumentedVariableCanBeGivenThroughTheStep() {
        Map owned = h.load('vars/slackImSync.groovy').ownedVariables()
        Set parameters = h.load('vars/slackImSync.groovy').defaultConfig().keySet()
        List<String> problems = []
        for (String documented : documentedVariables()) {
            String name = documented.replace('<NAME>', 'DRIFT')
            if (name == '<VARIABLE>__<SYSTEM>') {
                h = new PipelineHarness()
                run([systems: [dev: [variables: [SLACK_IM_USERGROUPS: 'qa']], 'model-office': [:]], image: 'slack-im:1.0'])
                if (containerRun().env.SLACK_IM_USERGROUPS__DEV != 'qa') {
                    problems << 'per-system variables (systems: [dev: [variables: …]]) do not reach the container'
                }
                continue
            }
            String ownedBy = owned.find { k, v -> name == k || (k.endsWith('*') && name.startsWith(k[0..-2])) }?.value
            if (ownedBy) {
                // the step sets it from a parameter, which must exist; the pass-through says which one
                List<String> named = ownedBy.findAll(/[a-zA-Z]+/).findAll { it in parameters }
                if (named.isEmpty() && ownedBy != 'the step') {
                    problems << "${name}: owned by '${ownedBy}', which names no parameter of the step"
                }
                h = new PipelineHarness()
                Map out = run(BASE + [variables: [(name): 'x']])
                if (!(out.thrown instanceof PipelineError && out.thrown.message.contains(name))) {
                    problems << "${name}: variables: [${name}: …] is not refused naming the parameter that sets it"
                }
                continue
            }
            h = new PipelineHarness()
            Map out = run(BASE + [variables: [(name): 'drift-value']])
            if (out.thrown) {
                problems << "${name}: ${out.thrown.message}"
                continue
            }
            Map call = containerRun()
            if (call.env[name] != 'drift-value' || !(name in call.env.SLACK_IM_JENKINS_ENV_NAMES.split(' '))) {
                problems << "${name}: not handed to the container"
            }
        }
        assert problems.isEmpty(): "variables of slack-im --help the step cannot give:\n  ${problems.join('\n  ')}"
    }

    void testTheNamedParametersMapThroughOneTable() {
        Map table = h.load('vars/slackImSync.groovy').variableParameters()
        List<String> documented = documentedVariables()
        for (Map.Entry e : table.entrySet()) {
            assert e.value in documented: "${e.key} maps to ${e.value}, which slack-im does not document"
        }
        run(BASE + [usergroups: ['sales', 'solutions'], requireConfirmedEmail: false, concurrency: 100])
        Map env = containerRun().env
        assert env.SLACK_IM_USERGROUPS == 'sales,solutions'
        assert env.SLACK_IM_REQUIRE_CONFIRMED_EMAIL == 'false'
        // the binary validates the value (1–64) and its message reaches the build (SlackImSyncTest)
        assert env.SLACK_IM_CONCURRENCY == '100'
    }

    void testAVariableGivenTwiceOrWithABadNameIsRefused() {
        String msg = run(BASE + [usergroups: 'qa', variables: [SLACK_IM_USERGROUPS: 'cs', 'slack-im-x': '1', PATH: '/x']])
            .thrown.message
        assert msg.contains('SLACK_IM_USERGROUPS is given twice')
        assert msg.contains("variables: 'slack-im-x' is not a slack-im variable name")
        assert msg.contains("variables: 'PATH' is not a slack-im variable name")
    }

    // The README's first example, on a Jenkins where nothing but the library is configured.
    void testTheBareCallRunsWithNothingConfigured() {
        assert !h.env.containsKey('SLACK_IM_IMAGE') && !h.env.containsKey('SLACK_IM_TARGET_URL')
        Map out = run([system: 'dev'])
        assert out.thrown == null: "${out.thrown}\n${h.printCallStack()}"
        String stamped = new File(PipelineHarness.libraryRoot(), 'resources/slack-im/image.txt').text.trim()
        assert stamped ==~ /[a-z0-9.-]+\/[a-z0-9\/-]+:[0-9][0-9A-Za-z.-]*/
        assert containerRun().env.SLACK_IM_JENKINS_IMAGE == stamped
        assert h.calls('libraryResource')*.args.contains('slack-im/image.txt')
        h = new PipelineHarness()
        h.env.SLACK_IM_IMAGE = 'registry.example.com/slack-im/slack-im:9.9.9'
        run([system: 'dev'])
        assert containerRun().env.SLACK_IM_JENKINS_IMAGE == 'registry.example.com/slack-im/slack-im:9.9.9'
    }

    // The checked-in image names this commit's version: the release of this commit pushes exactly it.
    void testTheStampedImageIsThisVersionsRelease() {
        String stamped = new File(PipelineHarness.libraryRoot(), 'resources/slack-im/image.txt').text.trim()
        String cargo = new File(PipelineHarness.libraryRoot().parentFile, 'Cargo.toml').text
        String version = (cargo =~ /(?m)^version = "([^"]+)"/)[0][1]
        assert stamped == "registry.example.com/slack-im/slack-im:${version}"
        String jenkinsfile = new File(PipelineHarness.libraryRoot().parentFile, 'Jenkinsfile').text
        assert jenkinsfile.contains('jenkins-shared-lib/resources/slack-im/image.txt')
    }
}
