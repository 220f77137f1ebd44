# Shared by the CI test scripts: TAP-like "ok - …" / "not ok - …" lines and the closing
# "N passed, M failed" line that scripts/test.sh adds up. Source it; it defines no traps.
passed=0
failed=0
ok()     { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
diag()   { sed 's/^/#   /' "$@" | tail -n 15; }
check()  { # check "description" command... : ok if the command succeeds
    local what="$1"; shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
    exit $?
}
