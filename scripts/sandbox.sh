#!/usr/bin/env bash
# The sandbox: a real slack-im sync, end to end, against the bundled local fakes — no Slack,
# no credentials, nothing leaves 127.0.0.1. It builds the release binaries, starts a fake
# workspace of 2,500+ awkward members and a fake target that already holds some of them,
# then runs check, plan, sync, and a second sync that writes nothing.
#
#   scripts/sandbox.sh [MEMBERS] [EXISTING_ACCOUNTS] [LEAVERS]
set -euo pipefail
cd "$(dirname "$0")/.."

members="${1:-2500}"
accounts="${2:-40}"
leavers="${3:-3}"
out="out/sandbox"
rm -rf "$out" && mkdir -p "$out"

echo "== building (release)"
cargo build --release --quiet --workspace --bins

echo "== starting the fakes: $members synthetic members + the 21-member fixture, $accounts existing accounts, $leavers leavers"
target/release/slack-im-fakes serve --members "$members" --accounts "$accounts" --leavers "$leavers" \
    --env-file "$out/fakes.env" >"$out/fakes.log" 2>&1 &
fakes=$!
trap 'kill "$fakes" 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$out/fakes.env" ] && break; sleep 0.1; done
[ -s "$out/fakes.env" ] || { echo "the fakes did not start:"; cat "$out/fakes.log"; exit 1; }

set -a
# shellcheck disable=SC1090,SC1091
. "$out/fakes.env"
# dev gives each account a password of its own and tells it in a DM to its member (welcome.txt):
# the fake Slack keeps the posts (GET /__fake/posted on its port).
SLACK_IM_SYSTEM=dev
SLACK_IM_REPORT_DIR="$out/reports"
set +a
slack_im=target/release/slack-im

echo; echo "== slack-im check"
"$slack_im" check

echo; echo "== slack-im plan (first 15 lines of the plan)"
"$slack_im" plan >"$out/plan.txt"
head -n 15 "$out/plan.txt"; echo "   …"; tail -n 1 "$out/plan.txt"

echo; echo "== slack-im sync"
"$slack_im" sync

echo; echo "== slack-im sync, again: nothing changed in Slack, so nothing is written"
"$slack_im" sync

echo; echo "== what the fake target saw (requests by kind)"
if command -v curl >/dev/null; then
    curl -s "${SLACK_IM_TARGET_URL}/__fake/stats"; echo
else
    echo "(curl is not installed: GET ${SLACK_IM_TARGET_URL}/__fake/stats shows them)"
fi
echo; echo "== reports in $out/reports"
ls -l "$out/reports"
head -n 12 "$out/reports/summary.md"
