/* groovylint-disable Instanceof */
// (Instanceof: the parameters come from callers' untyped maps, so the type checks are the validation.)
/*
 * slackImSync: run the slack-im container image for one system, or several from one Slack read, from
 * a Jenkins pipeline; or export the Slack members to a file for agents that cannot reach Slack.
 *
 *   slackImSync(system: 'dev')                                  // image: env.SLACK_IM_IMAGE, URL: the folder's
 *   slackImSync(systems: ['dev', 'model-office'])               // one container run, one Slack read
 *   slackImSync(command: 'export', membersFile: 'members.json') // then: membersFile: 'members.json'
 *
 * Every parameter is documented in the defaults map below and in vars/slackImSync.txt.
 *
 * Safety rules this step keeps (and test/SlackImSyncTest.groovy pins):
 *  - the shell script given to `sh` is a constant single-quoted string: every value (image, URL,
 *    template variables, secrets) reaches it through the environment, never through Groovy
 *    interpolation, so nothing can be injected and no secret lands in the script or the argv;
 *  - secrets come only from `withCredentials` and reach the container by name (`-e SLACK_BOT_TOKEN`),
 *    so their values never appear in the process list or in the Pipeline step view;
 *  - the list of names handed to the container is built from validated names ([A-Z0-9_]) only;
 *  - the exit code owns the verdict: 0 success, 3/4 UNSTABLE, anything else fails the build.
 */

// Meaning of each exit code of the slack-im binary (and of the container engine around it).
@NonCPS
Map exitCodeMeanings() {
    return [
        0  : 'done',
        1  : 'failed before completing (Slack, target listing or network)',
        2  : 'bad configuration or template',
        3  : 'partial: some actions failed, the rest applied',
        4  : 'a guard withheld deactivations, everything else applied',
        125: 'the container engine could not create, fill or run the container (engine, image, options, copies)',
        126: 'the image entrypoint could not be executed',
        127: 'the container engine or the image entrypoint was not found',
        137: 'the container was killed (timeout, out of memory or aborted build)',
    ]
}

@NonCPS
Map defaultConfig() {
    return [
        // the system to sync = folder templates/<system>/ (SLACK_IM_SYSTEM); this or `systems`
        system: null,
        // several systems from one Slack read (SLACK_IM_SYSTEM=a,b): ['dev', 'model-office'], or a map
        // name -> per-system settings
        // [targetUrl, targetCredentialsId, vars, secrets, emailDomains, protect, maxDeactivate]
        systems: null,
        // base URL of the system's API (SLACK_IM_TARGET_URL); default: env.SLACK_IM_TARGET_URL, else the
        // "url" of the system's system.json
        targetUrl: null,
        // slack-im subcommand: 'sync', 'plan' (dry run), 'check' or 'export' (Slack members -> membersFile)
        command: 'sync',
        // true: read and plan only (SLACK_IM_DRY_RUN=true)
        dryRun: false,
        // container image reference, e.g. 'registry.example.com/slack-im/slack-im:1.2.0'; default env.SLACK_IM_IMAGE
        image: null,
        // image pull policy: null (engine default), 'always', 'missing' or 'never'
        pull: null,
        // 'docker' or 'podman'; default: env.CONTAINER_BIN if it is one of them, else 'docker'
        engine: null,
        // container network, e.g. 'host'; default: the engine's default network
        network: null,
        // Secret text credential with the bot token (SLACK_BOT_TOKEN)
        slackCredentialsId: 'slack-im-slack-bot-token',
        // Secret text (SLACK_IM_SECRET_TARGET_TOKEN); default "slack-im-<system>-target-token"; '' or false: none
        targetCredentialsId: null,
        // [name: 'credentials-id'] Secret text credentials -> SLACK_IM_SECRET_<NAME> (secrets.<name>)
        secrets: [:],
        // [name: 'value'] template variables -> SLACK_IM_VAR_<NAME> (vars.<name>)
        vars: [:],
        // Slack channel to post the run's summary to (SLACK_IM_NOTIFY_CHANNEL)
        notifyChannel: null,
        // only members of this Slack channel id (SLACK_IM_CHANNEL)
        channel: null,
        // true: also sync guest accounts (SLACK_IM_INCLUDE_GUESTS)
        includeGuests: null,
        // list or comma string: only these e-mail domains (SLACK_IM_EMAIL_DOMAINS)
        emailDomains: null,
        // list or comma string: e-mails / Slack ids never synced (SLACK_IM_EXCLUDE)
        exclude: null,
        // list or comma string: target keys never updated or deactivated (SLACK_IM_PROTECT)
        protect: null,
        // guard: most deactivations one run may make (SLACK_IM_MAX_DEACTIVATE)
        maxDeactivate: null,
        // parallel target writes (SLACK_IM_CONCURRENCY)
        concurrency: null,
        // per HTTP request timeout in seconds (SLACK_IM_TIMEOUT_SECS)
        requestTimeoutSecs: null,
        // Slack API base URL (SLACK_IM_SLACK_URL), for proxies and tests
        slackUrl: null,
        // workspace id for Enterprise Grid org tokens (SLACK_IM_SLACK_TEAM_ID)
        slackTeamId: null,
        // RUST_LOG filter, e.g. 'debug' or 'info,slack_im=debug'
        logLevel: null,
        // Secret file credential with an extra PEM CA bundle (copied in, SSL_CERT_FILE)
        caCredentialsId: null,
        // path on the agent (absolute or workspace-relative) of an extra PEM CA bundle (copied in, SSL_CERT_FILE)
        caBundle: null,
        // workspace folder of templates, copied in and used instead of the image's (SLACK_IM_TEMPLATES)
        templatesDir: null,
        // workspace file of Slack members: written by command 'export'; read instead of Slack by the
        // other commands (copied in, SLACK_IM_MEMBERS_FILE); personal data
        membersFile: null,
        // oldest members file accepted, e.g. '2h', '90m', '1d', seconds (SLACK_IM_MEMBERS_MAX_AGE; default 24h)
        membersMaxAge: null,
        // workspace folder for the reports; default "slack-im-reports/<system>" (several systems:
        // "slack-im-reports", each system's reports in <reportDir>/<system>/; export: "slack-im-reports/export")
        reportDir: null,
        // the run is aborted after this many minutes
        timeoutMinutes: 30,
        // false: never call error()/unstable(); the caller decides from the result
        propagate: true,
    ]
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

    final String reportDir = cfg.reportDir
    if (movingTag(cfg.image) && cfg.pull != 'always') {
        echo "slack-im: WARNING: image ${cfg.image} has a moving tag; without pull: 'always' the agent may run " +
             'an old copy. Pin a version or set pull: \'always\'.'
    }
    // Before anything else (credentials, engine): no previous build's report can be published as this one's.
    emptyReportDir(reportDir)
    if (cfg.membersFile && cfg.command != 'export' && !fileExists(cfg.membersFile)) {
        error("slackImSync: membersFile '${cfg.membersFile}' is not in the workspace; export it first " +
              "(slackImSync(command: 'export', membersFile: '${cfg.membersFile}')) or unstash it on this agent")
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
            archiveArtifacts(artifacts: "${reportDir}/**", allowEmptyArchive: true, fingerprint: false)
            // The exit code owns the verdict: junit only records the per-account results.
            // skipMarkingStageUnstable too: otherwise junit still marks the stage UNSTABLE on failed cases.
            junit(allowEmptyResults: true, skipMarkingBuildUnstable: true, skipMarkingStageUnstable: true,
                  testResults: "${reportDir}/junit.xml")
            summary = readSummary("${reportDir}/summary.json", cfg.runId)
            description = describeRun(cfg, rc, summary)
            if (description) {
                final String previous = currentBuild.description
                currentBuild.description = previous ? "${previous}; ${description}" : description
            }
        }
    }
    return verdict(cfg, rc, summary, description)
}

