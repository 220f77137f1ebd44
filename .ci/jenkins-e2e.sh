#!/usr/bin/env bash
# shellcheck disable=SC2317  # the check functions are called indirectly, through check()
# End-to-end test of the Jenkins step `slackImSync`: the shell script the step hands to `sh` is
# rendered by jenkins-shared-lib/test/render-step-script.groovy (the real vars/slackImSync.groovy in
# the pipeline stand-in), then executed for real, as Jenkins would (`sh -xe` in a workspace, with the
# withEnv + withCredentials environment), with podman against the real image and the local fakes
# (127.0.0.1 only). The reports it leaves in the workspace are then checked.
#
#   .ci/jenkins-e2e.sh
#
# Scenarios (each in its own scratch workspace):
#   dry run (dryRun=true) on an empty target: exit 0, plans the creates, writes nothing;
#   full sync: exit 0, reports (summary.json / summary.md / junit.xml), the target holds the accounts;
#   second sync, rendered from system=dev with the image (SLACK_IM_IMAGE) and the target URL
#     (SLACK_IM_TARGET_URL) from the job's environment: exit 0, zero writes;
#   bad configuration (system=nope): exit 2, a summary carrying the error;
#   guard (3 managed leavers, maxDeactivate=2): exit 4, every deactivation withheld, accounts kept;
#   partial failure (the fake target answers 500 for two userIds): exit 3, failures in the reports;
#   CA bundle from a Secret file credential (0400 in a 0700 folder, as Jenkins writes it): the
#     container's user 65532 still reads it (dry run, exit 0);
#   a daemon that cannot see the agent's files (a podman service in its own mount namespace, /tmp
#     hidden; what a remote DOCKER_HOST, a dind sidecar or a mounted docker.sock look like): templates
#     from the workspace go in, the reports come back;
#   every summary.json carries the run's SLACK_IM_RUN_ID as run_id;
#   several systems (systems=dev,model-office): one container run, one users.list read, each target
#     created into with its own token (a file, SLACK_IM_SECRET_TARGET_TOKEN_FILE__<SYSTEM>), reports per
#     system plus a combined summary.json / junit.xml (one testsuite per system);
#   members file: export (command=export) writes members.json 0600 into the workspace; copied to
#     another workspace (unstash), a sync from it (membersFile) creates the accounts with no Slack
#     token and no Slack request;
#   a saved plan: command=plan with planFile saves it (0600) in the workspace with the withheld
#     deactivations; copied to another workspace, a sync with planFile applies exactly those;
#   every secret reaches the container as a file (*_FILE): what `podman inspect` shows of each run's
#     container (recorded by a podman wrapper on PATH as it starts) holds no secret value;
#   no credential value in the step's stdout/stderr (the `sh -x` trace included) or any report.
# Prints `ok - …` / `not ok - …` per check, then `N passed, M failed`; exits 1 if any check failed.
#
# Builds the image with .ci/image.sh only when $IMAGE is missing or REBUILD=1. Installs what it
# needs with apt when missing (podman runc curl jq groovy openjdk-17-jre-headless openssl; python3).
# Environment: IMAGE [localhost/slack-im:ci], REBUILD=1, KEEP_TMP=1 keeps the work directory,
# JAVA_HOME [/usr/lib/jvm/java-17-openjdk-amd64].
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo" || exit 1
IMAGE="${IMAGE:-localhost/slack-im:ci}"
# The podman configuration of this CI sandbox (rlimits, runc): a Jenkins agent has its own.
export CONTAINERS_CONF="${CONTAINERS_CONF:-$repo/.ci/containers.conf}"
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"
RUN_TIMEOUT=150     # seconds, one step run (the container included)
RENDER_TIMEOUT=120  # seconds, one rendering of the step (Groovy + JVM start)

# shellcheck source=.ci/lib.sh
. "$repo/.ci/lib.sh"
started_at=$SECONDS

# ---- work dir and cleanup ---------------------------------------------------------------------------
scratch_dir slack-im-jenkins-e2e

# ---- tools (idempotent) -------------------------------------------------------------------------------
install_tools podman:podman runc:runc curl:curl jq:jq groovy:groovy python3:python3 openssl:openssl \
    "$JAVA_HOME/bin/java:openjdk-17-jre-headless"
[ -x "$JAVA_HOME/bin/java" ] || { not_ok "Java 17 at JAVA_HOME=$JAVA_HOME"; finish; }

# ---- image (built only when missing, or REBUILD=1) ----------------------------------------------------
if [ "${REBUILD:-0}" = 1 ] || ! podman image exists "$IMAGE" 2>/dev/null; then
    echo "# building $IMAGE with .ci/image.sh"
    if IMAGE="$IMAGE" timeout 1200 .ci/image.sh >"$tmp/image.out" 2>"$tmp/image.err"; then
        sed 's/^/# /' "$tmp/image.out"
    else
        not_ok "build the image (.ci/image.sh)"; diag "$tmp/image.err"; finish
    fi
fi
echo "# image $IMAGE ($(podman image inspect --format '{{.Id}}' "$IMAGE" | cut -c1-12))"

