/* groovylint-disable Instanceof */
package io.slackim

import com.cloudbees.groovy.cps.NonCPS

/**
 * Plain helpers of the slackImSync step (vars/slackImSync.groovy): values, names and paths, JSON, typo
 * hints. No pipeline steps here; every method is @NonCPS and static (the step imports them statically).
 */
class StepSupport {

    // JsonSlurper's maps are lazy and not serializable: copy them into plain maps and lists before they
    // reach CPS code (which may save them with the build).
    @NonCPS
    static def parseJson(String text) {
        return plainCopy(new groovy.json.JsonSlurper().parseText(text))
    }

    @NonCPS
    static def plainCopy(def value) {
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

    // 'x:latest' or no tag at all (and no digest).
    @NonCPS
    static boolean movingTag(String image) {
        final String last = image.contains('/') ? image.substring(image.lastIndexOf('/') + 1) : image
        return !image.contains('@') && (!last.contains(':') || last.endsWith(':latest'))
    }

    @NonCPS
    static String str(def v) {
        return (v == null || v.toString() == 'null') ? '' : v.toString()
    }

    // The suffix of a system's own values: the folder name upper-cased, '-' and '.' written '_'.
    @NonCPS
    static String envSuffix(String system) {
        return system.toUpperCase(Locale.ROOT).replaceAll(/[-.]/, '_')
    }

    @NonCPS
    static boolean validSystemName(String name) {
        return name ==~ /[A-Za-z0-9][A-Za-z0-9_.-]*/
    }

    @NonCPS
    static boolean boolParam(String name, def value, List<String> problems) {
        if (value instanceof Boolean) {
            return value
        }
        if (str(value) in ['true', 'false']) {
            return str(value) == 'true'
        }
        problems << "${name} must be true or false, not '${value}'".toString()
        return false
    }

    // vars / secrets: names become part of environment variable names, so only [A-Za-z0-9_] (upper-cased).
    @NonCPS
    static Map<String, String> namedMap(String param, def value, List<String> problems, boolean credentialIds) {
        final Map<String, String> out = new TreeMap<String, String>()
        if (!(value instanceof Map)) {
            final String what = credentialIds ? 'credentials id' : 'value'
            problems << "${param} must be a map of name: ${what}, not '${value}'".toString()
            return out
        }
        for (Map.Entry e : ((Map) value).entrySet()) {
            final String raw = str(e.key)
            final String name = raw.toUpperCase(Locale.ROOT)
            if (!(raw ==~ /[A-Za-z0-9_]+/)) {
                problems << ("${param}: name '${raw}' may only contain letters, digits and '_' " +
                    "(it becomes ${credentialIds ? 'SLACK_IM_SECRET_' : 'SLACK_IM_VAR_'}<NAME>)").toString()
            } else if (out.containsKey(name)) {
                problems << "${param}: name '${raw}' is given twice (names are case-insensitive)".toString()
            } else if (credentialIds && !(e.value instanceof CharSequence && str(e.value).trim())) {
                problems << "${param}.${raw} must be the id of a Secret text credential".toString()
            } else {
                out[name] = credentialIds ? str(e.value).trim() : e.value
            }
        }
        return out
    }

    @NonCPS
    static void workspacePath(String name, String path, List<String> problems) {
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
    static String closest(String key, Collection known) {
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
    static int distance(String a, String b) {
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

    // What an exit code means when this run left no summary.json saying so (the binary's own words win),
    // and the container engine's codes around it.
    @NonCPS
    static Map exitCodeMeanings() {
        return [
            0  : 'done',
            1  : 'failed before completing (Slack, target listing or network)',
            2  : 'bad configuration or template',
            3  : 'partial: some actions failed, the rest applied',
            4  : 'a guard withheld creates, deactivations or reactivations, everything else applied',
            125: 'the container engine could not create, fill or run the container (engine, image, options, copies)',
            126: 'the image entrypoint could not be executed',
            127: 'the container engine or the image entrypoint was not found',
            137: 'the container was killed (timeout, out of memory or aborted build)',
        ]
    }

    // The binary's own words for this exit code (summary.json `exit_meaning`), else the table's.
    @NonCPS
    static String meaningOf(Integer rc, def summary) {
        if (summary instanceof Map && str(summary.exit_meaning) && str(summary.exit_code) == str(rc)) {
            return str(summary.exit_meaning)
        }
        return exitCodeMeanings()[rc] ?: 'unexpected exit code'
    }

    /*
     * The build description: summary.json's `headline` (one line per system), which the binary computes;
     * without this run's summary, what the exit code says.
     */
    @NonCPS
    static String describeRun(Map cfg, Integer rc, def summary) {
        if (rc == null) {
            return null
        }
        final String meaning = meaningOf(rc, summary)
        if (cfg.command == 'export') {
            return rc == 0 ? "members exported to ${cfg.membersFile}".toString() :
                "members export failed, exit ${rc}: ${meaning}".toString()
        }
        if (summary instanceof Map && str(summary.headline) && str(summary.exit_code) == str(rc)) {
            return str(summary.headline)
        }
        if (rc == 0) {
            return "${cfg.label}: ${cfg.command} ok"
        }
        if (rc == 3 || rc == 4) {
            return "${cfg.label}: ${cfg.command} exit ${rc}: ${meaning} (no summary.json from this run)"
        }
        return "${cfg.label}: ${cfg.command} failed, exit ${rc}: ${meaning}"
    }

    // summary.json's `first_failures`, then `withheld_actions`, and how many it left out (`not_listed`).
    @NonCPS
    static String firstErrors(def summary) {
        if (!(summary instanceof Map)) {
            return ''
        }
        final List<String> out = []
        for (String field : ['first_failures', 'withheld_actions']) {
            if (summary[field] instanceof List) {
                for (def item : (List) summary[field]) {
                    out << str(item)
                }
            }
        }
        final int more = str(summary.not_listed).isInteger() ? str(summary.not_listed).toInteger() : 0
        return out.join('; ') + (more > 0 ? " (and ${more} more)" : '')
    }

    // variables: [SLACK_IM_…: value]; names the step sets itself are refused, naming the parameter that does.
    @NonCPS
    static void passThrough(Map cfg, String param, def value, String suffix, List<String> problems) {
        if (!(value instanceof Map)) {
            problems << "${param} must be a map of SLACK_IM_… variable: value, not '${value}'".toString()
            return
        }
        for (Map.Entry e : ((Map) value).entrySet()) {
            final String name = str(e.key)
            final String owner = ownerOf(name, cfg.owned)
            if (owner) {
                problems << "${param}: ${name} is set by the step: use ${owner}".toString()
            } else if (!(name ==~ /SLACK_IM_[A-Z0-9_]+|RUST_LOG/)) {
                problems << ("${param}: '${name}' is not a slack-im variable name " +
                    '(SLACK_IM_ and upper-case letters, digits, _; or RUST_LOG)').toString()
            } else {
                putVariable(cfg, "${name}${suffix}", "${param}.${name}", e.value, problems)
            }
        }
    }

    // The parameter that sets a variable the step owns, or null.
    @NonCPS
    static String ownerOf(String name, Map owned) {
        for (Map.Entry e : owned.entrySet()) {
            final String k = e.key
            if (name == k || (k.endsWith('*') && name.startsWith(k.substring(0, k.length() - 1)))) {
                return e.value
            }
        }
        return null
    }

    // vars: [name: value] -> SLACK_IM_VAR_<NAME><suffix>.
    @NonCPS
    static void addVars(Map cfg, String param, def value, String suffix, List<String> problems) {
        final Map<String, String> names = namedMap(param, value, problems, false)
        for (Map.Entry e : names.entrySet()) {
            putVariable(cfg, "SLACK_IM_VAR_${e.key}${suffix}", "${param}.${e.key.toLowerCase()}", e.value, problems)
        }
    }

    // One container variable: a string, number or boolean, or a list joined with ','; once only.
    @NonCPS
    static void putVariable(Map cfg, String name, String given, def value, List<String> problems) {
        String text = null
        if (value instanceof CharSequence || value instanceof Number || value instanceof Boolean) {
            text = value.toString()
        } else if (value instanceof Collection) {
            final List<String> items = []
            for (def item : (Collection) value) {
                items << str(item).trim()
            }
            text = items.join(',')
        } else {
            problems << "${given} must be a string, number, boolean or list, not '${value}'".toString()
            return
        }
        if (cfg.container.containsKey(name)) {
            problems << "${name} is given twice (${given} and another parameter)".toString()
        }
        cfg.container[name] = text
    }

    // secrets: [name: 'credentials-id'] -> SLACK_IM_SECRET_<NAME><suffix>, handed over as a file:
    // SLACK_IM_SECRET_<NAME>_FILE<suffix>.
    @NonCPS
    static void addSecrets(Map cfg, String param, def value, String suffix, List<String> problems) {
        final Map<String, String> names = namedMap(param, value, problems, true)
        for (Map.Entry e : names.entrySet()) {
            final String variable = "SLACK_IM_SECRET_${e.key}${suffix}"
            if (cfg.secretVars.containsKey(variable)) {
                problems << ("${param}.${e.key} clashes with targetCredentialsId (which sets ${variable}): " +
                    'use targetCredentialsId').toString()
            }
            addSecretFile(cfg, variable, "SLACK_IM_SECRET_${e.key}_FILE${suffix}".toString(), e.value)
        }
    }

    /*
     * One secret (issue 20): bound to the step-internal secretBinding(variable), written by the script
     * into the container as /etc/slack-im/secrets/<variable>, which the binary reads through fileVariable
     * (SLACK_BOT_TOKEN_FILE, SLACK_IM_SECRET_<NAME>_FILE, SLACK_IM_SECRET_<NAME>_FILE__<SYSTEM>). Its value
     * is never in the container's environment, where `docker inspect` shows it.
     */
    @NonCPS
    static void addSecretFile(Map cfg, String variable, String fileVariable, String credentialsId) {
        cfg.secretVars[variable] = credentialsId
        cfg.container[fileVariable] = "${SECRETS_DIR}/${variable}".toString()
    }

    // Where the secret files are in the container.
    static final String SECRETS_DIR = '/etc/slack-im/secrets'

    // The variable withCredentials binds a secret to: read by the script only, never forwarded.
    @NonCPS
    static String secretBinding(String variable) {
        return "SLACK_IM_JENKINS_SECRET__${variable}".toString()
    }
}