Map verdict(Map cfg, Integer rc, def summary, String description) {
    final String meaning = exitCodeMeanings()[rc] ?: 'unexpected exit code'
    final Map result = [exitCode: rc, meaning: meaning, summary: summary,
                        reportDir: cfg.reportDir, description: description]
    final String what = "slack-im ${cfg.command} (${cfg.label})"
    if (rc == 0) {
        echo "${what}: ${description}"
        result.result = 'SUCCESS'
        return result
    }
    final String errors = firstErrors(summary, 5)
    final String details = errors ? " First errors: ${errors}" :
        " See the console log and the archived ${cfg.reportDir}/summary.md."
    final String message = "${what} exited with code ${rc}: ${meaning}.${details}"
    if (rc == 3 || rc == 4) {
        result.result = 'UNSTABLE'
        if (cfg.propagate) {
            unstable(message)
        } else {
            echo message
        }
        return result
    }
    result.result = 'FAILURE'
    if (cfg.propagate) {
        error(message)
    }
    echo message
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
    if (summary == null) {
        return null
    }
    // Only this run's summary counts: the container echoes SLACK_IM_RUN_ID back as run_id.
    final String got = summary instanceof Map ? str(summary.run_id) : ''
    if (got != runId) {
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

// JsonSlurper's maps are lazy and not serializable: copy them into plain maps and lists before they
// reach CPS code (which may save them with the build).
@NonCPS
def parseJson(String text) {
    return plainCopy(new groovy.json.JsonSlurper().parseText(text))
}

@NonCPS
def plainCopy(def value) {
    if (value instanceof Map) {
        final Map out = [:]
        for (Map.Entry e : ((Map) value).entrySet()) {
            out[e.key.toString()] = plainCopy(e.value)
        }
        return out
    }
    if (value instanceof List) {
        final List out = []
        for (def item : (List) value) {
            out << plainCopy(item)
        }
        return out
    }
    return value
}

/*
 * The build description of a run: one line per system ("dev: +3 created, …"). With several systems the
 * lines come from the combined summary.json's `systems` (each with its own exit code); without this
 * run's summary, one line naming every system and the run's exit code.
 */
@NonCPS
String describeRun(Map cfg, Integer rc, def summary) {
    if (cfg.command == 'export') {
        if (rc == null) {
            return null
        }
        return rc == 0 ? "members exported to ${cfg.membersFile}".toString() :
            "members export failed, exit ${rc}: ${exitCodeMeanings()[rc] ?: 'unexpected exit code'}".toString()
    }
    if (!cfg.multi) {
        return describe(cfg.system, cfg.command, rc, summary)
    }
    final List perSystem = summary instanceof Map && summary.systems instanceof List ? summary.systems : []
    if (perSystem.isEmpty()) {
        return describe(cfg.label, cfg.command, rc, summary)
    }
    final List<String> lines = []
    for (def s : perSystem) {
        if (s instanceof Map) {
            final Integer code = str(s.exit_code).isInteger() ? str(s.exit_code).toInteger() : rc
            lines << describe(str(s.system) ?: '?', cfg.command, code, s)
        }
    }
    return lines.join('\n')
}

// "dev: +3 created, 1 updated, 0 deactivated" (plus failed / withheld / skipped when not zero).
@NonCPS
String describe(String system, String command, Integer rc, def summary) {
    if (rc != null && !(rc in [0, 3, 4])) {
        // Nothing (or not everything) was attempted: the counts would mislead.
        return "${system}: ${command} failed, exit ${rc}: ${exitCodeMeanings()[rc] ?: 'unexpected exit code'}"
    }
    if (summary == null || !(summary.counts instanceof Map)) {
        if (rc == null) {
            return null
        }
        // Exit 3/4 without this run's summary: say what the exit code says, not 'ok'.
        return rc == 0 ? "${system}: ${command} ok" :
            "${system}: ${command} exit ${rc}: ${exitCodeMeanings()[rc]} (no summary.json from this run)"
    }
    final Map c = summary.counts
    final boolean dry = asBool(summary.dry_run) || command == 'plan'
    String text
    if (dry) {
        text = "${system} (dry run): +${num(c.create)} to create, ${num(c.update)} to update, " +
            "${num(c.deactivate)} to deactivate"
    } else {
        text = "${system}: +${num(c.create)} created, ${num(c.update)} updated, ${num(c.deactivate)} deactivated"
    }
    for (String k : ['failed', 'withheld']) {
        if (num(c[k]) > 0) {
            text += ", ${num(c[k])} ${k}"
        }
    }
    if (rc != null && rc != 0) {
        text += " (exit ${rc})"
    }
    return text
}

// The first `max` problems recorded in summary.json: failed actions, then withheld ones, then any top-level error.
@NonCPS
String firstErrors(def summary, int max) {
    if (summary == null) {
        return ''
    }
    final List<String> out = []
    // Several systems: each system's own problems, named by system (the combined `error` only joins
    // the systems' errors, so it is not repeated).
    if (summary instanceof Map && summary.systems instanceof List && !((List) summary.systems).isEmpty()) {
        for (def s : summary.systems) {
            if (s instanceof Map) {
                out.addAll(errorsOf(s, "${str(s.system)}: "))
            }
        }
    } else {
        out.addAll(errorsOf(summary, ''))
    }
    final int total = out.size()
    final List<String> shown = total > max ? out.subList(0, max) : out
    return shown.join('; ') + (total > max ? " (and ${total - max} more)" : '')
}

// One summary's problems: its error, then its failed and withheld actions.
@NonCPS
List<String> errorsOf(def summary, String prefix) {
    final List<String> out = []
    if (!(summary instanceof Map)) {
        return out
    }
    if (str(summary.error)) {
        out << "${prefix}${str(summary.error)}".toString()
    }
    final def actions = summary.actions instanceof List ? summary.actions : []
    for (String wanted : ['failed', 'withheld']) {
        for (def a : actions) {
            if (a instanceof Map && str(a.status) == wanted) {
                final String err = str(a.error) ?: wanted
                out << "${prefix}${str(a.action)} ${str(a.key) ?: str(a.slack_id)}: ${err}".toString()
            }
        }
    }
    return out
}

// 'x:latest' or no tag at all (and no digest).
@NonCPS
boolean movingTag(String image) {
    final String last = image.contains('/') ? image.substring(image.lastIndexOf('/') + 1) : image
    return !image.contains('@') && (!last.contains(':') || last.endsWith(':latest'))
}

@NonCPS
String str(def v) {
    return (v == null || v.toString() == 'null') ? '' : v.toString()
}

@NonCPS
int num(def v) {
    return (v instanceof Number) ? v.intValue() : (str(v).isInteger() ? str(v).toInteger() : 0)
}

@NonCPS
boolean asBool(def v) {
    return v instanceof Boolean ? v : str(v) == 'true'
}

/*
 * The environment of the run: step-internal SLACK_IM_JENKINS_* settings (read by the shell script,
 * never passed to the container) and the container's own variables, whose NAMES are listed in
 * SLACK_IM_JENKINS_ENV_NAMES and passed with `-e NAME` (the engine reads each value from this environment).
 */
@NonCPS
List<String> containerEnv(Map cfg) {
    final Map<String, String> container = [:]
    if (cfg.command != 'export') {
        container.SLACK_IM_SYSTEM = cfg.multi ? cfg.systems.join(',') : cfg.system
        // Absent: the system folder's "url" (system.json) applies.
        container.SLACK_IM_TARGET_URL = str(cfg.targetUrl)
    }
    container.SLACK_IM_REPORT_DIR = '/reports'
    container.SLACK_IM_RUN_ID = cfg.runId
    if (cfg.dryRun) {
        container.SLACK_IM_DRY_RUN = 'true'
    }
    final Map optional = [
        notifyChannel     : 'SLACK_IM_NOTIFY_CHANNEL',
        channel           : 'SLACK_IM_CHANNEL',
        includeGuests     : 'SLACK_IM_INCLUDE_GUESTS',
        emailDomains      : 'SLACK_IM_EMAIL_DOMAINS',
        exclude           : 'SLACK_IM_EXCLUDE',
        protect           : 'SLACK_IM_PROTECT',
        maxDeactivate     : 'SLACK_IM_MAX_DEACTIVATE',
        concurrency       : 'SLACK_IM_CONCURRENCY',
        requestTimeoutSecs: 'SLACK_IM_TIMEOUT_SECS',
        slackUrl          : 'SLACK_IM_SLACK_URL',
        slackTeamId       : 'SLACK_IM_SLACK_TEAM_ID',
        logLevel          : 'RUST_LOG',
        membersMaxAge     : 'SLACK_IM_MEMBERS_MAX_AGE',
    ]
    for (Map.Entry e : optional.entrySet()) {
        if (cfg[e.key] != null) {
            container[e.value] = cfg[e.key].toString()
        }
    }
    if (cfg.caBundle || cfg.caCredentialsId) {
        container.SSL_CERT_FILE = '/etc/slack-im/ca.pem'
    }
    if (cfg.templatesDir) {
        // copied into the container there (the image's own /templates stay untouched)
        container.SLACK_IM_TEMPLATES = '/workspace-templates'
    }
    if (cfg.membersFile && cfg.command != 'export') {
        // copied into the container there; read instead of Slack
        container.SLACK_IM_MEMBERS_FILE = '/members/members.json'
    }
    for (Map.Entry e : cfg.vars.entrySet()) {
        container["SLACK_IM_VAR_${e.key}".toString()] = e.value
    }
    // Several systems: each system's own values carry the suffix __<SYSTEM> and win over the shared ones.
    for (Map.Entry e : cfg.perSystem.entrySet()) {
        final Map one = e.value
        final String suffix = "__${one.suffix}"
        final Map perSystemNames = [targetUrl: 'SLACK_IM_TARGET_URL', emailDomains: 'SLACK_IM_EMAIL_DOMAINS',
                                    protect: 'SLACK_IM_PROTECT', maxDeactivate: 'SLACK_IM_MAX_DEACTIVATE']
        for (Map.Entry n : perSystemNames.entrySet()) {
            if (one[n.key] != null) {
                container["${n.value}${suffix}".toString()] = one[n.key].toString()
            }
        }
        for (Map.Entry v : one.vars.entrySet()) {
            container["SLACK_IM_VAR_${v.key}${suffix}".toString()] = v.value
        }
    }

    // An empty value is left out: withEnv drops a variable whose value is empty, and slack-im reads an
    // empty variable as unset anyway; so `-e NAME` is only given for a variable that has a value.
    final List<String> names = []
    final List<String> env = []
    for (Map.Entry e : container.entrySet()) {
        if (str(e.value) != '') {
            names << e.key.toString()
            env << "${e.key}=${e.value}".toString()
        }
    }
    names.addAll(secretVariables(cfg).keySet())

    env << "SLACK_IM_JENKINS_ENV_NAMES=${names.join(' ')}".toString()
    env << "SLACK_IM_JENKINS_ENGINE=${cfg.engine}".toString()
    env << "SLACK_IM_JENKINS_IMAGE=${cfg.image}".toString()
    env << "SLACK_IM_JENKINS_COMMAND=${cfg.command}".toString()
    env << "SLACK_IM_JENKINS_REPORT_DIR=${cfg.reportDir}".toString()
    env << "SLACK_IM_JENKINS_CONTAINER_NAME=${cfg.containerName}".toString()
    final Map<String, String> optionalSettings = [
        SLACK_IM_JENKINS_NETWORK      : str(cfg.network),
        SLACK_IM_JENKINS_PULL         : str(cfg.pull),
        SLACK_IM_JENKINS_TEMPLATES_DIR: str(cfg.templatesDir),
        SLACK_IM_JENKINS_CA_FILE      : str(cfg.caBundle),
        SLACK_IM_JENKINS_MEMBERS_FILE : str(cfg.membersFile),
    ]
    for (Map.Entry e : optionalSettings.entrySet()) {
        if (e.value) {
            env << "${e.key}=${e.value}".toString()
        }
    }
    return env
}

// Secret variable name -> credentials id (all Secret text).
@NonCPS
Map<String, String> secretVariables(Map cfg) {
    final Map<String, String> out = [:]
    // null: a sync from a members file without a Slack post needs no Slack token
    if (cfg.slackCredentialsId) {
        out.SLACK_BOT_TOKEN = cfg.slackCredentialsId
    }
    if (cfg.targetCredentialsId) {
        out.SLACK_IM_SECRET_TARGET_TOKEN = cfg.targetCredentialsId
    }
    for (Map.Entry e : cfg.secrets.entrySet()) {
        out["SLACK_IM_SECRET_${e.key}".toString()] = e.value
    }
    for (Map.Entry e : cfg.perSystem.entrySet()) {
        final Map one = e.value
        if (one.targetCredentialsId) {
            out["SLACK_IM_SECRET_TARGET_TOKEN__${one.suffix}".toString()] = one.targetCredentialsId
        }
        for (Map.Entry c : one.secrets.entrySet()) {
            out["SLACK_IM_SECRET_${c.key}__${one.suffix}".toString()] = c.value
        }
    }
    return out
}

List credentialBindings(Map cfg) {
    final List bindings = []
    final Map<String, String> secretVars = secretVariables(cfg)
    for (String variable : secretVars.keySet()) {
        bindings << string(credentialsId: secretVars[variable], variable: variable)
    }
    if (cfg.caCredentialsId) {
        bindings << file(credentialsId: cfg.caCredentialsId, variable: 'SLACK_IM_JENKINS_CA_FILE')
    }
    return bindings
}

// Shell function shared by the scripts: exits with code $2 when $PWD/$1 is, or lies under, a symbolic link.
String refuseSymlinksFunction() {
    return '''\
refuse_symlinks() {
  path="$PWD"
  old_ifs="$IFS"
  IFS=/
  set -f
  for segment in $1; do
    path="$path/$segment"
    if [ -L "$path" ]; then
      echo "slack-im: $path is a symbolic link: refusing to use the report folder through it" >&2
      exit "$2"
    fi
  done
  set +f
  IFS="$old_ifs"
}
'''
}

/*
 * Empties the report folder: a constant script; the folder comes from SLACK_IM_JENKINS_REPORT_DIR
 * (validated: relative, no '..'). Exit 3: a symbolic link on the path; 1: could not empty it.
 */
String prepareScript() {
    return 'set +x\n' + refuseSymlinksFunction() + '''\
refuse_symlinks "$SLACK_IM_JENKINS_REPORT_DIR" 3
report_dir="$PWD/$SLACK_IM_JENKINS_REPORT_DIR"
if ! rm -rf "$report_dir" || ! mkdir -p "$report_dir"; then
  echo "slack-im: cannot empty the report folder $report_dir" >&2
  exit 1
fi
'''
}

/*
 * The script run by `sh`: a constant. POSIX sh, works under Jenkins' `sh -xe` and plain `sh`.
 * Nothing from the agent is bind-mounted: the engine's daemon may run elsewhere (DOCKER_HOST=tcp://…,
 * a dind sidecar, docker.sock mounted into an agent container), where agent paths do not exist or are
 * other files. The container is created, its inputs (report folder, CA bundle, templates) copied in,
 * started, and the reports copied out; it is removed on exit.
 * Exit codes: the container's, or 125 (engine, copy or report folder problem), 127 (engine not found).
 */
String runScript() {
    return 'set +x\n' + refuseSymlinksFunction() + '''\
engine="$SLACK_IM_JENKINS_ENGINE"
name="$SLACK_IM_JENKINS_CONTAINER_NAME"
refuse_symlinks "$SLACK_IM_JENKINS_REPORT_DIR" 125
report_dir="$PWD/$SLACK_IM_JENKINS_REPORT_DIR"
fail() {
  echo "slack-im: $*" >&2
  exit 125
}
if ! command -v "$engine" >/dev/null 2>&1; then
  echo "slack-im: container engine '$engine' not found on this agent" >&2
  exit 127
fi
mkdir -p "$report_dir" || fail "cannot create the report folder $report_dir"
stage=$(mktemp -d "${TMPDIR:-/tmp}/slack-im.XXXXXX") || fail "cannot create a temporary folder"
created=""
finish() {
  if [ -n "$created" ]; then
    "$engine" rm -f "$name" >/dev/null 2>&1 || true
  fi
  rm -rf "$stage"
}
trap finish EXIT
trap 'exit 143' HUP INT TERM
# The container's user (65532) writes /reports.
mkdir "$stage/in" "$stage/in/reports" && chmod 0777 "$stage/in/reports" || fail "cannot prepare $stage"
if [ -n "${SLACK_IM_JENKINS_CA_FILE:-}" ]; then
  case "$SLACK_IM_JENKINS_CA_FILE" in
    /*) ca="$SLACK_IM_JENKINS_CA_FILE" ;;
    *) ca="$PWD/$SLACK_IM_JENKINS_CA_FILE" ;;
  esac
  # A copy the container's user can read: a Secret file credential is 0400 in a 0700 folder.
  mkdir -p "$stage/in/etc/slack-im" && cp "$ca" "$stage/in/etc/slack-im/ca.pem" &&
    chmod 0444 "$stage/in/etc/slack-im/ca.pem" || fail "cannot read the CA bundle $ca"
fi
if [ -n "${SLACK_IM_JENKINS_TEMPLATES_DIR:-}" ]; then
  templates="$PWD/$SLACK_IM_JENKINS_TEMPLATES_DIR"
  [ -d "$templates" ] || fail "templatesDir $SLACK_IM_JENKINS_TEMPLATES_DIR is not a folder in the workspace"
  cp -R "$templates" "$stage/in/workspace-templates" && chmod -R a+rX "$stage/in/workspace-templates" ||
    fail "cannot copy the templates from $templates"
fi
# The members file (personal data): export writes it in the container's /members (copied out below);
# sync, plan and check read the workspace file copied in there.
members=""
if [ -n "${SLACK_IM_JENKINS_MEMBERS_FILE:-}" ]; then
  refuse_symlinks "$SLACK_IM_JENKINS_MEMBERS_FILE" 125
  members="$PWD/$SLACK_IM_JENKINS_MEMBERS_FILE"
  mkdir "$stage/in/members" || fail "cannot prepare $stage"
  if [ "$SLACK_IM_JENKINS_COMMAND" = export ]; then
    # never leave an older export in place of a failed one
    rm -f "$members" && chmod 0777 "$stage/in/members" || fail "cannot remove the old members file $members"
  else
    [ -f "$members" ] || fail "membersFile $SLACK_IM_JENKINS_MEMBERS_FILE is not a file in the workspace"
    cp "$members" "$stage/in/members/members.json" && chmod 0444 "$stage/in/members/members.json" ||
      fail "cannot copy the members file $members"
  fi
fi
set -- create --name "$name" --cap-drop ALL --security-opt no-new-privileges
if [ -n "${SLACK_IM_JENKINS_PULL:-}" ]; then
  set -- "$@" --pull "$SLACK_IM_JENKINS_PULL"
fi
if [ -n "${SLACK_IM_JENKINS_NETWORK:-}" ]; then
  set -- "$@" --network "$SLACK_IM_JENKINS_NETWORK"
fi
# Names only: the engine client reads each value from this environment.
for variable in $SLACK_IM_JENKINS_ENV_NAMES; do
  set -- "$@" -e "$variable"
done
set -- "$@" "$SLACK_IM_JENKINS_IMAGE" "$SLACK_IM_JENKINS_COMMAND"
if [ "$SLACK_IM_JENKINS_COMMAND" = export ]; then
  set -- "$@" /members/members.json
fi
echo "slack-im: $engine $*"
created=1
"$engine" "$@" >/dev/null || fail "$engine create failed (engine, image or options)"
"$engine" cp "$stage/in/." "$name:/" || fail "$engine cp could not copy the inputs into the container"
echo "slack-im: $engine start --attach $name"
rc=0
"$engine" start --attach "$name" || rc=$?
if ! "$engine" cp "$name:/reports/." "$report_dir"; then
  echo "slack-im: WARNING: could not copy the reports out of the container" >&2
fi
if [ "$SLACK_IM_JENKINS_COMMAND" = export ] && [ "$rc" = 0 ]; then
  mkdir -p "$(dirname "$members")" && "$engine" cp "$name:/members/members.json" "$members" &&
    chmod 0600 "$members" || { echo "slack-im: could not copy the members file out of the container" >&2; rc=125; }
fi
echo "slack-im: exit code $rc"
exit "$rc"
'''
}

String cleanupScript() {
    return '"$SLACK_IM_JENKINS_ENGINE" rm -f "$SLACK_IM_JENKINS_CONTAINER_NAME" >/dev/null 2>&1 || true'
}

// ---------------------------------------------------------------------------------------------
// Validation: every problem is collected, then reported at once with error().

Map validate(Map args) {
    final List<String> problems = []
    // The job's, folder's or global environment: only the variables the step reads (env is no Map).
    final Map<String, String> jenkinsEnv = [:]
    for (String name : envNamesRead(args)) {
        final def value = env?."${name}"
        if (value != null) {
            jenkinsEnv[name] = value.toString()
        }
    }
    final Map cfg = normalize(args, jenkinsEnv, problems)
    if (problems) {
        error("slackImSync: invalid parameters:\n  - ${problems.join('\n  - ')}\n" +
              'See the slackImSync help (vars/slackImSync.txt) for every parameter.')
    }
    return cfg
}

// SLACK_IM_IMAGE, SLACK_IM_TARGET_URL, and SLACK_IM_TARGET_URL__<SYSTEM> for every system named.
@NonCPS
List<String> envNamesRead(Map args) {
    final List<String> names = ['CONTAINER_BIN', 'BUILD_TAG', 'SLACK_IM_IMAGE', 'SLACK_IM_TARGET_URL']
    final def systems = args?.systems
    Collection given = systems instanceof Collection ? (Collection) systems : []
    if (systems instanceof Map) {
        given = ((Map) systems).keySet()
    }
    for (def system : given) {
        if (str(system) ==~ /[A-Za-z0-9][A-Za-z0-9_.-]*/) {
            names << "SLACK_IM_TARGET_URL__${envSuffix(str(system))}".toString()
        }
    }
    return names
}

// The suffix of a system's own values: the folder name upper-cased, '-' and '.' written '_'.
@NonCPS
String envSuffix(String system) {
    return system.toUpperCase(Locale.ROOT).replaceAll(/[-.]/, '_')
}

@NonCPS
Map normalize(Map args, Map<String, String> jenkinsEnv, List<String> problems) {
    final String containerBin = jenkinsEnv.CONTAINER_BIN
    final String buildTag = jenkinsEnv.BUILD_TAG
    final Map defaults = defaultConfig()
    final List<String> unknown = []
    for (def k : args.keySet()) {
        if (!defaults.containsKey(k)) {
            unknown << k.toString()
        }
    }
    for (String k : unknown.sort()) {
        final String hint = closest(k, defaults.keySet())
        final String suggestion = hint ? " (did you mean '${hint}'?)" : ''
        final String known = defaults.keySet().join(', ')
        problems << "unknown parameter '${k}'${suggestion}; known parameters: ${known}".toString()
    }
    // A copy of the defaults built by hand: `new LinkedHashMap(Map)` is not on the sandbox whitelist.
    final Map cfg = [:]
    for (Map.Entry e : defaults.entrySet()) {
        cfg[e.key] = e.value
    }
    for (def k : args.keySet()) {
        if (defaults.containsKey(k) && args[k] != null) {
            cfg[k] = args[k]
        }
    }

    cfg.command = str(cfg.command)
    if (!(cfg.command in ['sync', 'plan', 'check', 'export'])) {
        problems << "command '${cfg.command}' must be one of 'sync', 'plan', 'check', 'export'".toString()
    }
    final boolean export = cfg.command == 'export'

    // system or systems (export reads Slack only: neither)
    final boolean hasSystem = args.system != null
    final boolean hasSystems = args.systems != null
    cfg.multi = hasSystems
    cfg.systems = []
    cfg.perSystem = [:]
    String system = ''
    if (export) {
        exportOnlyParameters(args, problems)
        cfg.multi = false
        cfg.label = 'members'
    } else if (hasSystem && hasSystems) {
        problems << "give either 'system' (one system) or 'systems' (several from one Slack read), not both"
    } else if (hasSystems) {
        normalizeSystems(cfg, args.systems, jenkinsEnv, problems)
        cfg.label = cfg.systems.join(', ')
    } else {
        system = str(cfg.system).trim()
        if (!system) {
            problems << "the 'system' parameter is required: the name of the system's templates folder, " +
                "e.g. slackImSync(system: 'dev'), or systems: ['dev', 'model-office']"
        } else if (!validSystemName(system)) {
            problems << ("system '${system}' is not a valid system name " +
                "(letters, digits, '_', '.', '-'; starting with a letter or digit)").toString()
        }
        cfg.label = system
    }
    cfg.system = system

    // targetUrl: the parameter, else the job's/folder's env.SLACK_IM_TARGET_URL, else the folder's "url"
    cfg.targetUrl = str(cfg.targetUrl).trim()
    if (cfg.multi && cfg.targetUrl) {
        problems << "targetUrl is one system's URL: with 'systems', give it per system " +
            "(systems: ['model-office': [targetUrl: 'https://…']]) or leave it to each system folder's \"url\""
    } else if (!cfg.multi && !export && !cfg.targetUrl) {
        cfg.targetUrl = str(jenkinsEnv.SLACK_IM_TARGET_URL).trim()
    }
    urlParam('targetUrl', cfg.targetUrl, problems)

    if (!str(args.engine)) {
        cfg.engine = (containerBin in ['docker', 'podman']) ? containerBin : 'docker'
    }
    cfg.engine = str(cfg.engine)
    if (!(cfg.engine in ['docker', 'podman'])) {
        problems << "engine '${cfg.engine}' must be 'docker' or 'podman'".toString()
    }

    cfg.image = str(cfg.image).trim() ?: str(jenkinsEnv.SLACK_IM_IMAGE).trim()
    if (!cfg.image) {
        problems << "no image: set the 'image' parameter " +
            "(e.g. image: 'registry.example.com/slack-im/slack-im:1.2.0') " +
            'or the environment variable SLACK_IM_IMAGE (job, folder or global properties) to the slack-im image ' +
            'your agents can pull'
    } else if (!(cfg.image ==~ /[A-Za-z0-9][A-Za-z0-9._\/:@-]*/)) {
        problems << "image '${cfg.image}' is not a valid image reference".toString()
    }

    if (cfg.pull != null && !(str(cfg.pull) in ['always', 'missing', 'never'])) {
        problems << "pull '${cfg.pull}' must be 'always', 'missing' or 'never'".toString()
    }
    if (cfg.network != null && !(str(cfg.network) ==~ /[A-Za-z0-9][A-Za-z0-9_.-]*/)) {
        problems << "network '${cfg.network}' must be a network name such as 'host' or 'bridge'".toString()
    }

    // An explicit null (params.DRY_RUN of a job that has no parameters yet) must not become a real sync.
    if (args.containsKey('dryRun') && args.dryRun == null) {
        problems << 'dryRun is null (an undefined job parameter?): pass true or false explicitly'
    }
    cfg.dryRun = boolParam('dryRun', cfg.dryRun, problems)
    cfg.propagate = boolParam('propagate', cfg.propagate, problems)
    if (cfg.includeGuests != null) {
        cfg.includeGuests = boolParam('includeGuests', cfg.includeGuests, problems)
    }

    cfg.timeoutMinutes = intParam('timeoutMinutes', cfg.timeoutMinutes, 1, problems)
    for (String k : ['maxDeactivate', 'concurrency', 'requestTimeoutSecs']) {
        if (cfg[k] != null) {
            cfg[k] = intParam(k, cfg[k], k == 'maxDeactivate' ? 0 : 1, problems)
        }
    }

    for (String k : ['emailDomains', 'exclude', 'protect']) {
        if (cfg[k] != null) {
            cfg[k] = listParam(k, cfg[k], problems)
        }
    }

    for (String k : ['notifyChannel', 'channel', 'slackTeamId']) {
        if (cfg[k] != null && !(str(cfg[k]) ==~ /#?[A-Za-z0-9][A-Za-z0-9_.-]*/)) {
            problems << "${k} '${cfg[k]}' must be a Slack channel/team id or name (no spaces)".toString()
        }
    }
    urlParam('slackUrl', str(cfg.slackUrl), problems)
    if (cfg.logLevel != null && !(str(cfg.logLevel) ==~ /[A-Za-z0-9_=,:.]+/)) {
        problems << "logLevel '${cfg.logLevel}' is not a RUST_LOG filter (e.g. 'info,slack_im=debug')".toString()
    }

    // members file: written by export, read by the other commands instead of Slack
    if (cfg.membersFile != null) {
        cfg.membersFile = str(cfg.membersFile)
        workspacePath('membersFile', cfg.membersFile, problems)
    } else if (export) {
        problems << 'export needs membersFile: the workspace file to write the members to, ' +
            "e.g. membersFile: 'members.json'"
    }
    if (cfg.membersMaxAge != null) {
        cfg.membersMaxAge = str(cfg.membersMaxAge).trim()
        if (!cfg.membersFile) {
            problems << 'membersMaxAge only applies with membersFile'
        } else if (!(cfg.membersMaxAge ==~ /[0-9]+[smhd]?/)) {
            problems << ("membersMaxAge '${cfg.membersMaxAge}' must be a duration such as " +
                "'90m', '2h', '1d' or seconds").toString()
        }
    }

    // credentials
    cfg.slackCredentialsId = str(cfg.slackCredentialsId).trim()
    if (!cfg.slackCredentialsId) {
        problems << 'slackCredentialsId must name a Secret text credential holding the Slack bot token'
    }
    // A sync from a members file reads no Slack: the token is only bound when asked for, or to post.
    if (cfg.membersFile && !export && args.slackCredentialsId == null && cfg.notifyChannel == null) {
        cfg.slackCredentialsId = null
    }
    final boolean noTargetToken = args.targetCredentialsId == false || str(args.targetCredentialsId) == ''
    if (export || (args.containsKey('targetCredentialsId') && noTargetToken)) {
        cfg.targetCredentialsId = null
    } else if (cfg.multi) {
        if (args.targetCredentialsId != null) {
            problems << "targetCredentialsId names one system's token: with 'systems', each system's is " +
                "'slack-im-<system>-target-token', or give it per system (systems: [dev: [targetCredentialsId: '…']])"
        }
        cfg.targetCredentialsId = null
    } else {
        cfg.targetCredentialsId = str(cfg.targetCredentialsId).trim() ?: "slack-im-${system}-target-token".toString()
    }
    if (cfg.multi && args.containsKey('targetCredentialsId') && noTargetToken) {
        for (Map.Entry e : cfg.perSystem.entrySet()) {
            if (!e.value.explicitToken) {
                e.value.targetCredentialsId = null
            }
        }
    }
    if (cfg.caCredentialsId != null && cfg.caBundle != null) {
        problems << 'caCredentialsId and caBundle are exclusive: give one CA bundle'
    }
    if (cfg.caBundle != null && !(str(cfg.caBundle) ==~ /[A-Za-z0-9_.\/-]+/)) {
        problems << "caBundle '${cfg.caBundle}' must be a plain file path on the agent".toString()
    }
    cfg.caCredentialsId = cfg.caCredentialsId == null ? null : str(cfg.caCredentialsId)
    cfg.caBundle = cfg.caBundle == null ? null : str(cfg.caBundle)

    cfg.vars = namedMap('vars', cfg.vars, problems, false)
    cfg.secrets = namedMap('secrets', cfg.secrets, problems, true)
    if (cfg.targetCredentialsId && cfg.secrets.containsKey('TARGET_TOKEN')) {
        problems << 'secrets.TARGET_TOKEN clashes with targetCredentialsId ' +
            '(which sets SLACK_IM_SECRET_TARGET_TOKEN): use targetCredentialsId'
    }

    // workspace folders
    final String defaultReportDir = export ? 'slack-im-reports/export' :
        (cfg.multi ? 'slack-im-reports' : "slack-im-reports/${system}".toString())
    cfg.reportDir = str(cfg.reportDir) ?: defaultReportDir
    workspacePath('reportDir', cfg.reportDir, problems)
    // The report folder is emptied and archived: the members file (personal data) must not lie in it.
    if (cfg.membersFile && (cfg.membersFile == cfg.reportDir || cfg.membersFile.startsWith("${cfg.reportDir}/"))) {
        problems << ("membersFile '${cfg.membersFile}' must not lie in the report folder '${cfg.reportDir}' " +
            '(emptied before the run and archived after it)').toString()
    }
    if (cfg.templatesDir != null) {
        cfg.templatesDir = str(cfg.templatesDir)
        workspacePath('templatesDir', cfg.templatesDir, problems)
    }

    // A new id per call: the container echoes it back in summary.json (run_id), so a report that is not
    // this call's is never taken for it.
    final String nonce = "${UUID.randomUUID()}"
    cfg.runId = "${buildTag ?: 'run'}-${nonce}".toString()
    // The unique suffix is kept whole: only the descriptive prefix is shortened.
    final String what = export ? 'export' : cfg.systems.join('-') ?: system
    final String prefix = "slack-im-${what}-${buildTag ?: 'run'}".replaceAll(/[^A-Za-z0-9_.-]/, '-')
    cfg.containerName = "${prefix.take(100)}-${nonce.take(12)}".toString()
    return cfg
}

@NonCPS
boolean validSystemName(String name) {
    return name ==~ /[A-Za-z0-9][A-Za-z0-9_.-]*/
}

@NonCPS
void urlParam(String name, String url, List<String> problems) {
    if (url && !(url ==~ /https?:\/\/\S+/)) {
        problems << "${name} '${url}' must be an http:// or https:// URL".toString()
    }
}

// Parameters that only mean something for a sync are errors with export (it reads Slack, nothing else).
@NonCPS
void exportOnlyParameters(Map args, List<String> problems) {
    final List<String> syncOnly = ['system', 'systems', 'targetUrl', 'targetCredentialsId', 'secrets', 'vars',
                                   'dryRun', 'emailDomains', 'exclude', 'protect', 'maxDeactivate', 'concurrency',
                                   'notifyChannel', 'templatesDir', 'membersMaxAge']
    for (String k : syncOnly) {
        if (args[k] != null && !(k == 'dryRun' && args[k] == false)) {
            problems << ("${k} does not apply to command 'export' " +
                '(it only reads the Slack members into membersFile)').toString()
        }
    }
}

/*
 * systems: ['dev', 'model-office'] or [dev: [:], 'model-office': [maxDeactivate: 5, …]]. Fills cfg.systems
 * (names, in order) and cfg.perSystem (name -> settings passed with the suffix __<SYSTEM>).
 */
@NonCPS
void normalizeSystems(Map cfg, def value, Map<String, String> jenkinsEnv, List<String> problems) {
    final Map given = [:]
    if (value instanceof Map) {
        for (Map.Entry e : ((Map) value).entrySet()) {
            given[str(e.key).trim()] = e.value == null ? [:] : e.value
        }
    } else if (value instanceof Collection) {
        for (def name : (Collection) value) {
            final String n = str(name).trim()
            if (given.containsKey(n)) {
                problems << "systems: '${n}' is given twice".toString()
            }
            given[n] = [:]
        }
    } else {
        problems << "systems must be a list of system names or a map of name: settings, not '${value}'".toString()
        return
    }
    if (given.isEmpty()) {
        problems << "systems is empty: name at least one system, e.g. systems: ['dev', 'model-office']"
    }
    final Map<String, String> suffixes = [:]
    for (Map.Entry e : given.entrySet()) {
        final String name = e.key
        if (!validSystemName(name)) {
            problems << ("systems: '${name}' is not a valid system name " +
                "(letters, digits, '_', '.', '-'; starting with a letter or digit)").toString()
            continue
        }
        final String suffix = envSuffix(name)
        if (suffixes.containsKey(suffix)) {
            problems << ("systems: '${suffixes[suffix]}' and '${name}' would share the variable suffix " +
                "__${suffix}").toString()
        }
        suffixes[suffix] = name
        cfg.systems << name
        cfg.perSystem[name] = systemSettings(name, suffix, e.value, jenkinsEnv, problems)
    }
}

// One system's own settings from systems: [name: [...]], validated like the top-level parameters.
@NonCPS
Map systemSettings(String name, String suffix, def value, Map<String, String> jenkinsEnv, List<String> problems) {
    final List<String> known = ['targetUrl', 'targetCredentialsId', 'vars', 'secrets', 'emailDomains', 'protect',
                                'maxDeactivate']
    final Map one = [suffix: suffix, vars: [:], secrets: [:], explicitToken: false]
    if (!(value instanceof Map)) {
        problems << "systems.${name} must be a map of settings (${known.join(', ')}), not '${value}'".toString()
        return one
    }
    final Map settings = (Map) value
    for (def k : settings.keySet()) {
        if (!(k in known)) {
            final String hint = closest(k.toString(), known)
            problems << ("systems.${name}: unknown setting '${k}'${hint ? " (did you mean '${hint}'?)" : ''}; " +
                "known: ${known.join(', ')}").toString()
        }
    }
    final String envUrl = jenkinsEnv["SLACK_IM_TARGET_URL__${suffix}".toString()]
    one.targetUrl = str(settings.targetUrl).trim() ?: str(envUrl).trim() ?: null
    urlParam("systems.${name}.targetUrl", str(one.targetUrl), problems)
    final def token = settings.targetCredentialsId
    if (settings.containsKey('targetCredentialsId') && (token == false || str(token).trim() == '')) {
        one.targetCredentialsId = null
        one.explicitToken = true
    } else {
        one.explicitToken = token != null
        one.targetCredentialsId = str(token).trim() ?: "slack-im-${name}-target-token".toString()
    }
    for (String k : ['emailDomains', 'protect']) {
        if (settings[k] != null) {
            one[k] = listParam("systems.${name}.${k}", settings[k], problems)
        }
    }
    if (settings.maxDeactivate != null) {
        one.maxDeactivate = intParam("systems.${name}.maxDeactivate", settings.maxDeactivate, 0, problems)
    }
    one.vars = namedMap("systems.${name}.vars", settings.vars == null ? [:] : settings.vars, problems, false)
    one.secrets = namedMap("systems.${name}.secrets", settings.secrets == null ? [:] : settings.secrets, problems, true)
    if (one.targetCredentialsId && one.secrets.containsKey('TARGET_TOKEN')) {
        problems << ("systems.${name}.secrets.TARGET_TOKEN clashes with the system's target token: " +
            'use targetCredentialsId').toString()
    }
    return one
}

@NonCPS
boolean boolParam(String name, def value, List<String> problems) {
    if (value instanceof Boolean) {
        return value
    }
    if (str(value) in ['true', 'false']) {
        return str(value) == 'true'
    }
    problems << "${name} must be true or false, not '${value}'".toString()
    return false
}

@NonCPS
Integer intParam(String name, def value, int min, List<String> problems) {
    final String s = str(value).trim()
    if (!s.isInteger() || s.toInteger() < min) {
        problems << "${name} must be a whole number >= ${min}, not '${value}'".toString()
        return null
    }
    return s.toInteger()
}

@NonCPS
String listParam(String name, def value, List<String> problems) {
    final List items = []
    if (value instanceof Collection) {
        items.addAll((Collection) value)
    } else {
        for (String part : str(value).split(',')) {
            items << part
        }
    }
    final List<String> out = []
    for (def item : items) {
        final String s = str(item).trim()
        if (s.contains(',')) {
            problems << "${name}: item '${s}' must not contain a comma".toString()
        } else if (s) {
            out << s
        }
    }
    return out.join(',')
}

// vars / secrets: names become part of environment variable names, so only [A-Za-z0-9_] (upper-cased).
@NonCPS
Map<String, String> namedMap(String param, def value, List<String> problems, boolean credentialIds) {
    final Map<String, String> out = new TreeMap<String, String>()
    if (!(value instanceof Map)) {
        final String what = credentialIds ? 'credentials id' : 'value'
        problems << "${param} must be a map of name: ${what}, not '${value}'".toString()
        return out
    }
    for (Map.Entry e : ((Map) value).entrySet()) {
        final String raw = str(e.key)
        final String name = raw.toUpperCase(Locale.ROOT)
        final def v = e.value
        if (!(raw ==~ /[A-Za-z0-9_]+/)) {
            final String prefix = credentialIds ? 'SLACK_IM_SECRET_' : 'SLACK_IM_VAR_'
            problems << ("${param}: name '${raw}' may only contain letters, digits and '_' " +
                "(it becomes ${prefix}<NAME>)").toString()
        } else if (out.containsKey(name)) {
            problems << "${param}: name '${raw}' is given twice (names are case-insensitive)".toString()
        } else if (credentialIds && !(v instanceof CharSequence && str(v).trim())) {
            problems << "${param}.${raw} must be the id of a Secret text credential".toString()
        } else if (!credentialIds && !(v instanceof CharSequence || v instanceof Number || v instanceof Boolean)) {
            final String type = v == null ? 'null' :
                (v instanceof Map ? 'a map' : (v instanceof Collection ? 'a list' : 'an object'))
            problems << "${param}.${raw} must be a string, number or boolean, not ${type}".toString()
        } else {
            out[name] = credentialIds ? str(v).trim() : str(v)
        }
    }
    return out
}

@NonCPS
void workspacePath(String name, String path, List<String> problems) {
    boolean ok = path ==~ /[A-Za-z0-9_.][A-Za-z0-9_.\/-]*/
    for (String segment : path.split('/', -1)) {
        if (segment in ['', '.', '..']) {
            ok = false
        }
    }
    if (!ok) {
        problems << ("${name} '${path}' must be a relative folder inside the workspace " +
            "(letters, digits, '_', '.', '-', '/'; no '..', no trailing '/')").toString()
    }
}

// The known key closest to a misspelt one (edit distance <= 3), or null.
@NonCPS
String closest(String key, Collection known) {
    String best = null
    int bestDistance = 4
    for (def candidate : known) {
        final int d = distance(key.toLowerCase(), candidate.toString().toLowerCase())
        if (d < bestDistance) {
            best = candidate.toString()
            bestDistance = d
        }
    }
    return best
}

@NonCPS
int distance(String a, String b) {
    int[] prev = new int[b.length() + 1]
    for (int j = 0; j <= b.length(); j++) {
        prev[j] = j
    }
    for (int i = 1; i <= a.length(); i++) {
        final int[] cur = new int[b.length() + 1]
        cur[0] = i
        for (int j = 1; j <= b.length(); j++) {
            final int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1
            cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost)
        }
        prev = cur
    }
    return prev[b.length()]
}
