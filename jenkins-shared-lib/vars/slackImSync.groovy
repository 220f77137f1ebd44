/* groovylint-disable Instanceof */
import static io.slackim.StepSupport.* // plain helpers, no steps: src/io/slackim/StepSupport.groovy
/*
 * slackImSync: run the slack-im container image for one system, or several from one Slack read, from
 * a Jenkins pipeline; or export the Slack members to a file for agents that cannot reach Slack.
 *
 *   slackImSync(system: 'dev')                                  // image: resources/slack-im/image.txt
 *   slackImSync(systems: ['dev', 'model-office'])               // one container run, one Slack read
 *   slackImSync(system: 'dev', variables: [SLACK_IM_USERGROUPS: 'qa'])   // any slack-im variable
 *   slackImSync(command: 'export', membersFile: 'members.json') // then: membersFile: 'members.json'
 *   slackImSync(system: 'dev', command: 'plan', planFile: 'dev-plan.json') // input, then:
 *   slackImSync(system: 'dev', planFile: 'dev-plan.json')      // applies exactly that plan
 * The step keeps the Jenkins concerns only: the image, engine, pull and network; credential ids bound
 * with withCredentials; workspace paths; the timeout; propagate; archive, JUnit, description, verdict.
 * slack-im's own variables are handed to the binary, which validates them: a bad value is its exit 2,
 * and the message it writes into summary.json fails the build. Every parameter: vars/slackImSync.txt.
 * (Instanceof: the callers' maps are untyped, so the type checks are the validation.)
 *
 * Safety rules (pinned by test/SlackImSyncTest.groovy and test/StepScriptExecutionTest.groovy): the `sh`
 * scripts are constant files (resources/slack-im/*.sh) that get every value by environment; secrets come
 * only from withCredentials and reach the container as files (/etc/slack-im/secrets/<NAME>, read through
 * the binary's *_FILE variables), never as its environment (docker inspect) nor as an argument; names
 * are validated; the exit code owns the verdict.
 */

// The named convenience parameters: each is one slack-im variable, passed as given (lists joined with
// ','); the binary validates the value. Any other variable: `variables: [SLACK_IM_…: value]`.
@NonCPS
Map variableParameters() {
    return [
        targetUrl            : 'SLACK_IM_TARGET_URL',        // as SLACK_IM_TARGET_URL__<SYSTEM>: normalizeVariables
        dryRun               : 'SLACK_IM_DRY_RUN',
        channel              : 'SLACK_IM_CHANNEL',
        includeGuests        : 'SLACK_IM_INCLUDE_GUESTS',
        requireConfirmedEmail: 'SLACK_IM_REQUIRE_CONFIRMED_EMAIL',
        emailDomains         : 'SLACK_IM_EMAIL_DOMAINS',      // default env.SLACK_IM_EMAIL_DOMAINS(__<SYSTEM>)
        usergroups           : 'SLACK_IM_USERGROUPS',
        exclude              : 'SLACK_IM_EXCLUDE',
        protect              : 'SLACK_IM_PROTECT',
        maxDeactivate        : 'SLACK_IM_MAX_DEACTIVATE',
        concurrency          : 'SLACK_IM_CONCURRENCY',
        requestTimeoutSecs   : 'SLACK_IM_TIMEOUT_SECS',
        slackUrl             : 'SLACK_IM_SLACK_URL',
        slackTeamId          : 'SLACK_IM_SLACK_TEAM_ID',
        notifyChannel        : 'SLACK_IM_NOTIFY_CHANNEL',
        notifyOn             : 'SLACK_IM_NOTIFY_ON',          // always, changes (default) or problems
        membersMaxAge        : 'SLACK_IM_MEMBERS_MAX_AGE',
        logLevel             : 'RUST_LOG',
    ]
}

// Named parameters a system of `systems:` may carry for itself (passed with the suffix __<SYSTEM>).
@NonCPS
List<String> perSystemParameters() {
    return ['targetUrl', 'emailDomains', 'usergroups', 'protect', 'maxDeactivate']
}

// Variables the step sets itself, and the parameter that sets each ('*': a prefix).
@NonCPS
Map<String, String> ownedVariables() {
    return [
        SLACK_IM_SYSTEM      : 'system / systems',
        SLACK_IM_REPORT_DIR  : 'reportDir',
        SLACK_IM_RUN_ID      : 'the step',
        BUILD_URL            : 'the step',   // Jenkins' own, for the Slack post's link to the build
        SLACK_IM_TEMPLATES   : 'templatesDir',
        SLACK_IM_MEMBERS_FILE: 'membersFile',
        SSL_CERT_FILE        : 'caBundle / caCredentialsId',
        SLACK_IM_SLACK_CA_FILE: 'slackCaBundle / slackCaCredentialsId',
        SLACK_BOT_TOKEN      : 'slackCredentialsId',
        SLACK_BOT_TOKEN_FILE : 'slackCredentialsId',
        SLACK_IM_MEMBERS_KEY : 'membersKeyCredentialsId',
        SLACK_IM_MEMBERS_KEY_FILE: 'membersKeyCredentialsId',
        'SLACK_IM_SECRET_*'  : 'secrets / targetCredentialsId (credential ids)',
        'SLACK_IM_JENKINS_*' : 'the step',
    ]
}

