/* groovylint-disable Instanceof */
// (Instanceof: the parameters come from callers' untyped maps, so the type checks are the validation.)
/*
 * slackImSync: run the slack-im container image for one system from a Jenkins pipeline.
 *
 *   slackImSync(system: 'dev', targetUrl: 'https://dev.example.internal')
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
        // required: the system to sync = folder templates/<system>/ (SLACK_IM_SYSTEM)
        system: null,
        // required: base URL of the system's API (SLACK_IM_TARGET_URL)
        targetUrl: null,
        // slack-im subcommand: 'sync', 'plan' (dry run) or 'check'
        command: 'sync',
        // true: read and plan only (SLACK_IM_DRY_RUN=true)
        dryRun: false,
        // required: container image reference, e.g. 'registry.example.com/slack-im/slack-im:1.2.0'
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
        // workspace folder for the reports; default "slack-im-reports/<system>"
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

    final String system = cfg.system
    final String reportDir = cfg.reportDir
    if (movingTag(cfg.image) && cfg.pull != 'always') {
        echo "slack-im: WARNING: image ${cfg.image} has a moving tag; without pull: 'always' the agent may run " +
             'an old copy. Pin a version or set pull: \'always\'.'
    }
    // Before anything else (credentials, engine): no previous build's report can be published as this one's.
    emptyReportDir(reportDir)
    final List<String> envList = containerEnv(cfg)
    final List bindings = credentialBindings(cfg)

    Integer rc = null
    def summary = null
    String description = null
    withEnv(envList) {
        try {
            timeout(time: cfg.timeoutMinutes, unit: 'MINUTES') {
                withCredentials(bindings) {
                    rc = sh(label: "slack-im ${cfg.command} (${system})", returnStatus: true, script: runScript())
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
            description = describe(system, cfg.command, rc, summary)
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
    final String what = "slack-im ${cfg.command} (${cfg.system})"
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
    if (str(summary.error)) {
        out << str(summary.error)
    }
    final def actions = summary.actions instanceof List ? summary.actions : []
    for (String wanted : ['failed', 'withheld']) {
        for (def a : actions) {
            if (a instanceof Map && str(a.status) == wanted) {
                final String err = str(a.error) ?: wanted
                out << "${str(a.action)} ${str(a.key) ?: str(a.slack_id)}: ${err}".toString()
            }
        }
    }
    final int total = out.size()
    final List<String> shown = total > max ? out.subList(0, max) : out
    return shown.join('; ') + (total > max ? " (and ${total - max} more)" : '')
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
    container.SLACK_IM_SYSTEM = cfg.system
    container.SLACK_IM_TARGET_URL = cfg.targetUrl
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
    for (Map.Entry e : cfg.vars.entrySet()) {
        container["SLACK_IM_VAR_${e.key}".toString()] = e.value
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
    final Map<String, String> out = [SLACK_BOT_TOKEN: cfg.slackCredentialsId]
    if (cfg.targetCredentialsId) {
        out.SLACK_IM_SECRET_TARGET_TOKEN = cfg.targetCredentialsId
    }
    for (Map.Entry e : cfg.secrets.entrySet()) {
        out["SLACK_IM_SECRET_${e.key}".toString()] = e.value
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
    final Map cfg = normalize(args, env?.CONTAINER_BIN?.toString(), env?.BUILD_TAG?.toString(), problems)
    if (problems) {
        error("slackImSync: invalid parameters:\n  - ${problems.join('\n  - ')}\n" +
              'See the slackImSync help (vars/slackImSync.txt) for every parameter.')
    }
    return cfg
}

@NonCPS
Map normalize(Map args, String containerBin, String buildTag, List<String> problems) {
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

    // system
    final String system = str(cfg.system).trim()
    if (!system) {
        problems << "the 'system' parameter is required: the name of the system's templates folder, " +
            "e.g. slackImSync(system: 'dev', targetUrl: 'https://dev.example.internal')"
    } else if (!(system ==~ /[A-Za-z0-9][A-Za-z0-9_.-]*/)) {
        problems << ("system '${system}' is not a valid system name " +
            "(letters, digits, '_', '.', '-'; starting with a letter or digit)").toString()
    }
    cfg.system = system

    // targetUrl
    cfg.targetUrl = str(cfg.targetUrl).trim()
    if (!cfg.targetUrl) {
        problems << "the 'targetUrl' parameter is required: the base URL of the system's API (SLACK_IM_TARGET_URL)"
    } else if (!(cfg.targetUrl ==~ /https?:\/\/\S+/)) {
        problems << "targetUrl '${cfg.targetUrl}' must be an http:// or https:// URL".toString()
    }

    cfg.command = str(cfg.command)
    if (!(cfg.command in ['sync', 'plan', 'check'])) {
        problems << "command '${cfg.command}' must be one of 'sync', 'plan', 'check'".toString()
    }

    if (!str(args.engine)) {
        cfg.engine = (containerBin in ['docker', 'podman']) ? containerBin : 'docker'
    }
    cfg.engine = str(cfg.engine)
    if (!(cfg.engine in ['docker', 'podman'])) {
        problems << "engine '${cfg.engine}' must be 'docker' or 'podman'".toString()
    }

    cfg.image = str(cfg.image).trim()
    if (!cfg.image) {
        problems << "the 'image' parameter is required: the slack-im image your agents can pull, " +
            "e.g. image: 'registry.example.com/slack-im/slack-im:1.2.0'"
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
    if (cfg.slackUrl != null && !(str(cfg.slackUrl) ==~ /https?:\/\/\S+/)) {
        problems << "slackUrl '${cfg.slackUrl}' must be an http:// or https:// URL".toString()
    }
    if (cfg.logLevel != null && !(str(cfg.logLevel) ==~ /[A-Za-z0-9_=,:.]+/)) {
        problems << "logLevel '${cfg.logLevel}' is not a RUST_LOG filter (e.g. 'info,slack_im=debug')".toString()
    }

    // credentials
    cfg.slackCredentialsId = str(cfg.slackCredentialsId).trim()
    if (!cfg.slackCredentialsId) {
        problems << 'slackCredentialsId must name a Secret text credential holding the Slack bot token'
    }
    final boolean noTargetToken = args.targetCredentialsId == false || str(args.targetCredentialsId) == ''
    if (args.containsKey('targetCredentialsId') && noTargetToken) {
        cfg.targetCredentialsId = null
    } else {
        cfg.targetCredentialsId = str(cfg.targetCredentialsId).trim() ?: "slack-im-${system}-target-token".toString()
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
    cfg.reportDir = str(cfg.reportDir) ?: "slack-im-reports/${system}".toString()
    workspacePath('reportDir', cfg.reportDir, problems)
    if (cfg.templatesDir != null) {
        cfg.templatesDir = str(cfg.templatesDir)
        workspacePath('templatesDir', cfg.templatesDir, problems)
    }

    // A new id per call: the container echoes it back in summary.json (run_id), so a report that is not
    // this call's is never taken for it.
    final String nonce = "${UUID.randomUUID()}"
    cfg.runId = "${buildTag ?: 'run'}-${nonce}".toString()
    // The unique suffix is kept whole: only the descriptive prefix is shortened.
    final String prefix = "slack-im-${system}-${buildTag ?: 'run'}".replaceAll(/[^A-Za-z0-9_.-]/, '-')
    cfg.containerName = "${prefix.take(100)}-${nonce.take(12)}".toString()
    return cfg
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
            problems << "secrets.${raw} must be the id of a Secret text credential".toString()
        } else if (!credentialIds && !(v instanceof CharSequence || v instanceof Number || v instanceof Boolean)) {
            final String type = v == null ? 'null' :
                (v instanceof Map ? 'a map' : (v instanceof Collection ? 'a list' : 'an object'))
            problems << "vars.${raw} must be a string, number or boolean, not ${type}".toString()
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
