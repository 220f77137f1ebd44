#!/usr/bin/env bash
# Every test of the project, on a fresh machine too: installs what is missing (idempotent), then
# runs format and lint checks, the Rust unit and integration tests (the real binary against the
# local fakes), the Groovy step tests and lint, the container tests with podman, and the presets
# templates/scim and templates/redmine against real servers (.ci/real-servers.sh).
#
#   scripts/test.sh            everything
#   scripts/test.sh rust       only the Rust checks and tests (no apt, no podman)
#
# It ends with one line, "N passed, M failed", counting tests across all suites.
set -uo pipefail
cd "$(dirname "$0")/.."

only="${1:-all}"
passed=0
failed=0
failures=()

log() { printf '\n== %s\n' "$*"; }

# Runs a suite, adds its counts; a suite whose command fails counts at least one failure.
suite() {
    local name="$1"; shift
    log "$name"
    local out; out="$(mktemp)"
    "$@" 2>&1 | tee "$out"
    local status=${PIPESTATUS[0]}
    local p f
    # cargo: "test result: ok. 12 passed; 0 failed; ..."; our scripts: "12 passed, 0 failed".
    p=$(grep -Eo '(^|[ .])[0-9]+ passed' "$out" | grep -Eo '[0-9]+' | paste -sd+ | bc 2>/dev/null || echo 0)
    f=$(grep -Eo '[0-9]+ failed' "$out" | grep -Eo '[0-9]+' | paste -sd+ | bc 2>/dev/null || echo 0)
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    if [ "$status" -ne 0 ]; then
        [ "${f:-0}" -eq 0 ] && failed=$((failed + 1))
        failures+=("$name")
    fi
    rm -f "$out"
}

check() { # a check that is not a test runner: passes or fails as one
    local name="$1"; shift
    log "$name"
    if "$@"; then passed=$((passed + 1)); echo "ok - $name"; else failed=$((failed + 1)); failures+=("$name"); echo "not ok - $name"; fi
}

command -v bc >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bc >/dev/null; }
rustup component add rustfmt clippy >/dev/null 2>&1 || true

check "cargo fmt" cargo fmt --all --check
check "cargo clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
suite "cargo test" cargo test --workspace --locked

if [ "$only" = all ]; then
    [ -x jenkins-shared-lib/test/run.sh ] && suite "groovy step tests" jenkins-shared-lib/test/run.sh
    [ -x jenkins-shared-lib/test/lint.sh ] && check "npm-groovy-lint" jenkins-shared-lib/test/lint.sh
    [ -x .ci/container-test.sh ] && suite "container tests" .ci/container-test.sh
    [ -x .ci/real-servers.sh ] && suite "real servers (scim2-server, redmine)" .ci/real-servers.sh
    [ -x .ci/jenkins-e2e.sh ] && suite "jenkins step end to end" .ci/jenkins-e2e.sh
fi

log "summary"
if [ "${#failures[@]}" -gt 0 ]; then echo "failed suites: ${failures[*]}"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