# ---- fakes --------------------------------------------------------------------------------------------
if ! timeout 900 cargo build --release --locked -p slack-im-fakes --bin slack-im-fakes \
        >"$tmp/fakes-build.log" 2>&1; then
    not_ok "build slack-im-fakes"; diag "$tmp/fakes-build.log"; finish
fi
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
case "$target_dir" in /*) ;; *) target_dir="$repo/$target_dir" ;; esac
fakes="$target_dir/release/slack-im-fakes"

# Distinctive credential values, new every run: the fakes accept exactly these tokens.
rnd() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }
slack_token="xoxb-e2e-$(rnd)"
target_token="tgt-e2e-$(rnd)"
members_key="mk-e2e-$(rnd)$(rnd)"   # signs the members file (SLACK_IM_MEMBERS_KEY, 32+ characters)
secrets=("$slack_token" "$target_token" "$members_key")
# dev and model-office give each account a password of its own (new_password()), told to the member
# in a Slack DM (welcome.txt): no shared initial password to hand over.

FAIL_KEYS="alice,minjun.kim"   # two members of the fakes' Acme fixture
LEAVERS=3
# start_fakes NAME [serve options...]: one fake Slack + fake target; their env file is $tmp/NAME.env
start_fakes() {
    local name="$1"; shift
    "$fakes" serve --slack-token "$slack_token" --target-token "${FAKE_TARGET_TOKEN:-$target_token}" \
        --env-file "$tmp/$name.env" --for-secs 900 "$@" >"$tmp/$name.fakes.log" 2>&1 &
    pids+=($!)
}
start_fakes main --members 40                                   # dry run, syncs, bad configuration
start_fakes guard --members 10 --leavers "$LEAVERS"             # guard: exit 4
start_fakes partial --members 10 --fail-keys "$FAIL_KEYS"       # partial failure: exit 3
start_fakes multi --members 40                                  # several systems: Slack + dev's target
target_token2="tgt2-e2e-$(rnd)"                                  # model-office's own target token
secrets+=("$target_token2")
FAKE_TARGET_TOKEN="$target_token2" start_fakes multi2 --members 0   # model-office's target (its Slack unused)
start_fakes zone --members 40                                   # export, then a sync from the file
env_of() { sed -n "s/^$2=//p" "$tmp/$1.env"; }
for name in main guard partial multi multi2 zone; do
    for _ in $(seq 1 100); do [ -s "$tmp/$name.env" ] && break; sleep 0.1; done
    if [ ! -s "$tmp/$name.env" ] || [ "$(env_of "$name" SLACK_BOT_TOKEN)" != "$slack_token" ]; then
        not_ok "start slack-im-fakes ($name)"; diag "$tmp/$name.fakes.log"; finish
    fi
done

# GET on a fake target's control endpoint.
fake() { curl -sf --max-time 5 "$(env_of "$1" SLACK_IM_TARGET_URL)/__fake/$2"; }
writes() { fake "$1" stats | jq '.create + .update + .delete'; }

# ---- rendering the step -------------------------------------------------------------------------------
# render LABEL FAKES [step parameters...] -> $tmp/render/LABEL/{step.sh,step.env}, in the background.
render_pids=()
render_labels=()
render() {
    local label="$1" name="$2"; shift 2
    local system=dev p
    for p in "$@"; do case "$p" in system=*) system="${p#system=}" ;; esac; done
    # The harness's workspace (and the Secret files it writes under <workspace>@tmp) go into $tmp.
    JAVA_OPTS="-Djava.io.tmpdir=$tmp/java" \
    timeout "$RENDER_TIMEOUT" groovy jenkins-shared-lib/test/render-step-script.groovy "$tmp/render/$label" \
        engine=podman image="$IMAGE" pull=never network=host \
        targetUrl="$(env_of "$name" SLACK_IM_TARGET_URL)" slackUrl="$(env_of "$name" SLACK_IM_SLACK_URL)" \
        emailDomains="$(env_of "$name" SLACK_IM_EMAIL_DOMAINS)" \
        "credential.slack-im-slack-bot-token=$slack_token" \
        "credential.slack-im-$system-target-token=$target_token" \
        "$@" >"$tmp/render-$label.log" 2>&1 &
    render_pids+=($!)
    render_labels+=("$label")
}
# render_raw LABEL [step parameters...]: only engine, pull and network are given; everything else (image,
# URLs, credentials) comes from the parameters, so a run can take them from the job's environment.
render_raw() {
    local label="$1"; shift
    JAVA_OPTS="-Djava.io.tmpdir=$tmp/java" \
    timeout "$RENDER_TIMEOUT" groovy jenkins-shared-lib/test/render-step-script.groovy "$tmp/render/$label" \
        engine=podman pull=never network=host "$@" >"$tmp/render-$label.log" 2>&1 &
    render_pids+=($!)
    render_labels+=("$label")
}
mkdir -p "$tmp/render" "$tmp/java"
# A private CA, handed to the step as a Secret file credential.
openssl req -x509 -newkey rsa:2048 -nodes -keyout /dev/null -subj /CN=slack-im-e2e-ca -days 1 \
    -out "$tmp/ca.pem" >"$tmp/openssl.log" 2>&1 || { not_ok "make a CA certificate (openssl)"; diag "$tmp/openssl.log"; finish; }
render plan main dryRun=true
render cacred main dryRun=true caCredentialsId=slack-im-e2e-ca "credentialFile.slack-im-e2e-ca=$tmp/ca.pem"
render remote main system=wsonly dryRun=true templatesDir=tpl
render sync main
render badsys main system=nope
render guard guard maxDeactivate=2
render guardplan guard maxDeactivate=2 command=plan planFile=plans/guard-plan.json
render guardapply guard maxDeactivate=2 planFile=plans/guard-plan.json
render partial partial
# slackImSync(system: 'dev') with SLACK_IM_IMAGE and SLACK_IM_TARGET_URL set on the job (the test's own
# settings besides: loopback fakes need network/slackUrl and dev's templates, keyed on the e-mail's
# local part, the workspace's e-mail domains)
render_raw plain system=dev "env.SLACK_IM_IMAGE=$IMAGE" "env.SLACK_IM_TARGET_URL=$(env_of main SLACK_IM_TARGET_URL)" \
    slackUrl="$(env_of main SLACK_IM_SLACK_URL)" emailDomains="$(env_of main SLACK_IM_EMAIL_DOMAINS)" \
    "credential.slack-im-slack-bot-token=$slack_token" \
    "credential.slack-im-dev-target-token=$target_token"
render_raw multi systems=dev,model-office image="$IMAGE" slackUrl="$(env_of multi SLACK_IM_SLACK_URL)" \
    emailDomains="$(env_of multi SLACK_IM_EMAIL_DOMAINS)" \
    "env.SLACK_IM_TARGET_URL__DEV=$(env_of multi SLACK_IM_TARGET_URL)" \
    "env.SLACK_IM_TARGET_URL__MODEL_OFFICE=$(env_of multi2 SLACK_IM_TARGET_URL)" \
    "credential.slack-im-slack-bot-token=$slack_token" "credential.slack-im-dev-target-token=$target_token" \
    "credential.slack-im-model-office-target-token=$target_token2"
render_raw export command=export membersFile=members.json image="$IMAGE" slackUrl="$(env_of zone SLACK_IM_SLACK_URL)" \
    "credential.slack-im-slack-bot-token=$slack_token" "credential.slack-im-members-key=$members_key"
# dev DMs each member created (welcome.txt), so even the sync from the file is given the bot token
# (named explicitly: with membersFile the step gives none by default) and reaches Slack, for
# chat.postMessage only.
render_raw fromfile system=dev membersFile=members.json membersMaxAge=1h image="$IMAGE" \
    emailDomains="$(env_of zone SLACK_IM_EMAIL_DOMAINS)" slackUrl="$(env_of zone SLACK_IM_SLACK_URL)" \
    slackCredentialsId=slack-im-slack-bot-token "credential.slack-im-slack-bot-token=$slack_token" \
    targetUrl="$(env_of zone SLACK_IM_TARGET_URL)" "credential.slack-im-dev-target-token=$target_token" \
    "credential.slack-im-members-key=$members_key"
render_failed=0
for i in "${!render_pids[@]}"; do
    if ! wait "${render_pids[$i]}" || [ ! -s "$tmp/render/${render_labels[$i]}/step.sh" ]; then
        render_failed=1; not_ok "render the step script (${render_labels[$i]})"; diag "$tmp/render-${render_labels[$i]}.log"
    fi
done
[ "$render_failed" = 0 ] || finish
ok "rendered the step's sh script and environment for ${#render_labels[@]} runs (render-step-script.groovy)"
# The script is the step's constant: one text for every run.
same_script() { local l; for l in "${render_labels[@]}"; do cmp -s "$tmp/render/plan/step.sh" "$tmp/render/$l/step.sh" || return 1; done; }
check "the step's sh script is the same constant text for every parameter set" same_script
# No credential value in the script itself (they are only in the environment).
script_clean() { local s; for s in "${secrets[@]}"; do ! grep -qF -- "$s" "$tmp/render/plan/step.sh" || return 1; done; }
check "no credential value in the step's sh script" script_clean

# ---- running the step as Jenkins does -----------------------------------------------------------------
# run_step LABEL RENDER: workspace $tmp/ws/LABEL; stdout/stderr/rc in $tmp/out/LABEL.{out,err,rc}.
mkdir -p "$tmp/out" "$tmp/ws" "$tmp/spy" "$tmp/inspect"
# podman as the step finds it on PATH, recording what `podman inspect` shows of the container's
# environment just before it starts (anyone who may run podman or docker on the agent sees that).
real_podman="$(command -v podman)"
cat >"$tmp/spy/podman" <<SPY
#!/bin/sh
if [ "\$1" = start ]; then
  for name in "\$@"; do :; done
  "$real_podman" inspect --format '{{json .Config.Env}}' "\$name" >"$tmp/inspect/\$name.json" 2>&1
fi
exec "$real_podman" "\$@"
SPY
chmod +x "$tmp/spy/podman"
run_step() {
    local label="$1" r="$tmp/render/$2" ws="$tmp/ws/$1" rc name
    mkdir -p "$ws"
    name="$(sed -n "s/^SLACK_IM_JENKINS_CONTAINER_NAME='\(.*\)'$/\1/p" "$r/step.env")"
    containers+=("$name")
    # A clean environment, as on an agent: PATH, HOME and the podman configuration, then the
    # step's withEnv + withCredentials variables.
    # shellcheck disable=SC2016  # $1..$3 are the inner sh's arguments
    # shellcheck disable=SC2086  # RUN_ENV: extra NAME=value words for this run
    ( cd "$ws" || exit 125
      exec env -i PATH="$tmp/spy:$PATH" HOME="${HOME:-/root}" CONTAINERS_CONF="$CONTAINERS_CONF" \
          WORKSPACE="$ws" ${RUN_ENV:-} sh -c 'set -a; . "$1"; set +a; exec timeout "$2" sh -xe "$3"' \
          sh "$r/step.env" "$RUN_TIMEOUT" "$r/step.sh"
    ) >"$tmp/out/$label.out" 2>"$tmp/out/$label.err"
    rc=$?
    echo "$rc" >"$tmp/out/$label.rc"
    # What the step does when `sh` did not come back (timeout/abort): remove the container.
    [ "$rc" = 124 ] && podman rm -f "$name" >/dev/null 2>&1
    return 0
}
rc_of() { cat "$tmp/out/$1.rc"; }
expect_rc() { # expect_rc LABEL WANT DESCRIPTION
    local got; got="$(rc_of "$1")"
    if [ "$got" = "$2" ]; then ok "$3 (exit $got)"
    else not_ok "$3 (exit $got, want $2)"; diag "$tmp/out/$1.out" "$tmp/out/$1.err"; fi
}
reports() { echo "$tmp/ws/$1/slack-im-reports/$2"; }   # reports LABEL SYSTEM
sj() { jq -r "$2" "$1/summary.json" 2>/dev/null; }     # sj REPORT_DIR JQ_FILTER

# junit_ok REPORT_DIR [FAILED_KEYS]: valid XML; one testcase per action + skipped member (+ one for
# a run error); exactly the testcases named in FAILED_KEYS (comma list) carry a <failure>.
junit_ok() {
    python3 - "$1/junit.xml" "$1/summary.json" "${2:-}" <<'PY'
import json, sys, xml.dom.minidom
junit, summary, want_failed = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    dom = xml.dom.minidom.parse(junit)
except Exception as e:  # noqa: BLE001
    print(f"#   junit.xml is not valid XML: {e}"); sys.exit(1)
s = json.load(open(summary))
cases = dom.getElementsByTagName("testcase")
want = len(s["actions"]) + len(s["skipped"]) + (1 if s.get("error") else 0)
failed = sorted(c.getAttribute("name") for c in cases if c.getElementsByTagName("failure"))
want_failed = sorted(k for k in want_failed.split(",") if k)
problems = []
if len(cases) != want:
    problems.append(f"{len(cases)} testcases, want {want} ({len(s['actions'])} actions + {len(s['skipped'])} skipped)")
if failed != want_failed:
    problems.append(f"failures {failed}, want {want_failed}")
for p in problems:
    print(f"#   {p}")
sys.exit(1 if problems else 0)
PY
}
# owned_by_runner REPORT_DIR: the reports are copied out of the container by the agent's user, so they are its.
owned_by_runner() {
    local want f; want="$(id -u)"
    for f in summary.json summary.md junit.xml; do
        if [ ! -f "$1/$f" ] || [ "$(stat -c %u "$1/$f")" != "$want" ]; then
            echo "#   $f missing or not owned by $want"; return 1
        fi
    done
}

# 1. dry run on the empty target: plans every create, writes nothing.
w0="$(writes main)"
run_step plan plan
expect_rc plan 0 "dry run (dryRun=true) finishes"
rep="$(reports plan dev)"
planned="$(sj "$rep" .counts.create)"
check "dry run plans the creates ($planned, dry_run=$(sj "$rep" .dry_run)) and writes nothing (writes $w0 -> $(writes main))" \
    test "${planned:-0}" -gt 0 -a "$(sj "$rep" .dry_run)" = true -a "$(writes main)" = "$w0" -a "$w0" = 0
check "dry run junit.xml is valid, one testcase per planned action + skipped member" junit_ok "$rep"

# 2. full sync.
run_step sync sync
expect_rc sync 0 "full sync"
rep="$(reports sync dev)"
created="$(fake main stats | jq .create)"
check "summary.json: counts.create ($(sj "$rep" .counts.create)) = the fake's creates ($created) = planned ($planned), nothing failed" \
    test -n "$created" -a "$(sj "$rep" .counts.create)" = "$created" -a "$created" = "$planned" \
         -a "$(sj "$rep" .counts.failed)" = 0 -a "$(sj "$rep" .exit_code)" = 0 -a "$(sj "$rep" .dry_run)" = false
check "junit.xml is valid XML with one testcase per action + skipped member ($(sj "$rep" '.actions|length') + $(sj "$rep" '.skipped|length'))" \
    junit_ok "$rep"
check "summary.md exists and names the system" grep -q dev "$rep/summary.md"
check "report files owned by the agent's user (copied out of the container)" owned_by_runner "$rep"
accounts_hold() {
    # Every created key is an account createdBy slack-im, with a 20-character password of its own.
    fake main accounts >"$tmp/main-accounts.json" || return 1
    jq -e --slurpfile s "$rep/summary.json" '
        ($s[0].actions | map(select(.action == "create" and .status == "done") | .key)) as $keys
        | ($keys | length) > 0
          and length == ($keys | length)
          and all(.[]; .createdBy == "slack-im" and (.password | length) == 20)
          and (map(.password) | unique | length) == length
          and (map(.userId | ascii_downcase) | sort) == ($keys | map(ascii_downcase) | sort)' \
        "$tmp/main-accounts.json" >/dev/null
}
check "the fake target holds exactly the created accounts, each with a password of its own" accounts_hold
welcomed() {
    # One DM (channel = the member's user id) per create, each holding that account's password.
    curl -sf --max-time 5 "$(env_of main SLACK_IM_SLACK_URL | sed 's|api/$||')__fake/posted" >"$tmp/main-posted.json" || return 1
    jq -e --slurpfile s "$rep/summary.json" --slurpfile a "$tmp/main-accounts.json" '
        . as $posted
        | ($s[0].actions | map(select(.action == "create" and .status == "done"))) as $c
        | ($a[0] | map({key: (.userId | ascii_downcase), value: .password}) | from_entries) as $pw
        | ($c | length) > 0 and ($posted | length) == ($c | length)
          and ($posted | map(.channel) | sort) == ($c | map(.slack_id) | sort)
          and all($c[]; . as $x | [$posted[] | select(.channel == $x.slack_id) | .text
                                    | contains($pw[$x.key | ascii_downcase])] == [true])' \
        "$tmp/main-posted.json" >/dev/null
}
check "each created member got one welcome DM holding their account's password" welcomed
# Both hold the passwords: not kept among the outputs, but looked for in them (below).
mapfile -t passwords < <(jq -r '.[].password // empty' "$tmp/main-accounts.json")
rm -f "$tmp/main-accounts.json" "$tmp/main-posted.json"
cmdline="$(grep -m1 '^slack-im: podman create ' "$tmp/out/sync.out")"
as_files() {
    local n
    for n in SLACK_BOT_TOKEN SLACK_IM_SECRET_TARGET_TOKEN; do
        grep -qE -- "-e ${n}_FILE( |$)" <<<"$cmdline" && ! grep -qE -- "-e $n( |$)" <<<"$cmdline" &&
            ! grep -qF -- "$n=" <<<"$cmdline" || return 1
    done
}
check "the podman command line names the secrets' files only (-e NAME_FILE, never -e NAME or NAME=value)" as_files
container_gone() { ! podman container exists "$1"; }
check "the container is gone after the run (removed on exit)" \
    container_gone "$(sed -n "s/^SLACK_IM_JENKINS_CONTAINER_NAME='\(.*\)'$/\1/p" "$tmp/render/sync/step.env")"

# 3. second sync: nothing to do, zero writes. Rendered as slackImSync(system: 'dev') with the image and the
#    target URL from the job's environment (SLACK_IM_IMAGE, SLACK_IM_TARGET_URL).
w1="$(writes main)"
from_env() {
    grep -qxF "SLACK_IM_JENKINS_IMAGE='$IMAGE'" "$tmp/render/plain/step.env" &&
        grep -qxF "SLACK_IM_TARGET_URL='$(env_of main SLACK_IM_TARGET_URL)'" "$tmp/render/plain/step.env"
}
check "system=dev alone: the image and the target URL come from the job's environment" from_env
run_step sync2 plain
expect_rc sync2 0 "second sync"
rep="$(reports sync2 dev)"
check "second sync makes zero writes (writes $w1 -> $(writes main)), all $(sj "$rep" .counts.unchanged) unchanged" \
    test "$(writes main)" = "$w1" -a "$(sj "$rep" '.counts.create + .counts.update + .counts.deactivate')" = 0 \
         -a "$(sj "$rep" .counts.unchanged)" = "$planned"

# 4. bad configuration: an unknown system.
w1="$(writes main)"
run_step badsys badsys
expect_rc badsys 2 "unknown system (system=nope) is a configuration error"
rep="$(reports badsys nope)"
err="$(sj "$rep" .error)"
check "its summary.json carries the error (exit_code $(sj "$rep" .exit_code)): ${err:0:160}" \
    test -n "$err" -a "$err" != null -a "$(sj "$rep" .exit_code)" = 2
check "its junit.xml is valid and reports the error" junit_ok "$rep"
check "the bad configuration wrote nothing (writes $w1 -> $(writes main))" test "$(writes main)" = "$w1"

# 5. guard: more managed leavers ($LEAVERS) than maxDeactivate=2.
run_step guard guard
expect_rc guard 4 "guard: $LEAVERS leavers with maxDeactivate=2"
rep="$(reports guard dev)"
withheld_keys="$(sj "$rep" '[.actions[] | select(.status == "withheld") | .key] | sort | join(",")')"
want_leavers="$(seq -s, -f 'leaver.%g' 1 "$LEAVERS")"
check "summary.json: withheld $(sj "$rep" .counts.withheld) ($withheld_keys), deactivated $(sj "$rep" .counts.deactivate)" \
    test "$(sj "$rep" .counts.withheld)" = "$LEAVERS" -a "$withheld_keys" = "$want_leavers" \
         -a "$(sj "$rep" .counts.deactivate)" = 0
kept="$(fake guard accounts | jq -r '[.[] | select(.userId | startswith("leaver.")) | .userId] | sort | join(",")')"
check "the leavers' accounts are still there ($kept; deletes: $(fake guard stats | jq .delete))" \
    test "$kept" = "$want_leavers" -a "$(fake guard stats | jq .delete)" = 0
check "the guard run applied the creates ($(sj "$rep" .counts.create) = the fake's $(fake guard stats | jq .create))" \
    test "$(sj "$rep" .counts.create)" -gt 0 -a "$(sj "$rep" .counts.create)" = "$(fake guard stats | jq .create)"
check "its junit.xml is valid (withheld ones skipped, no failure)" junit_ok "$rep"

# 5b. approval: the step saves the plan (command: 'plan', planFile), a person approves it (the plan is
# handed to the applying agent's workspace, as unstash does), and the step applies exactly it.
run_step approve guardplan
expect_rc approve 0 "plan with planFile: the withheld deactivations are planned, nothing written"
plan_file="$tmp/ws/approve/plans/guard-plan.json"
plan_withheld="$(jq -r '[.systems[0].actions[] | select(.kind == "deactivate" and .withheld != null) | .key] | sort | join(",")' "$plan_file" 2>/dev/null)"
check "the saved plan is in the workspace, mode $(stat -c %a "$plan_file" 2>/dev/null), with the withheld deactivations ($plan_withheld)" \
    test "$(stat -c %a "$plan_file" 2>/dev/null)" = 600 -a "$plan_withheld" = "$want_leavers"
mkdir -p "$tmp/ws/apply/plans" && cp "$plan_file" "$tmp/ws/apply/plans/guard-plan.json"
run_step apply guardapply
expect_rc apply 0 "sync with planFile: the approved plan is applied"
rep="$(reports apply dev)"
gone="$(fake guard accounts | jq -r '[.[] | select(.userId | startswith("leaver."))] | length')"
check "exactly the reviewed deactivations were applied (approved $(sj "$rep" .approved_plan.approved), dropped $(sj "$rep" '.approved_plan.dropped|length'), deletes $(fake guard stats | jq .delete), leavers left $gone)" \
    test "$(sj "$rep" .approved_plan.approved)" = "$LEAVERS" -a "$(fake guard stats | jq .delete)" = "$LEAVERS" -a "$gone" = 0

# 6. partial failure: writes for $FAIL_KEYS answer 500.
run_step partial partial
expect_rc partial 3 "partial failure (the target answers 500 for $FAIL_KEYS)"
rep="$(reports partial dev)"
failed_keys="$(sj "$rep" '[.actions[] | select(.status == "failed") | .key] | sort | join(",")')"
check "summary.json lists the failed actions ($failed_keys), counts.failed $(sj "$rep" .counts.failed)" \
    test "$failed_keys" = "$FAIL_KEYS" -a "$(sj "$rep" .counts.failed)" = 2
errors_ok() {
    local e
    e="$(sj "$rep" '[.actions[] | select(.status == "failed") | .error // ""] | map(select(test("500"))) | length')"
    [ "$e" = 2 ] || { sj "$rep" '.actions[] | select(.status == "failed") | "#   \(.key): \(.error)"'; return 1; }
}
check "each failed action carries its error (HTTP 500): $(sj "$rep" '[.actions[] | select(.status == "failed") | .error][0]' | cut -c1-120)" errors_ok
check "junit.xml has exactly those as <failure>" junit_ok "$rep" "$FAIL_KEYS"
check "the other creates were applied (target: $(fake partial stats | jq .accounts) accounts, counts.create $(sj "$rep" .counts.create))" \
    test "$(fake partial stats | jq .accounts)" = "$(sj "$rep" .counts.create)" -a "$(sj "$rep" .counts.create)" -gt 0

# 7. CA bundle from a Secret file credential: 0400 in a 0700 folder, as the Credentials Binding plugin
#    writes it; the container runs as 65532 and must still read it.
ca_file="$(sed -n "s/^SLACK_IM_JENKINS_CA_FILE='\(.*\)'$/\1/p" "$tmp/render/cacred/step.env")"
check "the Secret file credential is written 0400 in a 0700 folder ($(stat -c %a "$ca_file" 2>/dev/null)/$(stat -c %a "$(dirname "$ca_file")" 2>/dev/null))" \
    test "$(stat -c %a "$ca_file" 2>/dev/null)" = 400 -a "$(stat -c %a "$(dirname "$ca_file")" 2>/dev/null)" = 700
run_step cacred cacred
expect_rc cacred 0 "dry run with caCredentialsId (the container's user reads the CA bundle)"

# 8. A daemon that cannot see the agent's files: a podman service in its own mount namespace where /tmp
#    (the workspace, the temporary files, the credential files) is an empty tmpfs.
#    Its podman configuration is copied out of the checkout first: a checkout under /tmp (CI may
#    clone there) would be hidden from it too.
sock="/run/slack-im-e2e-$$.sock"
service_conf="/run/slack-im-e2e-$$.containers.conf"
cp "$CONTAINERS_CONF" "$service_conf"
files+=("$sock" "$service_conf")
CONTAINERS_CONF="$service_conf" unshare -m sh -c 'mount -t tmpfs tmpfs /tmp && exec podman system service --time=0 "unix://$1"' sh "$sock" \
    >"$tmp/service.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.1; done
# templates from the workspace only: system "wsonly" is not in the image
mkdir -p "$tmp/ws/remote/tpl"
cp -R templates/dev "$tmp/ws/remote/tpl/wsonly"
if [ -S "$sock" ]; then
    RUN_ENV="CONTAINER_HOST=unix://$sock" run_step remote remote
    expect_rc remote 0 "dry run through a daemon that cannot see the agent's files (CONTAINER_HOST)"
    rep="$(reports remote wsonly)"
    check "its reports came back into the workspace (summary.json, junit.xml, summary.md; $(sj "$rep" .counts.unchanged) unchanged, system $(sj "$rep" .system))" \
        test -s "$rep/summary.json" -a -s "$rep/junit.xml" -a -s "$rep/summary.md" \
             -a "$(sj "$rep" .counts.unchanged)" -gt 0 -a "$(sj "$rep" .system)" = wsonly
else
    not_ok "start a podman service in a private mount namespace"; diag "$tmp/service.log"
fi

# 9. Every summary.json is the run's own: run_id = the SLACK_IM_RUN_ID the step passed.
run_ids_ok() {
    local l want got
    for l in plan sync badsys guard partial cacred remote; do
        want="$(sed -n "s/^SLACK_IM_RUN_ID='\(.*\)'$/\1/p" "$tmp/render/$l/step.env")"
        got="$(jq -r .run_id "$tmp/ws/$l/slack-im-reports/"*/summary.json 2>/dev/null)"
        [ -n "$want" ] && [ "$got" = "$want" ] || { echo "#   $l: run_id '$got', want '$want'"; return 1; }
    done
}
check "every summary.json carries its run's SLACK_IM_RUN_ID as run_id" run_ids_ok