@NonCPS
Map defaultConfig() {
    final Map defaults = [
        system: null,               // the system to sync = folder templates/<system>/; this or `systems`
        systems: null,              // several from one Slack read: ['dev', 'mo'], or [name: [per-system settings]]
        command: 'sync',            // 'sync', 'plan' (dry run), 'check' or 'export' (Slack members -> membersFile)
        image: null,                // default env.SLACK_IM_IMAGE, else the library's resources/slack-im/image.txt
        pull: null,                 // image pull policy: null (engine default), 'always', 'missing' or 'never'
        engine: null,               // 'docker' or 'podman'; default env.CONTAINER_BIN if one of them, else 'docker'
        network: null,              // container network, e.g. 'host'
        slackCredentialsId: 'slack-im-slack-bot-token', // Secret text: the bot token (a file, SLACK_BOT_TOKEN_FILE)
        targetCredentialsId: null,  // Secret text: the target token (a file, SLACK_IM_SECRET_TARGET_TOKEN_FILE);
                                    // default slack-im-<system>-target-token
        secrets: [:],               // [name: 'credentials-id'] Secret text -> a file, SLACK_IM_SECRET_<NAME>_FILE
        vars: [:],                  // [name: value] -> SLACK_IM_VAR_<NAME>
        variables: [:],             // [SLACK_IM_…: value] any slack-im variable, validated by slack-im
        caCredentialsId: null,      // Secret file: an extra PEM CA bundle (copied in, SSL_CERT_FILE)
        caBundle: null,             // agent path of an extra PEM CA bundle (copied in, SSL_CERT_FILE)
        slackCaCredentialsId: null, // Secret file: an extra PEM CA bundle for Slack only (SLACK_IM_SLACK_CA_FILE)
        slackCaBundle: null,        // agent path of such a bundle (a TLS-inspecting proxy's CA)
        templatesDir: null,         // workspace folder of templates, copied in (SLACK_IM_TEMPLATES)
        membersFile: null,          // workspace members file: written by 'export', else read instead of Slack
        planFile: null,             // workspace file: 'plan' saves the plan there (archived), 'sync' applies only it
        membersKeyCredentialsId: null, // Secret text: the members file's key, copied in (SLACK_IM_MEMBERS_KEY_FILE);
                                    // default slack-im-members-key with membersFile; false: none (unsigned)
        reportDir: null,            // default slack-im-reports/<system> (several: slack-im-reports)
        timeoutMinutes: 30,         // the run is aborted after this many minutes
        propagate: true,            // false: never call error()/unstable(); the caller decides from the result
    ]
    for (String k : variableParameters().keySet()) {
        defaults[k] = null
    }
    return defaults
}

/*
 * Returns [exitCode: int, result: 'SUCCESS'|'UNSTABLE'|'FAILURE', meaning: String,
 *          summary: Map (parsed summary.json) or null, reportDir: String, description: String].
 */
def call(Map args = [:]) {
    final Map cfg = validate(args ?: [:])
    if (!isUnix()) {
        error('slackImSync needs a Unix agent: it runs sh and docker or podman (this agent is not Unix)')
    }
    if (movingTag(cfg.image) && cfg.pull != 'always') {
        echo "slack-im: WARNING: image ${cfg.image} has a moving tag; without pull: 'always' the agent may run " +
             'an old copy. Pin a version or set pull: \'always\'.'
    }
    // Before anything else (credentials, engine): no previous build's report can be published as this one's.
    emptyReportDir(cfg.reportDir)
    if (cfg.membersFile && cfg.command != 'export' && !fileExists(cfg.membersFile)) {
        error("slackImSync: membersFile '${cfg.membersFile}' is not in the workspace; export it first " +
              "(slackImSync(command: 'export', membersFile: '${cfg.membersFile}')) or unstash it on this agent")
    }
    if (cfg.planFile && cfg.command == 'sync' && !fileExists(cfg.planFile)) {
        error("slackImSync: planFile '${cfg.planFile}' is not in the workspace; save it first " +
              "(slackImSync(command: 'plan', planFile: '${cfg.planFile}')) or unstash it on this agent")
    }
    final List<String> envList = containerEnv(cfg)
    final List bindings = credentialBindings(cfg)
    Integer rc = null
    def summary = null
    String description = null
    withEnv(envList) {
        try {
            timeout(time: cfg.timeoutMinutes, unit: 'MINUTES') {
                withCredentials(bindings) {
                    rc = sh(label: "slack-im ${cfg.command} (${cfg.label})", returnStatus: true, script: runScript())
                }
            }
        } finally {
            if (rc == null) {
                // The run was interrupted (timeout, abort): the engine client is gone but the container may live on.
                sh(label: 'slack-im: remove the container', returnStatus: true, script: cleanupScript())
            }
            summary = publish(cfg)
            description = describeRun(cfg, rc, summary)
            if (description) {
                final String previous = currentBuild.description
                currentBuild.description = previous ? "${previous}; ${description}" : description
            }
        }
    }
    return verdict(cfg, rc, summary, description)
}

