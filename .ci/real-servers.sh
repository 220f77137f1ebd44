#!/usr/bin/env bash
# shellcheck disable=SC2317  # the check functions are called indirectly, through check()
# The presets templates/scim and templates/redmine against real servers nobody here wrote, with the
# project's fake Slack as the workspace (everything on 127.0.0.1).
#
#   .ci/real-servers.sh
#
# Installs what it needs on a fresh Debian 12 (apt: curl jq python3-venv, redmine redmine-sqlite
# thin with sqlite preseeded; PyPI: scim2-server into a venv under $REAL_SERVERS_CACHE), builds the
# slack-im and slack-im-fakes binaries of this tree (debug), starts a fake Slack, a scim2-server (in
# memory) and Redmine 5 (Debian's package, served by thin as www-data), runs the real binary against
# each server, and asks the server's own API what happened. Prints one `ok - …` / `not ok - …` line
# per check, then `N passed, M failed`. Run as root (apt, and Redmine runs as www-data).
#
# The Debian redmine instance ("default", sqlite) belongs to this suite: every run deletes its
# non-admin users, enables the REST API and makes sure a "Slack ID" user custom field exists.
#
# Environment: REAL_SERVERS_BIN, REAL_SERVERS_FAKES_BIN (prebuilt binaries to use; both set: no build), MEMBERS
# [120] synthetic Slack members (beside the 21-member fixture; above 100 accounts Redmine pages),
# REAL_SERVERS_CACHE [/var/cache/slack-im-real-servers], KEEP_TMP=1 keeps the work directory.
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo" || exit 1
cache="${REAL_SERVERS_CACHE:-/var/cache/slack-im-real-servers}"
SCIM2_SERVER_VERSION=0.8.3     # the version whose behaviour docs/systems.md describes
MEMBERS="${MEMBERS:-120}"
SEED="${SEED:-25}"              # a generator seed whose members hold every kind of hostile name
RUN_TIMEOUT=300                # seconds, any single slack-im run
REDMINE_ROOT=/usr/share/redmine

# shellcheck source=.ci/lib.sh
. "$repo/.ci/lib.sh"
scratch_dir slack-im-real-servers

# ---- installation (timed) --------------------------------------------------------------------------
t0=$SECONDS
install_tools curl:curl jq:jq setpriv:util-linux python3:python3
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    echo "# installing python3-venv"
    apt_install python3-venv || { not_ok "install python3-venv"; diag "$tmp/apt.log"; finish; }
fi
venv="$cache/scim2-server-$SCIM2_SERVER_VERSION"
if [ ! -x "$venv/bin/scim2-server" ]; then
    echo "# installing scim2-server $SCIM2_SERVER_VERSION from PyPI into $venv"
    mkdir -p "$cache"
    if ! { python3 -m venv "$venv" && timeout 600 "$venv/bin/pip" install -q \
            "scim2-server==$SCIM2_SERVER_VERSION"; } >"$tmp/pip.log" 2>&1; then
        not_ok "install scim2-server from PyPI"; diag "$tmp/pip.log"; rm -rf "$venv"; finish
    fi
fi
echo "# scim2-server ready in $((SECONDS - t0)) s"
t1=$SECONDS
if [ "$(dpkg-query -W -f '${db:Status-Status}\n' redmine redmine-sqlite thin 2>/dev/null | grep -c '^installed$')" != 3 ]; then
    echo "# installing redmine redmine-sqlite thin (apt, sqlite preseeded)"
    as_root debconf-set-selections <<'EOF'
redmine redmine/instances/default/dbconfig-install boolean true
redmine redmine/instances/default/database-type select sqlite3
EOF
    apt_install redmine redmine-sqlite thin \
        || { not_ok "install redmine, redmine-sqlite and thin with apt"; diag "$tmp/apt.log"; finish; }
fi
echo "# redmine ready in $((SECONDS - t1)) s"
ok "install scim2-server $SCIM2_SERVER_VERSION (PyPI) and redmine $(dpkg-query -W -f '${Version}' redmine) + thin (apt) in $((SECONDS - t0)) s"