# 11. Several systems from one Slack read: systems=dev,model-office, each target with its own token.
slack_calls() { curl -sf --max-time 5 "$(env_of "$1" SLACK_IM_SLACK_URL | sed 's|api/$||')__fake/stats" | jq -r ".\"$2\" // 0"; }
run_step multi multi
expect_rc multi 0 "two systems in one run (systems=dev,model-office)"
rep="$tmp/ws/multi/slack-im-reports"
want_id="$(sed -n "s/^SLACK_IM_RUN_ID='\(.*\)'$/\1/p" "$tmp/render/multi/step.env")"
check "combined summary.json: systems $(sj "$rep" '[.systems[].system] | join(",")'), exit_code $(sj "$rep" .exit_code), run_id is the run's" \
    test "$(sj "$rep" '[.systems[].system] | join(",")')" = dev,model-office -a "$(sj "$rep" .exit_code)" = 0 \
         -a "$(sj "$rep" .run_id)" = "$want_id"
own_targets() {
    local dev mo
    dev="$(fake multi stats | jq .create)"; mo="$(fake multi2 stats | jq .create)"
    echo "#   dev target: $dev creates, model-office target: $mo creates"
    [ "$dev" -gt 0 ] && [ "$mo" -gt 0 ] &&
        [ "$(sj "$rep" '.systems[] | select(.system == "dev") | .counts.create')" = "$dev" ] &&
        [ "$(sj "$rep" '.systems[] | select(.system == "model-office") | .counts.create')" = "$mo" ]
}
check "each target got its own creates, with its own token (the fakes accept only theirs)" own_targets
check "one users.list read for both systems ($(slack_calls multi users.list) call(s))" test "$(slack_calls multi users.list)" = 1
check "reports per system (slack-im-reports/dev, slack-im-reports/model-office) and one junit.xml with a testsuite each" \
    test -s "$rep/dev/summary.json" -a -s "$rep/model-office/summary.json" \
         -a "$(grep -o '<testsuite ' "$rep/junit.xml" | wc -l)" = 2