// Archives the reports, records junit.xml and returns this run's summary.json (or null).
def publish(Map cfg) {
    archiveArtifacts(artifacts: "${cfg.reportDir}/**", allowEmptyArchive: true, fingerprint: false)
    if (cfg.planFile && cfg.command == 'plan') {
        // The plan to approve, kept with the build that showed it (fingerprinted: the apply's copy is traceable).
        archiveArtifacts(artifacts: cfg.planFile, allowEmptyArchive: true, fingerprint: true)
    }
    // The exit code owns the verdict: junit only records the per-account results. skipMarkingStageUnstable
    // needs JUnit plugin 1416.vd753e036de5e or later; older versions ignore it (with a warning) and mark
    // the stage UNSTABLE when an account failed (the build result stays the exit code's).
    junit(allowEmptyResults: true, skipMarkingBuildUnstable: true, skipMarkingStageUnstable: true,
          testResults: "${cfg.reportDir}/junit.xml")
    return readSummary("${cfg.reportDir}/summary.json", cfg.runId)
}

Map verdict(Map cfg, Integer rc, def summary, String description) {
    final String meaning = meaningOf(rc, summary)
    final Map result = [exitCode: rc, meaning: meaning, summary: summary,
                        reportDir: cfg.reportDir, description: description]
    final String what = "slack-im ${cfg.command} (${cfg.label})"
    if (rc == 0) {
        echo "${what}: ${description}"
        result.result = 'SUCCESS'
        return result
    }
    final String errors = firstErrors(summary)
    final String details = errors ? " First errors: ${errors}" :
        " See the console log and the archived ${cfg.reportDir}/summary.md."
    final String message = "${what} exited with code ${rc}: ${meaning}.${details}"
    result.result = (rc == 3 || rc == 4) ? 'UNSTABLE' : 'FAILURE'
    if (!cfg.propagate) {
        echo message
    } else if (result.result == 'UNSTABLE') {
        unstable(message)
    } else {
        error(message)
    }
    return result
}

/*
 * summary.json, parsed with readFile and Groovy's JsonSlurper (no Pipeline Utility Steps: readJSON is
 * not a stock step, and a missing step throws NoSuchMethodError, an Error that no `catch (Exception)` sees).
 */
def readSummary(String path, String runId) {
    if (!fileExists(path)) {
        return null
    }
    def summary = null
    // A summary that cannot be parsed must not hide the run's own verdict: any problem is a warning.
    try {
        summary = parseJson(readFile(file: path, encoding: 'UTF-8'))
    } catch (Exception e) { // groovylint-disable-line CatchException
        echo "slack-im: WARNING: could not read ${path}: ${e.message}"
    }
    // Only this run's summary counts: the container echoes SLACK_IM_RUN_ID back as run_id.
    final String got = summary instanceof Map ? str(summary.run_id) : ''
    if (summary != null && got != runId) {
        echo "slack-im: WARNING: ${path} is not this run's (run_id '${got}', expected '${runId}'): ignored"
        return null
    }
    return summary
}

/*
 * Empties the report folder (deletes it and creates it again), refusing a folder that is, or lies
 * under, a symbolic link: rm, the container engine and archiveArtifacts would all follow it.
 */
void emptyReportDir(String reportDir) {
    Integer status = null
    withEnv(["SLACK_IM_JENKINS_REPORT_DIR=${reportDir}"]) {
        status = sh(label: 'slack-im: empty the report folder', returnStatus: true, script: prepareScript())
    }
    if (status == 3) {
        error("slackImSync: the report folder '${reportDir}' is or lies under a symbolic link; refused " +
              '(it would be emptied, written and archived through the link). Use a plain folder in the workspace.')
    } else if (status != 0) {
        error("slackImSync: cannot empty the report folder '${reportDir}' (exit ${status}); see the console log")
    }
}

// The shell scripts: constant files of the library (resources/slack-im/), values by environment only.
String runScript() {
    return libraryResource('slack-im/refuse-symlinks.sh') + libraryResource('slack-im/run-container.sh')
}

String prepareScript() {
    return libraryResource('slack-im/refuse-symlinks.sh') + libraryResource('slack-im/prepare-report-dir.sh')
}

String cleanupScript() {
    return libraryResource('slack-im/remove-container.sh')
}

/*
 * The environment of the run: step-internal SLACK_IM_JENKINS_* settings (read by the shell script,
 * never passed to the container) and the container's own variables (cfg.container), whose NAMES are
 * listed in SLACK_IM_JENKINS_ENV_NAMES and passed with `-e NAME`. An empty value is left out: withEnv
 * drops it and slack-im reads an empty variable as unset, so `-e NAME` is only given with a value.
 * No secret is among them: SLACK_IM_JENKINS_SECRET_NAMES names the secrets the script writes into
 * the container as files (their *_FILE paths are container variables like any other).
 */
