/**
 * The example pipelines and the project's Jenkinsfile, run in DeclarativeHarness: every block runs in
 * order and every step call is recorded, so what they hand to slackImSync (and the image tag CI uses)
 * can be checked.
 */
class ExamplesTest {

    static final String SCHEDULED = 'jenkins-shared-lib/examples/scheduled-sync.Jenkinsfile'
    static final String DEPLOY = 'jenkins-shared-lib/examples/deploy-with-sync.Jenkinsfile'

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
        assert args.system == 'dev'
        assert args.dryRun == true
        assert h.currentBuild.displayName.contains('(dry run)')
    }

    void testScheduledExampleFollowsItsParameters() {
        DeclarativeHarness h = new DeclarativeHarness(params: [SYSTEM: 'modeloffice', DRY_RUN: false,
                                                               IMAGE: 'registry.example.com/slack-im/slack-im:1.2.0'])
        h.run(SCHEDULED)
        Map args = syncArgs(h)
        assert args.system == 'modeloffice' && args.dryRun == false
        assert args.image == 'registry.example.com/slack-im/slack-im:1.2.0'
        h = new DeclarativeHarness(params: [SYSTEM: 'dev', DRY_RUN: true])
        h.run(SCHEDULED)
        assert syncArgs(h).dryRun == true
    }

    // Item 13 of issue 13: a moving tag needs pull: 'always'.
    void testExamplesPullMovingTagsAlways() {
        for (String example : [SCHEDULED, DEPLOY]) {
            DeclarativeHarness h = new DeclarativeHarness(params: [:])
            h.run(example)
            Map args = syncArgs(h)
            assert args.image: example
            if (args.image.endsWith(':latest') || !args.image.substring(args.image.lastIndexOf('/') + 1).contains(':')) {
                assert args.pull == 'always': "${example}: ${args.image} without pull: 'always'"
            }
        }
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
