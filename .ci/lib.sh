# Shared by the CI scripts: TAP-like "ok - …" / "not ok - …" lines and the closing
# "N passed, M failed" line that scripts/test.sh adds up, a scratch folder removed on exit, and
# tool installation with apt. Source it; only scratch_dir sets traps.
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

# A scratch folder in $tmp, removed on exit (KEEP_TMP=1 keeps it), with the background processes
# in $pids stopped, the containers named in $containers and the files in $files removed.
scratch_dir() {
    tmp="$(mktemp -d "/tmp/$1.XXXXXX")"
    pids=()
    containers=()
    files=()
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}
cleanup() {
    local p c
    for c in "${containers[@]}"; do podman rm -f "$c" >/dev/null 2>&1; done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    rm -f "${files[@]}"
    if [ "${KEEP_TMP:-0}" = 1 ]; then echo "# kept $tmp"; else rm -rf "$tmp"; fi
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# For scripts whose stdout is their result (.ci/image.sh): a "# script: message" line on stderr.
log() { printf '# %s: %s\n' "${0##*/}" "$*" >&2; }

# missing_packages COMMAND:PACKAGE… : sets need=(the packages whose command is missing; a COMMAND
# may be a path).
missing_packages() {
    local pair
    need=()
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
    done
}

# apt_install PACKAGE… : installs them with apt, output in $tmp/apt.log; fails if apt fails.
apt_install() {
    { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@"; } >"$tmp/apt.log" 2>&1
}

# install_tools COMMAND:PACKAGE… : installs with apt the packages whose command is missing.
# A failed install is a "not ok" and ends the script.
install_tools() {
    missing_packages "$@"
    [ "${#need[@]}" -gt 0 ] || return 0
    echo "# installing ${need[*]}"
    if ! apt_install "${need[@]}"; then
        not_ok "install test tools (${need[*]})"; diag "$tmp/apt.log"; finish
    fi
}