@NonCPS
List<String> containerEnv(Map cfg) {
    final List<String> names = []
    final List<String> env = []
    for (Map.Entry e : cfg.container.entrySet()) {
        if (str(e.value) != '') {
            names << e.key.toString()
            env << "${e.key}=${e.value}".toString()
        }
    }
    final Map<String, String> settings = [
        SLACK_IM_JENKINS_ENV_NAMES    : names.join(' '),
        SLACK_IM_JENKINS_SECRET_NAMES : cfg.secretVars.keySet().join(' '),
        SLACK_IM_JENKINS_ENGINE       : cfg.engine,
        SLACK_IM_JENKINS_IMAGE        : cfg.image,
        SLACK_IM_JENKINS_COMMAND      : cfg.command,
        SLACK_IM_JENKINS_REPORT_DIR   : cfg.reportDir,
        SLACK_IM_JENKINS_CONTAINER_NAME: cfg.containerName,
        SLACK_IM_JENKINS_NETWORK      : str(cfg.network),
        SLACK_IM_JENKINS_PULL         : str(cfg.pull),
        SLACK_IM_JENKINS_TEMPLATES_DIR: str(cfg.templatesDir),
        SLACK_IM_JENKINS_CA_FILE      : str(cfg.caBundle),
        SLACK_IM_JENKINS_SLACK_CA_FILE: str(cfg.slackCaBundle),
        SLACK_IM_JENKINS_MEMBERS_FILE : str(cfg.membersFile),
        SLACK_IM_JENKINS_PLAN_FILE    : str(cfg.planFile),
    ]
    for (Map.Entry e : settings.entrySet()) {
        if (e.value) {
            env << "${e.key}=${e.value}".toString()
        }
    }
    return env
}

List credentialBindings(Map cfg) {
    final List bindings = []
    // Step-internal variables: the script writes each into the container as a file, never forwards it.
    for (String variable : cfg.secretVars.keySet()) {
        bindings << string(credentialsId: cfg.secretVars[variable], variable: secretBinding(variable))
    }
    if (cfg.caCredentialsId) {
        bindings << file(credentialsId: cfg.caCredentialsId, variable: 'SLACK_IM_JENKINS_CA_FILE')
    }
    if (cfg.slackCaCredentialsId) {
        bindings << file(credentialsId: cfg.slackCaCredentialsId, variable: 'SLACK_IM_JENKINS_SLACK_CA_FILE')
    }
    // A step-internal variable: the script writes it into the container as a file, never forwards it.
    if (cfg.membersKeyCredentialsId) {
        bindings << string(credentialsId: cfg.membersKeyCredentialsId, variable: 'SLACK_IM_JENKINS_MEMBERS_KEY')
    }
    return bindings
}

// ---------------------------------------------------------------------------------------------
// Validation of the Jenkins concerns; every problem is collected, then reported at once with error().

Map validate(Map args) {
    final List<String> problems = []
    // The job's or global environment (folder properties only inside withFolderProperties): only
    // the variables the step reads (env is no Map).
    final Map<String, String> jenkinsEnv = [:]
    for (String name : envNamesRead(args)) {
        final def value = env?."${name}"
        if (value != null) {
            jenkinsEnv[name] = value.toString()
        }
    }
    if (!str(args.image).trim() && !jenkinsEnv.SLACK_IM_IMAGE?.trim()) {
        // The image the release of this library's commit publishes (stamped by the project's Jenkinsfile).
        jenkinsEnv.SLACK_IM_IMAGE = libraryResource('slack-im/image.txt').trim()
    }
    final Map cfg = normalize(args, jenkinsEnv, problems)
    if (problems) {
        error("slackImSync: invalid parameters:\n  - ${problems.join('\n  - ')}\n" +
              'See the slackImSync help (vars/slackImSync.txt) for every parameter.')
    }
    return cfg
}

// SLACK_IM_IMAGE, SLACK_IM_TARGET_URL, SLACK_IM_EMAIL_DOMAINS, and their __<SYSTEM> forms for every
// system named (by systems:, or by system:).
@NonCPS
List<String> envNamesRead(Map args) {
    final List<String> names = ['CONTAINER_BIN', 'BUILD_TAG', 'BUILD_URL', 'SLACK_IM_IMAGE', 'SLACK_IM_TARGET_URL',
                                'SLACK_IM_EMAIL_DOMAINS']
    final def systems = args?.systems
    final Collection given = systems instanceof Map ? ((Map) systems).keySet() :
        (systems instanceof Collection ? (Collection) systems : [args?.system])
    for (def system : given) {
        if (validSystemName(str(system))) {
            names << "SLACK_IM_TARGET_URL__${envSuffix(str(system))}".toString()
            names << "SLACK_IM_EMAIL_DOMAINS__${envSuffix(str(system))}".toString()
        }
    }
    return names
}

