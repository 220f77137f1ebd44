# shellcheck shell=sh
# slackImSync: runs the slack-im container. A constant POSIX sh script (Jenkins runs it with sh -xe;
# plain sh works too): every value comes from the environment the step sets (SLACK_IM_JENKINS_*), and
# the container's variables are forwarded by name (-e NAME) from SLACK_IM_JENKINS_ENV_NAMES. No secret
# is among them: every secret is written into the container as a file (see below), so that neither its
# environment (docker inspect) nor any command line holds one.
# Nothing from the agent is bind-mounted: the engine's daemon may run elsewhere (DOCKER_HOST=tcp://...,
# a dind sidecar, docker.sock mounted into an agent container), where agent paths do not exist or are
# other files. The container is created, its inputs (report folder, secrets, CA bundle, templates,
# members file) copied in, started, and the reports copied out; it is removed on exit.
# Exit codes: the container's, or 125 (engine, copy or report folder problem), 127 (engine not found).
set +x
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
# shellcheck disable=SC2317  # called by the EXIT trap
finish() {
  if [ -n "$created" ]; then
    "$engine" rm -f "$name" >/dev/null 2>&1 || true
  fi
  rm -rf "$stage"
}
trap finish EXIT
trap 'exit 143' HUP INT TERM
# The container's user (65532) writes /reports.
if ! { mkdir "$stage/in" "$stage/in/reports" && chmod 0777 "$stage/in/reports"; }; then
  fail "cannot prepare $stage"