# ---- binaries and the fake Slack ---------------------------------------------------------------------
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
case "$target_dir" in /*) ;; *) target_dir="$repo/$target_dir" ;; esac
t2=$SECONDS
if [ -z "${REAL_SERVERS_BIN:-}" ] || [ -z "${REAL_SERVERS_FAKES_BIN:-}" ]; then
    if ! timeout 1200 cargo build --locked -p slack-im -p slack-im-fakes --bins >"$tmp/build.log" 2>&1; then
        not_ok "build slack-im and slack-im-fakes"; diag "$tmp/build.log"; finish
    fi
    echo "# built in $((SECONDS - t2)) s"
fi
bin="${REAL_SERVERS_BIN:-$target_dir/debug/slack-im}"
fakes="${REAL_SERVERS_FAKES_BIN:-$target_dir/debug/slack-im-fakes}"
echo "# slack-im under test: $bin ($("$bin" --version))"

"$fakes" serve --members "$MEMBERS" --seed "$SEED" --env-file "$tmp/fakes.env" --for-secs 1800 >"$tmp/fakes.out" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$tmp/fakes.env" ] && break; sleep 0.1; done
if [ ! -s "$tmp/fakes.env" ]; then not_ok "start the fake Slack"; diag "$tmp/fakes.out"; finish; fi
while IFS='=' read -r k v; do
    case "$k" in SLACK_BOT_TOKEN|SLACK_IM_SLACK_URL|SLACK_IM_EMAIL_DOMAINS) export "$k=$v" ;; esac
done <"$tmp/fakes.env"

# Slack's side of the oracle: the members as the fake Slack serves them (one page), and the
# eligible ones by the README's rules, with the name a template sees as user.name.
curl -sf --max-time 10 -H "Authorization: Bearer $SLACK_BOT_TOKEN" -d limit=999 \
    "${SLACK_IM_SLACK_URL%/}/users.list" >"$tmp/slack.json"
jq '[.members[]
     | select(.deleted != true and .is_bot != true and .id != "USLACKBOT" and .is_workflow_bot != true
              and (.profile.bot_id // "") == "" and (.profile.api_app_id // "") == ""
              and .is_stranger != true and .is_invited_user != true
              and .is_restricted != true and .is_ultra_restricted != true
              and (.profile.email // "") != "" and .is_email_confirmed == true)
     | . as $m
     | {id, email: (.profile.email | ascii_downcase), local: (.profile.email | split("@")[0] | ascii_downcase),
        first: (.profile.first_name // ""), last: (.profile.last_name // ""),
        name: ([(if (.profile.real_name // "") != "" then .profile.real_name else (.real_name // "") end),
                (.profile.display_name // ""), (.name // "")]
               | map(select(gsub("\\s"; "") != "")) | first // "")}]' "$tmp/slack.json" >"$tmp/eligible.json"
if [ "$(jq -r '.response_metadata.next_cursor // ""' "$tmp/slack.json")" != "" ] \
        || [ "$(jq length "$tmp/eligible.json")" -lt 100 ]; then
    not_ok "the fake Slack serves one page with at least 100 eligible members"; finish
fi
eligible="$(jq length "$tmp/eligible.json")"
echo "# fake Slack: $(jq '.members | length' "$tmp/slack.json") members, $eligible eligible"
# Members the suite gives hand-made accounts: the first two synthetic ones, and a third.
hand1="$(jq -c '[.[] | select(.id | startswith("U1SYN"))][0]' "$tmp/eligible.json")"
hand2="$(jq -c '[.[] | select(.id | startswith("U1SYN"))][1]' "$tmp/eligible.json")"
hand3="$(jq -c '[.[] | select(.id | startswith("U1SYN"))][2]' "$tmp/eligible.json")"
# Members whose accounts have a life before the first sync (issue 19): one whose e-mail changed
# (renamed), one who left and came back (reactivated), one locked on the server by an
# administrator (Redmine: left alone), one whose address is later recycled.
renamed="$(jq -c '[.[] | select(.id | startswith("U1SYN"))][3]' "$tmp/eligible.json")"
returner="$(jq -c '[.[] | select(.id | startswith("U1SYN"))][4]' "$tmp/eligible.json")"
handlocked="$(jq -c '[.[] | select(.id | startswith("U1SYN"))][5]' "$tmp/eligible.json")"
recycled="$(jq -c '[.[] | select(.id | startswith("U1SYN"))][6]' "$tmp/eligible.json")"
counted() { jq -r ".counts.$2" "$tmp/$1/summary.json" 2>/dev/null; }
hostile_ok() { # FILE KIND…: the names ([{name}]) the server holds have each kind, and non-ASCII ones
    local file="$1" kind; shift
    for kind in "$@"; do
        jq -e --arg k "$kind" 'map(.name) | any(contains($k))' "$file" >/dev/null \
            || { echo "#   no name holding $kind"; return 1; }
    done
    jq -e 'map(.name) | any(test("[^\\u0000-\\u007f]"))' "$file" >/dev/null || { echo "#   no non-ASCII name"; return 1; }
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# wait_http URL SECONDS: until the URL answers at all (any status), at most SECONDS.
wait_http() {
    local _
    for _ in $(seq 1 "$(($2 * 5))"); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1")" != 000 ] && return 0
        sleep 0.2
    done
    return 1
}

# run LABEL COMMAND [VAR=value…]: slack-im COMMAND with the current server's environment, reports
# in $tmp/LABEL; sets rc.
run() {
    local label="$1" cmd="$2"; shift 2
    rm -rf "${tmp:?}/$label"; mkdir -p "$tmp/$label"
    env SLACK_IM_REPORT_DIR="$tmp/$label" SLACK_IM_TEMPLATES="${templates:-$repo/templates}" "$@" \
        timeout "$RUN_TIMEOUT" "$bin" "$cmd" >"$tmp/$label/out" 2>"$tmp/$label/err"
    rc=$?
    echo "# $cmd ($label): exit $rc, $(counts "$label")"
}
counts() { jq -c '.counts | {create, update, deactivate}' "$tmp/$1/summary.json" 2>/dev/null; }
writes_none() { [ "$(counts "$1")" = '{"create":0,"update":0,"deactivate":0}' ]; }
# The run's own words, with "N failed" spelled apart: scripts/test.sh adds up "N failed" lines.
why() { cat "$tmp/$1/err" "$tmp/$1/out" | sed -E 's/([0-9]) (passed|failed)/\1_\2/g' | diag; }
# A folder copy under $tmp/templates with system.json's "next" changed (jq on the rendered JSON
# would lose the Jinja: the preset's line is replaced with sed).
variant() { # variant FROM NAME SED-SCRIPT
    mkdir -p "$tmp/templates"; rm -rf "${tmp:?}/templates/$2"
    cp -r "$repo/templates/$1" "$tmp/templates/$2"
    sed -i "$3" "$tmp/templates/$2/system.json"
}

# ==== SCIM 2.0: scim2-server ============================================================================
scim_token="scim-ci-token-$RANDOM$RANDOM"
scim_port="$(free_port)"
"$venv/bin/scim2-server" --hostname 127.0.0.1 --port "$scim_port" --bearer-token "$scim_token" \
    >"$tmp/scim.log" 2>&1 &
pids+=($!)
scim="http://127.0.0.1:$scim_port"
if wait_http "$scim/ServiceProviderConfig" 30; then ok "scim2-server starts on 127.0.0.1:$scim_port"
else not_ok "scim2-server starts"; diag "$tmp/scim.log"; finish; fi

scim_curl() { # scim_curl BASE METHOD PATH [BODY]
    local args=(-sf --max-time 10 -X "$2" -H "Authorization: Bearer $scim_token" -H 'Content-Type: application/scim+json')
    [ $# -ge 4 ] && args+=(-d "$4")
    curl "${args[@]}" "$1$3"
}
# Every user (all pages, whatever the server's cap), sorted by id, meta (version, lastModified)
# included: any write changes it.
scim_all() {
    local start=1 page n all='[]' _
    for _ in $(seq 200); do # bounded: 200 pages of 1000 are far more than any test holds
        page="$(scim_curl "${1:-$scim}" GET "/Users?startIndex=$start&count=1000")" || return 1
        all="$(jq -c --argjson all "$all" '$all + .Resources' <<<"$page")"
        n="$(jq '.Resources | length' <<<"$page")"
        start=$((start + n))
        if [ "$n" = 0 ] || [ "$start" -gt "$(jq .totalResults <<<"$page")" ]; then break; fi
    done
    jq -S 'sort_by(.id)' <<<"$all"
}
scim_user() { # scim_user USERNAME: the one user with that userName
    scim_curl "$scim" GET "/Users?filter=$(jq -rn --arg u "$1" '"userName eq \"\($u)\"" | @uri')" | jq -S '.Resources[0]'
}
scim_new() { # scim_new JSON-FIELDS: creates a user, prints its id
    scim_curl "${2:-$scim}" POST /Users "$(jq -c '. + {schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"]}' <<<"$1")" | jq -r .id
}
# Hand-made users: one holding the first synthetic member's userName (no externalId: not managed),
# an administrator nobody in Slack has, and one slack-im would have made for someone who left.
scim_new "$(jq -c '{userName: .email, displayName: "Made By Hand", active: true}' <<<"$hand1")" >/dev/null
scim_new '{"userName": "admin@acme.example", "displayName": "Admin", "active": true}' >/dev/null
leaver_id="$(scim_new '{"userName": "leaver@acme.example", "externalId": "U9LEAVER01", "displayName": "Lee Leaver", "active": true}')"
renamed_sid="$(scim_new "$(jq -c '{userName: ("former." + .email), externalId: .id, displayName: "Old Name", active: true}' <<<"$renamed")")"
returner_sid="$(scim_new "$(jq -c '{userName: .email, externalId: .id, displayName: .name, active: false}' <<<"$returner")")"
hand1_email="$(jq -r .email <<<"$hand1")"
scim_user "$hand1_email" >"$tmp/scim-hand.before"
scim_user admin@acme.example >"$tmp/scim-admin.before"

export SLACK_IM_SYSTEM=scim SLACK_IM_TARGET_URL="$scim" SLACK_IM_SECRET_TARGET_TOKEN="$scim_token"

run scim-check0 check
check "scim: check is ready before the first sync" test "$rc" = 0 || why scim-check0

run scim-sync1 sync
if [ "$rc" = 0 ]; then ok "scim: first sync exits 0 ($(counts scim-sync1))"; else not_ok "scim: first sync exits 0"; why scim-sync1; fi
scim_all >"$tmp/scim-after1.json"
# The server holds, for every eligible member but the hand-made one, exactly one user with the
# member's Slack id in externalId and the member's own values, character for character.
scim_members_ok() {
    local bad
    bad="$(jq -n --slurpfile want "$tmp/eligible.json" --slurpfile have "$tmp/scim-after1.json" --arg hand "$hand1_email" '
        ($want[0] | map(select(.email != $hand))) as $w
        | ($have[0] | map(select(.externalId != null and .externalId != "U9LEAVER01"))) as $h
        | if ($w | length) != ($h | length) then ["\($w | length) eligible members, \($h | length) users with an externalId"]
          else [$w[] | . as $m | ($h | map(select(.externalId == $m.id))) as $u
                | if ($u | length) != 1 then "\($m.id): \($u | length) users"
                  elif $u[0].userName != $m.email or $u[0].displayName != $m.name or $u[0].name.formatted != $m.name
                       or $u[0].emails != [{value: $m.email, type: "work", primary: true}] or $u[0].active != true
                  then "\($m.id): \($u[0] | tojson)" else empty end]
          end | .[]')"
    [ -z "$bad" ] || { echo "$bad" | head -n 5 | sed 's/^/#   /'; return 1; }
}
check "scim: the server has one user per eligible member ($((eligible - 1))), userName/externalId/name/emails/active as in Slack" scim_members_ok
scim_hostile() {
    jq '[.[] | select(.externalId != null) | {name: .displayName}]' "$tmp/scim-after1.json" >"$tmp/scim-names.json"
    hostile_ok "$tmp/scim-names.json" '"' "\\" '<' '{{' "'"
}
check "scim: hostile names (quotes, backslash, </script>, {{ }}, unicode) are on the server exactly as in Slack" scim_hostile
check "scim: the hand-made user holding a member's userName is untouched" \
    cmp -s "$tmp/scim-hand.before" <(scim_user "$hand1_email")
check "scim: the hand-made admin is untouched" cmp -s "$tmp/scim-admin.before" <(scim_user admin@acme.example)
check "scim: the leaver is deactivated (active: false)" \
    test "$(scim_curl "$scim" GET "/Users/$leaver_id" | jq -r .active)" = false

scim_renamed() {
    local want have
    want="$(jq -c '[.email, .id, .name]' <<<"$renamed")"
    have="$(scim_curl "$scim" GET "/Users/$renamed_sid" | jq -c '[.userName, .externalId, .displayName]')"
    [ "$have" = "$want" ] || { echo "#   /Users/$renamed_sid is $have, want $want"; return 1; }
    [ "$(jq --arg x "$(jq -r .id <<<"$renamed")" 'map(select(.externalId == $x)) | length' "$tmp/scim-after1.json")" = 1 ] \
        && [ "$(jq -r '.actions[] | select(.renamed_from != null) | .renamed_from' "$tmp/scim-sync1/summary.json")" = "former.$(jq -r .email <<<"$renamed")" ]
}
check "scim: a member whose e-mail changed keeps their user, renamed (one PUT to its id, reported renamed_from), no second user" scim_renamed
check "scim: a returning member's inactive user is reactivated (same id, active: true)" \
    test "$(scim_curl "$scim" GET "/Users/$returner_sid" | jq -c '[.active, .userName]')" = "$(jq -c '[true, .email]' <<<"$returner")"
check "scim: the first sync made exactly one reactivation" test "$(counted scim-sync1 reactivate)" = 1

run scim-check1 check
check "scim: check is ready after the sync (it proves the update address of a managed user)" test "$rc" = 0 || why scim-check1
run scim-sync2 sync
if [ "$rc" = 0 ] && writes_none scim-sync2; then ok "scim: second sync exits 0 and writes nothing ($(counts scim-sync2))"
else not_ok "scim: second sync exits 0 and writes nothing ($(counts scim-sync2))"; why scim-sync2; fi
check "scim: the second sync changed nothing on the server (every user's meta.version unchanged; the leaver not deactivated again)" \
    cmp -s "$tmp/scim-after1.json" <(scim_all)
check "scim: the second sync counts the deactivated leaver as already inactive, not against the guard" \
    test "$(counted scim-sync2 already_inactive)" = 1

# Drift: someone edits a managed user on the server; the next sync puts Slack's values back with
# one PUT to /Users/{id} (the update address), and the run after writes nothing.
bobby_id="$(jq -r '.[] | select(.externalId == "U0QUOTE001") | .id' "$tmp/scim-after1.json")"
scim_curl "$scim" PATCH "/Users/$bobby_id" \
    '{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "displayName", "value": "Drifted"}]}'
run scim-sync3 sync
bobby_now="$(scim_curl "$scim" GET "/Users/$bobby_id" | jq -c '[.displayName, .externalId, .active]')"
bobby_want="$(jq -c '.[] | select(.id == "U0QUOTE001") | [.name, .id, true]' "$tmp/eligible.json")"
if [ "$rc" = 0 ] && [ "$(counts scim-sync3)" = '{"create":0,"update":1,"deactivate":0}' ] && [ "$bobby_now" = "$bobby_want" ]; then
    ok "scim: a user edited on the server is put back with one update (PUT /Users/{id}): $bobby_now"
else not_ok "scim: a user edited on the server is put back with one update ($(counts scim-sync3), $bobby_now)"; why scim-sync3; fi
scim_all >"$tmp/scim-after3.json"
run scim-sync4 sync
if [ "$rc" = 0 ] && writes_none scim-sync4 && cmp -s "$tmp/scim-after3.json" <(scim_all); then
    ok "scim: the sync after the repair writes nothing"
else not_ok "scim: the sync after the repair writes nothing ($(counts scim-sync4))"; why scim-sync4; fi

# A recycled address: the user holding a member's userName now carries another (departed) person's
# externalId. The member is refused, the user is deactivated as a leaver's, nobody gets a new user.
recycled_email="$(jq -r .email <<<"$recycled")"; recycled_id="$(jq -r .id <<<"$recycled")"
recycled_sid="$(scim_user "$recycled_email" | jq -r .id)"
scim_curl "$scim" PATCH "/Users/$recycled_sid" \
    '{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "externalId", "value": "U9RECYCLE1"}]}' >/dev/null
run scim-recycled sync
scim_recycled() {
    jq -e --arg id "$recycled_id" '.actions[] | select(.slack_id == $id) | select(.status == "failed" and (.error | contains("recycled")))' \
        "$tmp/scim-recycled/summary.json" >/dev/null || { echo "#   no failed action naming the recycled address"; return 1; }
    [ "$(scim_curl "$scim" GET "/Users/$recycled_sid" | jq -c '[.externalId, .active]')" = '["U9RECYCLE1",false]' ] || return 1
    [ "$(scim_all | jq --arg id "$recycled_id" --arg e "$recycled_email" 'map(select(.externalId == $id or .userName == $e)) | length')" = 1 ]
}
if [ "$rc" = 3 ] && scim_recycled; then
    ok "scim: a recycled address is refused (exit 3, the reason named), the departed person's user deactivated, no user taken over or made"
else not_ok "scim: a recycled address is refused (exit $rc)"; why scim-recycled; fi

# A folder addressing users by their key (userName) instead of their id: every update would 404.
variant scim scim-by-key 's|"/Users/{id}"|"/Users/{key}"|g'
templates="$tmp/templates" run scim-by-key check SLACK_IM_SYSTEM=scim-by-key
if [ "$rc" = 2 ] && grep -q 404 "$tmp/scim-by-key/err" "$tmp/scim-by-key/out"; then
    ok "scim: check is not ready (exit 2, the 404 named) for a folder whose update address is /Users/{key}"
else not_ok "scim: check is not ready (exit $rc) for a folder whose update address is /Users/{key}"; why scim-by-key; fi

# A server that caps count (ServiceProviderConfig filter.maxResults 5) below the asked 200.
jq '.filter.maxResults = 5' <(scim_curl "$scim" GET /ServiceProviderConfig) >"$tmp/spc5.json"
capped_port="$(free_port)"
"$venv/bin/scim2-server" --hostname 127.0.0.1 --port "$capped_port" --bearer-token "$scim_token" \
    --service-provider-config "$tmp/spc5.json" >"$tmp/scim-capped.log" 2>&1 &
pids+=($!)
capped="http://127.0.0.1:$capped_port"
if wait_http "$capped/ServiceProviderConfig" 30; then
    # Eight hand-made users holding members' userNames: a complete listing leaves all eight alone.
    jq -c '.[2:10][] | {userName: .email, displayName: "Capped Hand", active: true}' "$tmp/eligible.json" \
        | while read -r u; do scim_new "$u" "$capped" >/dev/null; done
    scim_all "$capped" >"$tmp/capped.before"
    run scim-capped plan SLACK_IM_TARGET_URL="$capped"
    n="$(jq '.unmanaged | length' "$tmp/scim-capped/summary.json" 2>/dev/null)"
    if [ "$rc" = 0 ] && [ "$n" = 8 ]; then ok "scim: the preset pages through a server capping count at 5 (8 of 8 users seen)"
    else not_ok "scim: the preset pages through a server capping count at 5 (exit $rc, ${n:-?} of 8 left alone)"; why scim-capped; fi
    # A folder that assumes every page is full skips users: totalResults proves it.
    variant scim scim-full-pages "s|\"next\": .*|\"next\": \"'/Users?startIndex=' ~ ((page + 1) * 200 + 1) ~ '\&count=200'\"|"
    templates="$tmp/templates" run scim-short sync SLACK_IM_TARGET_URL="$capped" SLACK_IM_SYSTEM=scim-full-pages
    if [ "$rc" = 1 ] && grep -q totalResults "$tmp/scim-short/err" "$tmp/scim-short/out" && cmp -s "$tmp/capped.before" <(scim_all "$capped"); then
        ok "scim: a listing that skips capped pages fails the read (exit 1, totalResults named), nothing written"
    else not_ok "scim: a listing that skips capped pages fails the read (exit $rc), nothing written"; why scim-short; fi
else
    not_ok "scim2-server starts with maxResults 5"; diag "$tmp/scim-capped.log"
fi

# ==== Redmine 5 (Debian), thin ===========================================================================
rails() { # rails RUBY: bin/rails runner as www-data in production
    (cd "$REDMINE_ROOT" && timeout 300 setpriv --reuid=www-data --regid=www-data --init-groups \
        env HOME=/tmp RAILS_ENV=production bin/rails runner "$1")
}
t3=$SECONDS
if rails '
    Setting.rest_api_enabled = "1"
    User.where(type: "User").where.not(login: "admin").find_each(&:destroy)
    field = UserCustomField.find_by(name: "Slack ID") ||
        UserCustomField.create!(name: "Slack ID", field_format: "string", visible: true, editable: false)
    locked_by = UserCustomField.find_by(name: "Locked by") ||
        UserCustomField.create!(name: "Locked by", field_format: "string", visible: true, editable: false)
    puts "api_key=#{User.find_by_login("admin").api_key}"
    puts "slack_id_field=#{field.id}"
    puts "locked_by_field=#{locked_by.id}"
    puts "version=#{Redmine::VERSION}"' >"$tmp/redmine-setup.out" 2>"$tmp/redmine-setup.err"; then
    ok "redmine: REST API enabled, users reset, Slack ID custom field ready ($((SECONDS - t3)) s)"
else
    not_ok "redmine: setup with bin/rails runner"; diag "$tmp/redmine-setup.err"; finish
fi
redmine_key="$(sed -n 's/^api_key=//p' "$tmp/redmine-setup.out")"
field="$(sed -n 's/^slack_id_field=//p' "$tmp/redmine-setup.out")"
locked_by="$(sed -n 's/^locked_by_field=//p' "$tmp/redmine-setup.out")"
echo "# redmine $(sed -n 's/^version=//p' "$tmp/redmine-setup.out"), Slack ID field $field"
redmine_port="$(free_port)"
(cd "$REDMINE_ROOT" && exec setpriv --reuid=www-data --regid=www-data --init-groups env HOME=/tmp \
    RAILS_ENV=production thin start -R "$REDMINE_ROOT/config.ru" -a 127.0.0.1 -p "$redmine_port" -e production) \
    >"$tmp/thin.log" 2>&1 &
pids+=($!)
redmine="http://127.0.0.1:$redmine_port"
if wait_http "$redmine/users.json" 120; then ok "redmine starts under thin on 127.0.0.1:$redmine_port as www-data"
else not_ok "redmine starts under thin"; diag "$tmp/thin.log"; finish; fi

rm_curl() { # rm_curl METHOD PATH [BODY]
    local args=(-sf --max-time 30 -X "$1" -H "X-Redmine-API-Key: $redmine_key" -H 'Content-Type: application/json')
    [ $# -ge 3 ] && args+=(-d "$3")
    curl "${args[@]}" "$redmine$2"
}
# Every user of a status, all pages, with its status added, sorted by id.
rm_status() {
    local offset=0 page all='[]' _
    for _ in $(seq 200); do # bounded: 200 pages of 100 are far more than any test holds
        page="$(rm_curl GET "/users.json?status=$1&limit=100&offset=$offset")" || return 1
        all="$(jq -c --argjson all "$all" --argjson s "$1" '$all + (.users | map(. + {status: $s}))' <<<"$page")"
        offset=$((offset + 100))
        [ "$offset" -lt "$(jq .total_count <<<"$page")" ] || break
    done
    jq -S 'sort_by(.id)' <<<"$all"
}
rm_all() { jq -s -S 'add | sort_by(.id)' <(rm_status 1) <(rm_status 3) <(rm_status 2); }
rm_new() { # rm_new USER-FIELDS: creates a user, prints its id
    rm_curl POST /users.json "$(jq -c '{user: (. + {generate_password: true})}' <<<"$1")" | jq -r .user.id
}
# Hand-made accounts: the first synthetic member's login (not managed: no Slack ID), the second
# member's login, locked by hand, the third's, registered (status 2, not yet activated), and one slack-im would have made for someone who left.
hand1_login="$(jq -r .local <<<"$hand1")"; hand2_login="$(jq -r .local <<<"$hand2")"
hand1_rid="$(rm_new "$(jq -c '{login: .local, firstname: "Made", lastname: "By Hand", mail: "hand1@hand.example"}' <<<"$hand1")")"
hand2_rid="$(rm_new "$(jq -c '{login: .local, firstname: "Locked", lastname: "By Hand", mail: "hand2@hand.example"}' <<<"$hand2")")"
rm_curl PUT "/users/$hand2_rid.json" '{"user": {"status": 3}}'
hand3_login="$(jq -r .local <<<"$hand3")"
hand3_rid="$(rm_new "$(jq -c '{login: .local, firstname: "Registered", lastname: "By Hand", mail: "hand3@hand.example"}' <<<"$hand3")")"
rm_curl PUT "/users/$hand3_rid.json" '{"user": {"status": 2}}'
leaver_rid="$(rm_new "{\"login\": \"lee.leaver\", \"firstname\": \"Lee\", \"lastname\": \"Leaver\", \"mail\": \"lee.leaver@acme.example\", \"custom_fields\": [{\"id\": $field, \"value\": \"U9LEAVER01\"}]}")"
# Accounts with a life (issue 19), each with the member's Slack ID: the renamed member's under a
# former login; the returner's locked by slack-im when they left ("Locked by" = slack-im); one
# locked by an administrator (no mark) while its member is still in Slack.
slack_ids() { jq -c --argjson f "$field" --argjson l "$locked_by" --arg mark "${2:-}" \
    '[{id: $f, value: .id}, {id: $l, value: $mark}]' <<<"$1"; }
renamed_rid="$(rm_new "$(jq -c --argjson cf "$(slack_ids "$renamed")" '{login: ("former." + .local), firstname: "Old", lastname: "Name", mail: .email, custom_fields: $cf}' <<<"$renamed")")"
returner_rid="$(rm_new "$(jq -c --argjson cf "$(slack_ids "$returner" slack-im)" '{login: .local, firstname: "Gone", lastname: "Away", mail: .email, custom_fields: $cf}' <<<"$returner")")"
rm_curl PUT "/users/$returner_rid.json" '{"user": {"status": 3}}'
handlocked_login="$(jq -r .local <<<"$handlocked")"
handlocked_rid="$(rm_new "$(jq -c --argjson cf "$(slack_ids "$handlocked")" '{login: .local, firstname: "Locked", lastname: "By Admin", mail: .email, custom_fields: $cf}' <<<"$handlocked")")"
rm_curl PUT "/users/$handlocked_rid.json" '{"user": {"status": 3}}'
rm_curl GET "/users/$handlocked_rid.json" >"$tmp/rm-handlocked.before"
rm_curl GET "/users/$hand1_rid.json" >"$tmp/rm-hand1.before"
rm_curl GET "/users/$hand2_rid.json" >"$tmp/rm-hand2.before"
rm_curl GET "/users/$hand3_rid.json" >"$tmp/rm-hand3.before"
echo "# redmine hand-made: $hand1_login ($hand1_rid), $hand2_login locked ($hand2_rid), $hand3_login registered ($hand3_rid), lee.leaver ($leaver_rid)"

export SLACK_IM_SYSTEM=redmine SLACK_IM_TARGET_URL="$redmine" SLACK_IM_SECRET_TARGET_TOKEN="$redmine_key" \
    SLACK_IM_VAR_SLACK_ID_FIELD="$field" SLACK_IM_VAR_LOCKED_BY_FIELD="$locked_by"
run rm-check0 check
check "redmine: check is ready before the first sync" test "$rc" = 0 || why rm-check0
run rm-sync1 sync
if [ "$rc" = 0 ]; then ok "redmine: first sync exits 0 ($(counts rm-sync1))"; else not_ok "redmine: first sync exits 0"; why rm-sync1; fi
rm_all >"$tmp/rm-after1.json"
rm_members_ok() {
    local bad
    bad="$(jq -n --slurpfile want "$tmp/eligible.json" --slurpfile have "$tmp/rm-after1.json" \
            --arg h1 "$hand1_login" --arg h2 "$hand2_login" --arg h3 "$hand3_login" --arg h4 "$handlocked_login" --argjson f "$field" '
        ($want[0] | map(select(.local != $h1 and .local != $h2 and .local != $h3 and .local != $h4))) as $w
        | ($have[0] | map(. + {slack: ((.custom_fields // []) | map(select(.id == $f)) | .[0].value)})
                    | map(select(.slack != null and .slack != "" and .slack != "U9LEAVER01" and .login != $h4))) as $h
        | if ($w | length) != ($h | length) then ["\($w | length) eligible members, \($h | length) accounts with a Slack ID"]
          else [$w[] | . as $m | ($h | map(select(.slack == $m.id))) as $u
                | (if $m.first != "" then $m.first else $m.name end | .[0:30]) as $first
                | (if $m.last != "" then $m.last else "-" end) as $last
                | if ($u | length) != 1 then "\($m.id): \($u | length) accounts"
                  elif $u[0].login != $m.local or $u[0].firstname != $first or $u[0].lastname != $last
                       or $u[0].mail != $m.email or $u[0].status != 1
                  then "\($m.id): \($u[0] | tojson)" else empty end]
          end | .[]')"
    [ -z "$bad" ] || { echo "$bad" | head -n 5 | sed 's/^/#   /'; return 1; }
    # more than one page of the status=1 listing (limit=100)
    [ "$(jq 'map(select(.status == 1)) | length' "$tmp/rm-after1.json")" -gt 100 ]
}
check "redmine: one active account per eligible member but the hand-locked one ($((eligible - 4))), login/names/mail/Slack ID as in Slack, over several pages" rm_members_ok
rm_hostile() {
    jq '[.[] | select(.custom_fields != null) | {name: (.firstname + " " + .lastname)}]' "$tmp/rm-after1.json" >"$tmp/rm-names.json"
    # Slack's first and last names of these members hold no double quote (real names do).
    hostile_ok "$tmp/rm-names.json" "\\" '<' '{{' "'"
}
check "redmine: hostile first/last names (apostrophe, backslash, </script>, {{, unicode) are on the server exactly as in Slack" rm_hostile
check "redmine: the hand-made account holding a member's login is untouched" \
    cmp -s "$tmp/rm-hand1.before" <(rm_curl GET "/users/$hand1_rid.json")
check "redmine: the hand-locked account holding a member's login stays locked and untouched (not created again)" \
    cmp -s "$tmp/rm-hand2.before" <(rm_curl GET "/users/$hand2_rid.json")
check "redmine: the registered (status 2) account holding a member's login is untouched (not created again)" \
    cmp -s "$tmp/rm-hand3.before" <(rm_curl GET "/users/$hand3_rid.json")
check "redmine: the leaver is locked (status 3), marked Locked by slack-im" \
    test "$(rm_curl GET "/users/$leaver_rid.json" | jq -c --argjson l "$locked_by" '[.user.status, (.user.custom_fields[] | select(.id == $l) | .value)]')" = '[3,"slack-im"]'
check "redmine: a member whose e-mail changed keeps their account (same id), login renamed, reported renamed_from" \
    test "$(rm_curl GET "/users/$renamed_rid.json" | jq -r '.user.login'),$(jq -r '.actions[] | select(.renamed_from != null) | .renamed_from' "$tmp/rm-sync1/summary.json")" \
        = "$(jq -r .local <<<"$renamed"),former.$(jq -r .local <<<"$renamed")"
rm_login_ok() { # the reactivated member can sign in: an administrator sets a password, Basic auth works
    local pw="Rx-$RANDOM$RANDOM-pw"
    rm_curl PUT "/users/$returner_rid.json" "{\"user\": {\"password\": \"$pw\"}}" >/dev/null || return 1
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 -u "$(jq -r .local <<<"$returner"):$pw" "$redmine/users/current.json")" = 200 ]
}
check "redmine: the returning member's account is unlocked (status 1, Locked by cleared), once" \
    test "$(rm_curl GET "/users/$returner_rid.json" | jq -c --argjson l "$locked_by" '[.user.status, (.user.custom_fields[] | select(.id == $l) | .value)]'),$(counted rm-sync1 reactivate)" = '[1,""],1'
check "redmine: the returning member can sign in again (Basic auth on /users/current.json)" rm_login_ok
check "redmine: the account an administrator locked stays locked and untouched, reported as locked by someone else" \
    test "$(cmp -s "$tmp/rm-handlocked.before" <(rm_curl GET "/users/$handlocked_rid.json") && echo same),$(jq -r '[.locked[].key] | join(" ")' "$tmp/rm-sync1/summary.json")" = "same,$handlocked_login"
check "redmine: the administrator is untouched and active" \
    test "$(rm_curl GET /users/1.json | jq -c '.user | [.status, .login]')" = '[1,"admin"]'

run rm-check1 check
check "redmine: check is ready after the sync (it proves the update address of a managed account)" test "$rc" = 0 || why rm-check1
rm_all >"$tmp/rm-before2.json" # the sign-in check above set a password
run rm-sync2 sync
if [ "$rc" = 0 ] && writes_none rm-sync2; then ok "redmine: second sync exits 0 and writes nothing ($(counts rm-sync2))"
else not_ok "redmine: second sync exits 0 and writes nothing ($(counts rm-sync2))"; why rm-sync2; fi
check "redmine: the second sync changed nothing on the server (updated_on of every account; the leaver not locked again)" \
    cmp -s "$tmp/rm-before2.json" <(rm_all)
check "redmine: the second sync counts the locked leaver as already inactive, not against the guard" \
    test "$(counted rm-sync2 already_inactive)" = 1

bobby_rid="$(jq -r --argjson f "$field" '.[] | select(any(.custom_fields[]?; .id == $f and .value == "U0QUOTE001")) | .id' "$tmp/rm-after1.json")"
rm_curl PUT "/users/$bobby_rid.json" '{"user": {"firstname": "Drifted"}}'
run rm-sync3 sync
bobby_now="$(rm_curl GET "/users/$bobby_rid.json" | jq -c '.user | [.firstname, .lastname, .status]')"
bobby_want="$(jq -c '.[] | select(.id == "U0QUOTE001") | [.first, .last, 1]' "$tmp/eligible.json")"
if [ "$rc" = 0 ] && [ "$(counts rm-sync3)" = '{"create":0,"update":1,"deactivate":0}' ] && [ "$bobby_now" = "$bobby_want" ]; then
    ok "redmine: an account edited on the server is put back with one update (PUT /users/{id}.json, wrapped): $bobby_now"
else not_ok "redmine: an account edited on the server is put back with one update ($(counts rm-sync3), $bobby_now)"; why rm-sync3; fi
rm_all >"$tmp/rm-after3.json"
run rm-sync4 sync
if [ "$rc" = 0 ] && writes_none rm-sync4 && cmp -s "$tmp/rm-after3.json" <(rm_all); then
    ok "redmine: the sync after the repair writes nothing"
else not_ok "redmine: the sync after the repair writes nothing ($(counts rm-sync4))"; why rm-sync4; fi

# A recycled address: the account with a member's login now holds another (departed) person's
# Slack ID. The member is refused, the account is locked as a leaver's, nobody gets a new account.
recycled_login="$(jq -r .local <<<"$recycled")"; recycled_id="$(jq -r .id <<<"$recycled")"
recycled_rid="$(jq -r --arg l "$recycled_login" '.[] | select(.login == $l) | .id' "$tmp/rm-after3.json")"
rm_curl PUT "/users/$recycled_rid.json" "{\"user\": {\"custom_fields\": [{\"id\": $field, \"value\": \"U9RECYCLE1\"}]}}"
run rm-recycled sync
rm_recycled() {
    jq -e --arg id "$recycled_id" '.actions[] | select(.slack_id == $id) | select(.status == "failed" and (.error | contains("recycled")))' \
        "$tmp/rm-recycled/summary.json" >/dev/null || { echo "#   no failed action naming the recycled address"; return 1; }
    [ "$(rm_curl GET "/users/$recycled_rid.json" | jq .user.status)" = 3 ] || { echo "#   not locked"; return 1; }
    [ "$(rm_all | jq --arg id "$recycled_id" --arg l "$recycled_login" --argjson f "$field" \
        'map(select(.login == $l or any(.custom_fields[]?; .id == $f and .value == $id))) | length')" = 1 ]
}
if [ "$rc" = 3 ] && rm_recycled; then
    ok "redmine: a recycled address is refused (exit 3, the reason named), the departed person's account locked, none taken over or made"
else not_ok "redmine: a recycled address is refused (exit $rc)"; why rm-recycled; fi
rm_all >"$tmp/rm-after3.json"

variant redmine redmine-by-key 's|/users/{id}.json|/users/{key}.json|g'
templates="$tmp/templates" run rm-by-key check SLACK_IM_SYSTEM=redmine-by-key
if [ "$rc" = 2 ] && grep -q 404 "$tmp/rm-by-key/err" "$tmp/rm-by-key/out"; then
    ok "redmine: check is not ready (exit 2, the 404 named) for a folder whose update address is /users/{key}.json"
else not_ok "redmine: check is not ready (exit $rc) for a folder whose update address is /users/{key}.json"; why rm-by-key; fi

# Redmine answers limit=500 with 100 accounts (its cap): a folder trusting the limit it asked for
# skips accounts, and total_count proves it.
variant redmine redmine-limit-500 's|limit=100|limit=500|g; s|offset='"'"' ~ count|offset='"'"' ~ ((page + 1) * 500)|'
templates="$tmp/templates" run rm-capped sync SLACK_IM_SYSTEM=redmine-limit-500
if [ "$rc" = 1 ] && grep -q total_count "$tmp/rm-capped/err" "$tmp/rm-capped/out" && cmp -s "$tmp/rm-after3.json" <(rm_all); then
    ok "redmine: a listing asking limit=500 (capped at 100) fails the read (exit 1, total_count named), nothing written"
else not_ok "redmine: a listing asking limit=500 (capped at 100) fails the read (exit $rc), nothing written"; why rm-capped; fi

echo "# whole suite: $SECONDS s"
finish