@NonCPS
Map normalize(Map args, Map<String, String> jenkinsEnv, List<String> problems) {
    final Map cfg = mergeDefaults(args, problems)
    cfg.command = str(cfg.command)
    if (!(cfg.command in ['sync', 'plan', 'check', 'export'])) {
        problems << "command '${cfg.command}' must be one of 'sync', 'plan', 'check', 'export'".toString()
    }
    cfg.container = [:]
    cfg.secretVars = [:]
    cfg.perSystem = [:]
    normalizeSystems(cfg, args, jenkinsEnv, problems)
    normalizeEngine(cfg, args, jenkinsEnv, problems)
    // An explicit null (params.DRY_RUN of a job that has no parameters yet) must not become a real sync.
    if (args.containsKey('dryRun') && args.dryRun == null) {
        problems << 'dryRun is null (an undefined job parameter?): pass true or false explicitly'
    }
    cfg.propagate = boolParam('propagate', cfg.propagate, problems)
    final String minutes = str(cfg.timeoutMinutes).trim()
    cfg.timeoutMinutes = minutes.isInteger() && minutes.toInteger() >= 1 ? minutes.toInteger() : null
    if (cfg.timeoutMinutes == null) {
        problems << "timeoutMinutes must be a whole number >= 1, not '${minutes}'".toString()
    }
    normalizePaths(cfg, problems)
    normalizeVariables(cfg, args, problems)
    normalizeCredentials(cfg, args, problems)
    // A new id per call: the container echoes it back in summary.json (run_id), so a report that is not
    // this call's is never taken for it. The container name keeps the unique suffix whole.
    final String buildTag = jenkinsEnv.BUILD_TAG ?: 'run'
    final String nonce = "${UUID.randomUUID()}"
    cfg.runId = "${buildTag}-${nonce}".toString()
    cfg.container.SLACK_IM_RUN_ID = cfg.runId
    // The Slack post links to this build: Jenkins' BUILD_URL, as Jenkins set it (slack-im links only an
    // http(s) URL). Not for export, which posts nothing.
    if (cfg.command != 'export' && str(jenkinsEnv.BUILD_URL).trim()) {
        cfg.container.BUILD_URL = jenkinsEnv.BUILD_URL
    }
    final String what = cfg.command == 'export' ? 'export' : cfg.systems.join('-')
    final String prefix = "slack-im-${what}-${buildTag}".replaceAll(/[^A-Za-z0-9_.-]/, '-')
    cfg.containerName = "${prefix.take(100)}-${nonce.take(12)}".toString()
    return cfg
}

// The defaults merged with the caller's map; an unknown key is a problem, with the closest known one.
@NonCPS
Map mergeDefaults(Map args, List<String> problems) {
    final Map defaults = defaultConfig()
    final List<String> unknown = []
    for (def k : args.keySet()) {
        if (!defaults.containsKey(k)) {
            unknown << k.toString()
        }
    }
    for (String k : unknown.sort()) {
        final String hint = closest(k, defaults.keySet())
        problems << ("unknown parameter '${k}'${hint ? " (did you mean '${hint}'?)" : ''}; " +
            "known parameters: ${defaults.keySet().join(', ')}").toString()
    }
    // A copy built by hand: `new LinkedHashMap(Map)` is not on the sandbox whitelist.
    final Map cfg = [:]
    for (Map.Entry e : defaults.entrySet()) {
        cfg[e.key] = args.containsKey(e.key) && args[e.key] != null ? args[e.key] : e.value
    }
    return cfg
}