cmdline="$(grep -m1 '^slack-im: podman create ' "$tmp/out/multi.out")"
multi_by_name() {
    local n
    for n in SLACK_IM_SECRET_TARGET_TOKEN_FILE__DEV SLACK_IM_SECRET_TARGET_TOKEN_FILE__MODEL_OFFICE SLACK_IM_TARGET_URL__MODEL_OFFICE; do
        grep -qE -- "-e $n( |$)" <<<"$cmdline" && ! grep -qF -- "$n=" <<<"$cmdline" || return 1
    done
    ! grep -qE -- "-e SLACK_IM_SECRET_TARGET_TOKEN__" <<<"$cmdline"
}
check "the per-system tokens reach the container as files (-e SLACK_IM_SECRET_TARGET_TOKEN_FILE__<SYSTEM>), URLs by name" multi_by_name

# 12. Members file: export on one agent, sync from the file on another (stash/unstash), no Slack there.
run_step export export
expect_rc export 0 "export (command=export, membersFile=members.json)"
members="$tmp/ws/export/members.json"
check "members.json is 0600, the agent user's, format $(jq -r .format "$members" 2>/dev/null), $(jq '.members | length' "$members" 2>/dev/null) members" \
    test "$(stat -c %a "$members" 2>/dev/null)" = 600 -a "$(stat -c %u "$members" 2>/dev/null)" = "$(id -u)" \
         -a "$(jq -r .format "$members" 2>/dev/null)" = slack-im-members/1