fi
# copy_ca AGENT-PATH NAME: a CA bundle, as a copy the container's user can read (a Secret file
# credential is 0400 in a 0700 folder), at /etc/slack-im/NAME.
copy_ca() {
  case "$1" in
    /*) ca="$1" ;;
    *) ca="$PWD/$1" ;;
  esac
  if ! { mkdir -p "$stage/in/etc/slack-im" && cp "$ca" "$stage/in/etc/slack-im/$2" &&
    chmod 0444 "$stage/in/etc/slack-im/$2"; }; then
    fail "cannot read the CA bundle $ca"
  fi
}
# The targets' CA bundle (SSL_CERT_FILE) and Slack's own (SLACK_IM_SLACK_CA_FILE).
[ -z "${SLACK_IM_JENKINS_CA_FILE:-}" ] || copy_ca "$SLACK_IM_JENKINS_CA_FILE" ca.pem
[ -z "${SLACK_IM_JENKINS_SLACK_CA_FILE:-}" ] || copy_ca "$SLACK_IM_JENKINS_SLACK_CA_FILE" slack-ca.pem
# The members file's key (a Secret text credential): a file in the container, read through
# SLACK_IM_MEMBERS_KEY_FILE, so that no environment value (docker inspect) holds it. printf is a
# shell builtin: the key is on no command line. The stage folder is private (mktemp -d, 0700) and
# removed on exit.
if [ -n "${SLACK_IM_JENKINS_MEMBERS_KEY:-}" ]; then
  if ! { mkdir -p "$stage/in/etc/slack-im" &&
    (umask 077 && printf '%s' "$SLACK_IM_JENKINS_MEMBERS_KEY" > "$stage/in/etc/slack-im/members.key") &&
    chmod 0444 "$stage/in/etc/slack-im/members.key"; }; then
    fail "cannot write the members key into $stage"
  fi
fi
# Every other secret (the Slack bot token, each SLACK_IM_SECRET_*, suffixed or not): the file
# /etc/slack-im/secrets/<NAME> in the container, which the binary reads through the *_FILE variable the
# step sets. SLACK_IM_JENKINS_SECRET_NAMES lists the names; each value is in SLACK_IM_JENKINS_SECRET__<NAME>
# (withCredentials), written the same way as the members key: with the printf builtin, into the private
# stage folder.
if [ -n "${SLACK_IM_JENKINS_SECRET_NAMES:-}" ]; then
  mkdir -p "$stage/in/etc/slack-im/secrets" || fail "cannot prepare $stage"
fi
for secret in ${SLACK_IM_JENKINS_SECRET_NAMES:-}; do
  case "$secret" in
    [A-Z]*[!A-Z0-9_]* | [!A-Z]*) fail "'$secret' is not a secret variable name" ;;
  esac
  file="$stage/in/etc/slack-im/secrets/$secret"
  if ! { (umask 077 && eval "printf '%s' \"\${SLACK_IM_JENKINS_SECRET__$secret:-}\"" > "$file") &&
    chmod 0444 "$file"; }; then
    fail "cannot write the secret $secret into $stage"
  fi
done
if [ -n "${SLACK_IM_JENKINS_TEMPLATES_DIR:-}" ]; then
  templates="$PWD/$SLACK_IM_JENKINS_TEMPLATES_DIR"
  [ -d "$templates" ] || fail "templatesDir $SLACK_IM_JENKINS_TEMPLATES_DIR is not a folder in the workspace"
  if ! { cp -R "$templates" "$stage/in/workspace-templates" && chmod -R a+rX "$stage/in/workspace-templates"; }; then
    fail "cannot copy the templates from $templates"
  fi
fi
# stage_file PARAMETER WORKSPACE-PATH FOLDER WRITES: a workspace file of the run, at
# /FOLDER/FOLDER.json in the container. WRITES=yes: the run writes it there (copied out by
# copy_out; an older one is removed first, so a failed run leaves none behind); otherwise the
# workspace file is copied in, read-only.
stage_file() {
  refuse_symlinks "$2" 125
  mkdir "$stage/in/$3" || fail "cannot prepare $stage"
  if [ "$4" = yes ]; then
    if ! { rm -f "$PWD/$2" && chmod 0777 "$stage/in/$3"; }; then
      fail "cannot remove the old $1 $PWD/$2"
    fi
  else
    [ -f "$PWD/$2" ] || fail "$1 $2 is not a file in the workspace"
    if ! { cp "$PWD/$2" "$stage/in/$3/$3.json" && chmod 0444 "$stage/in/$3/$3.json"; }; then
      fail "cannot copy the $1 $PWD/$2"
    fi
  fi
}
# copy_out PARAMETER WORKSPACE-PATH FOLDER: the file the run wrote, out of the container, 0600
# (personal data); a failure makes the run's exit code 125.
copy_out() {
  if ! { mkdir -p "$(dirname "$PWD/$2")" && "$engine" cp "$name:/$3/$3.json" "$PWD/$2" && chmod 0600 "$PWD/$2"; }; then
    echo "slack-im: could not copy the $1 out of the container" >&2
    rc=125
  fi
}
# The members file (personal data): export writes it in the container's /members; sync, plan and
# check read the workspace file copied in there.
members=""
if [ -n "${SLACK_IM_JENKINS_MEMBERS_FILE:-}" ]; then
  members="$SLACK_IM_JENKINS_MEMBERS_FILE"
  stage_file membersFile "$members" members "$([ "$SLACK_IM_JENKINS_COMMAND" = export ] && echo yes)"
fi
# The saved plan (it names people): `plan` writes it in the container's /plan; `sync` applies the
# workspace file copied in there, and nothing else.
plan=""
if [ -n "${SLACK_IM_JENKINS_PLAN_FILE:-}" ]; then
  plan="$SLACK_IM_JENKINS_PLAN_FILE"
  stage_file planFile "$plan" plan "$([ "$SLACK_IM_JENKINS_COMMAND" = plan ] && echo yes)"
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
elif [ -n "$plan" ] && [ "$SLACK_IM_JENKINS_COMMAND" = plan ]; then
  set -- "$@" --out /plan/plan.json
elif [ -n "$plan" ]; then
  set -- "$@" --plan /plan/plan.json
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
if [ "$rc" = 0 ] && [ "$SLACK_IM_JENKINS_COMMAND" = export ]; then
  copy_out membersFile "$members" members
fi
if [ "$rc" = 0 ] && [ -n "$plan" ] && [ "$SLACK_IM_JENKINS_COMMAND" = plan ]; then
  copy_out planFile "$plan" plan
fi
echo "slack-im: exit code $rc"
exit "$rc"