// system or systems: cfg.systems (names, in order), cfg.perSystem (name -> its settings), cfg.label.
@NonCPS
void normalizeSystems(Map cfg, Map args, Map<String, String> jenkinsEnv, List<String> problems) {
    cfg.multi = args.systems != null && cfg.command != 'export'
    cfg.systems = []
    if (cfg.command == 'export') {
        exportOnlyParameters(args, problems)
        cfg.label = 'members'
        return
    }
    if (args.system != null && args.systems != null) {
        problems << "give either 'system' (one system) or 'systems' (several from one Slack read), not both"
    }
    final Map given = [:]
    if (!cfg.multi) {
        given[str(args.system).trim()] = [:]
    } else if (args.systems instanceof Map) {
        for (Map.Entry e : ((Map) args.systems).entrySet()) {
            given[str(e.key).trim()] = e.value == null ? [:] : e.value
        }
    } else if (args.systems instanceof Collection) {
        for (def name : (Collection) args.systems) {
            if (given.containsKey(str(name).trim())) {
                problems << "systems: '${str(name).trim()}' is given twice".toString()
            }
            given[str(name).trim()] = [:]
        }
    } else {
        problems << "systems must be a list of names or a map of name: settings, not '${args.systems}'".toString()
    }
    if (cfg.multi && given.isEmpty()) {
        problems << "systems is empty: name at least one system, e.g. systems: ['dev', 'model-office']"
    }
    for (Map.Entry e : given.entrySet()) {
        final String name = e.key
        if (!cfg.multi && !name) {
            problems << "the 'system' parameter is required: the name of the system's templates folder, " +
                "e.g. slackImSync(system: 'dev'), or systems: ['dev', 'model-office']"
        } else if (!validSystemName(name)) {
            problems << ("${cfg.multi ? 'systems: ' : 'system '}'${name}' is not a valid system name " +
                "(letters, digits, '_', '.', '-'; starting with a letter or digit)").toString()
        } else {
            cfg.systems << name
            final String suffix = cfg.multi ? "__${envSuffix(name)}".toString() : ''
            // The system's own SLACK_IM_TARGET_URL__<SYSTEM> first, passed on suffixed: it names its
            // system. Else, for one system, the unsuffixed one, passed on unsuffixed: it may have been
            // set for another system, so the binary holds it to the host of the folder's "url".
            final String ownUrl = "SLACK_IM_TARGET_URL__${envSuffix(name)}"
            final String urlVar = str(jenkinsEnv[ownUrl]).trim() ? ownUrl : (cfg.multi ? '' : 'SLACK_IM_TARGET_URL')
            final String url = urlVar ? jenkinsEnv[urlVar] : ''
            // The company's e-mail domains are no secret: the system's own, else the shared ones.
            final String ownDomains = jenkinsEnv["SLACK_IM_EMAIL_DOMAINS__${envSuffix(name)}".toString()]
            final String domains = str(ownDomains).trim() ? ownDomains : jenkinsEnv['SLACK_IM_EMAIL_DOMAINS']
            cfg.perSystem[name] = [suffix: suffix, settings: e.value, envUrl: str(url).trim(), envUrlVar: urlVar,
                                   ownUrl: ownUrl, envDomains: str(domains).trim()]
        }
    }
    cfg.system = cfg.multi ? '' : (cfg.systems ? cfg.systems[0] : '')
    cfg.label = cfg.systems.join(', ')
    cfg.container.SLACK_IM_SYSTEM = cfg.systems.join(',')
}

// Parameters that only mean something for a sync are errors with export (it reads Slack, nothing else).
@NonCPS
void exportOnlyParameters(Map args, List<String> problems) {
    final List<String> syncOnly = ['system', 'systems', 'targetUrl', 'targetCredentialsId', 'secrets', 'vars',
                                   'dryRun', 'emailDomains', 'usergroups', 'exclude', 'protect', 'maxDeactivate',
                                   'concurrency', 'notifyChannel', 'notifyOn', 'templatesDir', 'membersMaxAge']
    for (String k : syncOnly) {
        if (args[k] != null && !(k == 'dryRun' && args[k] == false)) {
            problems << ("${k} does not apply to command 'export' " +
                '(it only reads the Slack members into membersFile)').toString()
        }
    }
    if (args.membersFile == null) {
        problems << "export needs membersFile: the workspace file to write to, e.g. membersFile: 'members.json'"
    }
}

@NonCPS
void normalizeEngine(Map cfg, Map args, Map<String, String> jenkinsEnv, List<String> problems) {
    if (!str(args.engine)) {
        cfg.engine = (jenkinsEnv.CONTAINER_BIN in ['docker', 'podman']) ? jenkinsEnv.CONTAINER_BIN : 'docker'
    }
    cfg.engine = str(cfg.engine)
    if (!(cfg.engine in ['docker', 'podman'])) {
        problems << "engine '${cfg.engine}' must be 'docker' or 'podman'".toString()
    }
    cfg.image = str(cfg.image).trim() ?: str(jenkinsEnv.SLACK_IM_IMAGE).trim()
    if (!(cfg.image ==~ /[A-Za-z0-9][A-Za-z0-9._\/:@-]*/)) {
        problems << "image '${cfg.image}' is not a valid image reference".toString()
    }
    if (cfg.pull != null && !(str(cfg.pull) in ['always', 'missing', 'never'])) {
        problems << "pull '${cfg.pull}' must be 'always', 'missing' or 'never'".toString()
    }
    if (cfg.network != null && !(str(cfg.network) ==~ /[A-Za-z0-9][A-Za-z0-9_.-]*/)) {
        problems << "network '${cfg.network}' must be a network name such as 'host' or 'bridge'".toString()
    }
}