check "members.json is signed (hmac_sha256, $(jq -r '.hmac_sha256 | length' "$members" 2>/dev/null) hex digits)" \
    test "$(jq -r '.hmac_sha256 | length' "$members" 2>/dev/null)" = 64
key_as_file() {
    local l
    for l in export fromfile; do
        grep -m1 '^slack-im: podman create ' "$tmp/out/$l.out" | grep -qE -- '-e SLACK_IM_MEMBERS_KEY_FILE( |$)' || return 1
        ! grep -m1 '^slack-im: podman create ' "$tmp/out/$l.out" | grep -qE -- '-e SLACK_IM_(JENKINS_)?MEMBERS_KEY( |$)' || return 1
    done
}
mkdir -p "$tmp/ws/fromfile" && cp -p "$members" "$tmp/ws/fromfile/members.json"
slack_before="$(slack_calls zone users.list)"
run_step fromfile fromfile
expect_rc fromfile 0 "sync from the members file (membersFile=members.json)"
rep="$(reports fromfile dev)"
check "the sync from the file created the accounts ($(sj "$rep" .counts.create) = the target's $(fake zone stats | jq .create)) without reading Slack (users.list $slack_before -> $(slack_calls zone users.list))" \
    test "$(sj "$rep" .counts.create)" -gt 0 -a "$(sj "$rep" .counts.create)" = "$(fake zone stats | jq .create)" \
         -a "$(slack_calls zone users.list)" = "$slack_before"