// Workspace paths: the report folder, templates, members file and CA bundle, and where they go in the container.
@NonCPS
void normalizePaths(Map cfg, List<String> problems) {
    final String defaultReportDir = cfg.command == 'export' ? 'slack-im-reports/export' :
        (cfg.multi ? 'slack-im-reports' : "slack-im-reports/${cfg.system}".toString())
    cfg.reportDir = str(cfg.reportDir) ?: defaultReportDir
    workspacePath('reportDir', cfg.reportDir, problems)
    cfg.container.SLACK_IM_REPORT_DIR = '/reports'
    if (cfg.membersFile != null) {
        cfg.membersFile = str(cfg.membersFile)
        workspacePath('membersFile', cfg.membersFile, problems)
        // The report folder is emptied and archived: the members file (personal data) must not lie in it.
        if (cfg.membersFile == cfg.reportDir || cfg.membersFile.startsWith("${cfg.reportDir}/")) {
            problems << ("membersFile '${cfg.membersFile}' must not lie in the report folder '${cfg.reportDir}' " +
                '(emptied before the run and archived after it)').toString()
        }
        if (cfg.command != 'export') {
            cfg.container.SLACK_IM_MEMBERS_FILE = '/members/members.json'
        }
    }
    if (cfg.planFile != null) {
        cfg.planFile = str(cfg.planFile)
        workspacePath('planFile', cfg.planFile, problems)
        if (!(cfg.command in ['plan', 'sync'])) {
            problems << ("planFile does not apply to command '${cfg.command}' (command 'plan' saves the plan " +
                "there, 'sync' applies exactly that plan)").toString()
        }
        // The report folder is emptied before every run: a plan kept there would be gone before its apply.
        if (cfg.planFile == cfg.reportDir || cfg.planFile.startsWith("${cfg.reportDir}/")) {
            problems << ("planFile '${cfg.planFile}' must not lie in the report folder '${cfg.reportDir}' " +
                '(emptied before the run and archived after it)').toString()
        }
    }
    if (cfg.templatesDir != null) {
        cfg.templatesDir = str(cfg.templatesDir)
        workspacePath('templatesDir', cfg.templatesDir, problems)
        cfg.container.SLACK_IM_TEMPLATES = '/workspace-templates'
    }
    // The targets' CA bundle (SSL_CERT_FILE) and Slack's (SLACK_IM_SLACK_CA_FILE): slack-im never
    // trusts the first for Slack.
    for (List names : [['caCredentialsId', 'caBundle', 'SSL_CERT_FILE', '/etc/slack-im/ca.pem'],
                       ['slackCaCredentialsId', 'slackCaBundle', 'SLACK_IM_SLACK_CA_FILE', '/etc/slack-im/slack-ca.pem']]) {
        final String credential = names[0], bundle = names[1]
        if (cfg[credential] != null && cfg[bundle] != null) {
            problems << "${credential} and ${bundle} are exclusive: give one CA bundle".toString()
        }
        if (cfg[bundle] != null && !(str(cfg[bundle]) ==~ /[A-Za-z0-9_.\/-]+/)) {
            problems << "${bundle} '${cfg[bundle]}' must be a plain file path on the agent".toString()
        }
        cfg[credential] = cfg[credential] == null ? null : str(cfg[credential])
        cfg[bundle] = cfg[bundle] == null ? null : str(cfg[bundle])
        if (cfg[bundle] || cfg[credential]) {
            cfg.container[names[2]] = names[3]
        }
    }
}

/*
 * slack-im's variables: the named parameters (through variableParameters()), `variables`, `vars`, and
 * each system's own (suffixed __<SYSTEM>). Only names are checked here; slack-im validates the values.
 */
@NonCPS
void normalizeVariables(Map cfg, Map args, List<String> problems) {
    final Map table = variableParameters()
    // targetUrl: is this call's URL for the system of this call: SLACK_IM_TARGET_URL__<SYSTEM>, which
    // may point anywhere (the binary holds only the unsuffixed one to the folder's host). With
    // systems:, each system gives its own; a shared one stays unsuffixed, and the binary refuses it.
    final Map<String, String> named = [targetUrl: !cfg.multi && cfg.systems ?
        "SLACK_IM_TARGET_URL__${envSuffix(cfg.systems[0])}".toString() : table.targetUrl]
    for (Map.Entry e : table.entrySet()) {
        if (args[e.key] != null && !(cfg.command == 'export' && e.key == 'dryRun')) {
            putVariable(cfg, named[e.key] ?: e.value, e.key, args[e.key], problems)
        }
    }
    cfg.owned = ownedVariables()
    passThrough(cfg, 'variables', cfg.variables, '', problems)
    if (args.targetUrl != null && !cfg.multi && cfg.container.containsKey(table.targetUrl)) {
        problems << "targetUrl and variables.${table.targetUrl} both give the URL of ${cfg.system}: give one".toString()
    }
    addVars(cfg, 'vars', cfg.vars, '', problems)
    for (Map.Entry e : cfg.perSystem.entrySet()) {
        final Map one = e.value
        final String where = "systems.${e.key}"
        if (cfg.multi && !(one.settings instanceof Map)) {
            problems << "${where} must be a map of settings, not '${one.settings}'".toString()
            continue
        }
        final Map settings = cfg.multi ? one.settings : [:]
        final List<String> known = ['vars', 'secrets', 'targetCredentialsId', 'variables']
        known.addAll(perSystemParameters())
        for (def k : settings.keySet()) {
            if (!(k in known)) {
                final String hint = closest(k.toString(), known)
                problems << ("${where}: unknown setting '${k}'${hint ? " (did you mean '${hint}'?)" : ''}; " +
                    "known: ${known.join(', ')}").toString()
            }
        }
        for (String k : perSystemParameters()) {
            if (settings[k] != null) {
                putVariable(cfg, "${table[k]}${one.suffix}", "${where}.${k}", settings[k], problems)
            }
        }
        passThrough(cfg, "${where}.variables", settings.variables ?: [:], one.suffix, problems)
        addVars(cfg, "${where}.vars", settings.vars ?: [:], one.suffix, problems)
        // The job's or global SLACK_IM_TARGET_URL__<SYSTEM> (suffixed), else SLACK_IM_TARGET_URL
        // (unsuffixed, one system only), when no parameter gave the URL.
        if (one.envUrl && !cfg.container.containsKey(one.ownUrl) &&
                !cfg.container.containsKey("SLACK_IM_TARGET_URL${one.suffix}".toString())) {
            cfg.container[one.envUrlVar] = one.envUrl
        }
        // The job's or global SLACK_IM_EMAIL_DOMAINS(__<SYSTEM>) when no parameter gave them.
        final String domains = "SLACK_IM_EMAIL_DOMAINS${one.suffix}"
        if (one.envDomains && !cfg.container.containsKey(domains) &&
                !cfg.container.containsKey('SLACK_IM_EMAIL_DOMAINS')) {
            cfg.container[domains] = one.envDomains
        }
    }
}