token_as_file() {
    local cmdline; cmdline="$(grep -m1 '^slack-im: podman create ' "$tmp/out/fromfile.out")"
    grep -qE -- '-e SLACK_BOT_TOKEN_FILE( |$)' <<<"$cmdline" && ! grep -qE -- '-e SLACK_BOT_TOKEN( |$)' <<<"$cmdline"
}
check "the sync from the file gets the Slack token (for dev's welcome DMs) as a file only" token_as_file
check "the members key reaches export and sync as a file (-e SLACK_IM_MEMBERS_KEY_FILE), never as a value" key_as_file
# The same file with one member more, as someone who can write the stash but holds no key would make it.
mkdir -p "$tmp/ws/forged"
jq -c '.members |= [.[0] + {id: "U0FORGED01", name: "mallory", profile: (.[0].profile + {email: "mallory@acme.example"})}] + .' \
    "$members" >"$tmp/ws/forged/members.json" 2>/dev/null
writes_before="$(writes zone)"
run_step forged fromfile
expect_rc forged 2 "a sync from a members file changed after the export (one member added) is refused"
check "the forged file wrote nothing (target writes $writes_before -> $(writes zone)) and says why" \
    test "$(writes zone)" = "$writes_before" -a -n "$(grep -l 'signature does not match SLACK_IM_MEMBERS_KEY' "$tmp/out/forged.err" "$tmp/out/forged.out" 2>/dev/null)"

# 13. What `podman inspect` showed of every run's container as it started: no secret value, and the
#     secrets only as *_FILE paths.
inspect_clean() {
    local f s n=0 hit=0
    for f in "$tmp/inspect/"*.json; do
        [ -s "$f" ] || continue
        n=$((n + 1))
        for s in "${secrets[@]}"; do
            if grep -qF -- "$s" "$f"; then echo "#   a secret value in the environment of $(basename "$f" .json)"; hit=1; fi
        done
        if jq -r '.[]' "$f" | grep -E '^(SLACK_BOT_TOKEN|SLACK_IM_SECRET_[A-Z0-9_]+|SLACK_IM_MEMBERS_KEY)=' |
                grep -vE '^[A-Z0-9_]*_FILE(__[A-Z0-9_]+)?=' | sed 's/=.*//; s/^/#   a secret variable: /' | grep .; then
            hit=1
        fi
    done
    echo "#   $n containers inspected"
    [ "$n" -ge 10 ] && [ "$hit" = 0 ] &&
        jq -e 'index("SLACK_BOT_TOKEN_FILE=/etc/slack-im/secrets/SLACK_BOT_TOKEN") != null' \
            "$tmp/inspect/$(sed -n "s/^SLACK_IM_JENKINS_CONTAINER_NAME='\(.*\)'$/\1/p" "$tmp/render/sync/step.env").json" >/dev/null
}
check "podman inspect shows no secret value in any run's container environment (secrets are *_FILE paths)" inspect_clean
rm -rf "$tmp/inspect"   # before the fix it held the secrets: not kept among the outputs

# 10. no credential value in what the step printed (sh -x trace included) or in any report.
leaks() { # succeeds if some secret value shows up: a credential, or a password an account got
    local s hit=1
    for s in "${secrets[@]}" "${passwords[@]}"; do
        if grep -rlF -- "$s" "$tmp/out" "$tmp/ws" 2>/dev/null | sed 's/^/#   leaked in /' | grep .; then hit=0; fi
    done
    return "$hit"
}
n_out="$(find "$tmp/out" -name '*.out' -o -name '*.err' | wc -l)"
n_rep="$(find "$tmp/ws" -type f | wc -l)"
if leaks; then not_ok "no credential value in the step's stdout/stderr ($n_out files) or reports ($n_rep files)"
else ok "no credential value in the step's stdout/stderr ($n_out files) or reports ($n_rep files)"; fi

echo "# $((SECONDS - started_at)) s"
finish