// Credential ids -> secrets (bound with withCredentials, written into the container as files).
@NonCPS
void normalizeCredentials(Map cfg, Map args, List<String> problems) {
    cfg.slackCredentialsId = str(cfg.slackCredentialsId).trim()
    if (!cfg.slackCredentialsId) {
        problems << 'slackCredentialsId must name a Secret text credential holding the Slack bot token'
    }
    // A sync from a members file reads no Slack: the token is only bound when asked for, or to post.
    final boolean posts = cfg.container.containsKey('SLACK_IM_NOTIFY_CHANNEL')
    if (!(cfg.membersFile && cfg.command != 'export' && args.slackCredentialsId == null && !posts)) {
        addSecretFile(cfg, 'SLACK_BOT_TOKEN', 'SLACK_BOT_TOKEN_FILE', cfg.slackCredentialsId)
    }
    normalizeMembersKey(cfg, args, problems)
    if (cfg.command == 'export') {
        return
    }
    final boolean noToken = args.containsKey('targetCredentialsId') &&
        (args.targetCredentialsId == false || str(args.targetCredentialsId).trim() == '')
    if (cfg.multi && args.targetCredentialsId != null && !noToken) {
        problems << "targetCredentialsId names one system's token: with 'systems', each system's is " +
            "'slack-im-<system>-target-token', or give it per system (systems: [dev: [targetCredentialsId: '…']])"
    }
    for (Map.Entry e : cfg.perSystem.entrySet()) {
        final Map settings = cfg.multi && e.value.settings instanceof Map ? e.value.settings : [:]
        final def token = cfg.multi ? settings.targetCredentialsId : args.targetCredentialsId
        final boolean none = cfg.multi ? (settings.containsKey('targetCredentialsId') &&
            (token == false || str(token).trim() == '')) || (noToken && token == null) : noToken
        if (!none) {
            addSecretFile(cfg, "SLACK_IM_SECRET_TARGET_TOKEN${e.value.suffix}".toString(),
                "SLACK_IM_SECRET_TARGET_TOKEN_FILE${e.value.suffix}".toString(),
                str(token).trim() ?: "slack-im-${e.key}-target-token".toString())
        }
    }
    addSecrets(cfg, 'secrets', cfg.secrets, '', problems)
    for (Map.Entry e : cfg.perSystem.entrySet()) {
        if (cfg.multi && e.value.settings instanceof Map) {
            addSecrets(cfg, "systems.${e.key}.secrets", e.value.settings.secrets ?: [:], e.value.suffix, problems)
        }
    }
}

/*
 * The members file's key (issue 20): export signs the file with it, every run from the file checks it.
 * A Secret text credential, default slack-im-members-key whenever membersFile is given; `false` gives
 * none (the binary then refuses the file unless SLACK_IM_MEMBERS_UNSIGNED=allow). It reaches the
 * container as the file SLACK_IM_MEMBERS_KEY_FILE names, never as an environment value.
 */
@NonCPS
void normalizeMembersKey(Map cfg, Map args, List<String> problems) {
    final def given = args.membersKeyCredentialsId
    final boolean none = args.containsKey('membersKeyCredentialsId') && (given == false || str(given).trim() == '')
    cfg.membersKeyCredentialsId = null
    if (!cfg.membersFile) {
        if (given != null && !none) {
            problems << ('membersKeyCredentialsId needs membersFile: the key signs and checks a members file ' +
                '(export writes it, sync/plan/check read it)')
        }
        return
    }
    if (!none) {
        cfg.membersKeyCredentialsId = str(given).trim() ?: 'slack-im-members-key'
        cfg.container.SLACK_IM_MEMBERS_KEY_FILE = '/etc/slack-im/members.key'
    }
}
