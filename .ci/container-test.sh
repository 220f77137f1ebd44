#!/usr/bin/env bash
# shellcheck disable=SC2317  # the check functions are called indirectly, through check()
# End-to-end test of the slack-im container image against the local fakes (127.0.0.1 only).
#
#   .ci/container-test.sh
#
# Builds the image with .ci/image.sh (host-built musl binary + the top-level Dockerfile's final
# stage), starts `slack-im-fakes serve`, runs the image with podman --network host, and prints one
# `ok - …` / `not ok - …` line per check, then `N passed, M failed`. Exits 1 if any check failed.
# Installs what it needs (apt: podman runc musl-tools socat openssl curl jq; rustup musl target).
# Run as root (apt, and the files it mounts are chowned to the image's uid 65532).
#
# Environment: IMAGE [localhost/slack-im:ci], KEEP_TMP=1 keeps the work directory,
# SKIP_CONTEXT_CHECK=1 skips compiling the Docker build context (the slowest check).
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo" || exit 1
export IMAGE="${IMAGE:-localhost/slack-im:ci}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$repo/.ci/containers.conf}"
TRIPLE=x86_64-unknown-linux-musl
MAX_IMAGE_BYTES=8000000   # 8 MB
RUN_TIMEOUT=120           # seconds, any single container run

# shellcheck source=.ci/lib.sh
. "$repo/.ci/lib.sh"

# ---- work dir and cleanup ---------------------------------------------------------------------------
scratch_dir slack-im-container-test

# ---- tools ------------------------------------------------------------------------------------------
install_tools podman:podman runc:runc musl-gcc:musl-tools socat:socat openssl:openssl curl:curl jq:jq
rootful=0; [ "$(id -u)" = 0 ] && rootful=1
# Hands a host path to the image's user 65532 (rootless podman: uid 65532 of its user namespace).
give_to_image_user() {
    if [ "$rootful" = 1 ]; then chown -R 65532:65532 "$@"; else podman unshare chown -R 65532:65532 "$@"; fi
}
owner_uid() {
    if [ "$rootful" = 1 ]; then stat -c %u "$1"; else podman unshare stat -c %u "$1"; fi
}

# ---- image --------------------------------------------------------------------------------------------
if .ci/image.sh >"$tmp/image.out" 2>"$tmp/image.err"; then
    ok "image builds from a host-built musl binary (.ci/image.sh)"
    sed 's/^/# /' "$tmp/image.out"
else
    not_ok "image builds from a host-built musl binary (.ci/image.sh)"; diag "$tmp/image.err"; finish
fi
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
case "$target_dir" in /*) ;; *) target_dir="$repo/$target_dir" ;; esac
bin="$target_dir/$TRIPLE/release/slack-im"
bin_bytes="$(stat -c %s "$bin")"
image_bytes="$(podman image inspect --format '{{.Size}}' "$IMAGE")"

# ---- static properties of the image ---------------------------------------------------------------
echo "# binary $bin_bytes bytes, image $image_bytes bytes"
check "image is under 8 MB ($image_bytes bytes; binary $bin_bytes bytes)" test "$image_bytes" -lt "$MAX_IMAGE_BYTES"

inspect() { podman image inspect --format "$1" "$IMAGE"; }
user="$(inspect '{{.Config.User}}')"
check "image runs as a non-root user (User = $user)" test "$user" = "65532:65532"
entry="$(inspect '{{json .Config.Entrypoint}} {{json .Config.Cmd}}')"
check "exec-form ENTRYPOINT [\"/slack-im\"], CMD [\"sync\"] ($entry)" test "$entry" = '["/slack-im"] ["sync"]'
templ_env="$(inspect '{{json .Config.Env}}')"
check "SLACK_IM_TEMPLATES=/templates in the image" grep -q '"SLACK_IM_TEMPLATES=/templates"' <<<"$templ_env"
version="$("$bin" --version | awk '{print $NF}')"
labels_ok() {
    local l
    for l in version revision source created title licenses; do
        [ -n "$(inspect "{{index .Labels \"org.opencontainers.image.$l\"}}")" ] || { echo "#   no $l label"; return 1; }
    done
    [ "$(inspect '{{index .Labels "org.opencontainers.image.version"}}')" = "$version" ] || return 1
    [ "$(inspect '{{index .Labels "org.opencontainers.image.revision"}}')" = "$(git rev-parse HEAD 2>/dev/null || echo unknown)" ]
}
check "org.opencontainers.image.* labels (version $version, revision, source, created)" labels_ok

# The file system: the binary and the templates (all readable by 65532), nothing else: no shell.
ctr="$(podman create "$IMAGE")"
podman export "$ctr" | tar -tvf - >"$tmp/files.txt"
podman rm "$ctr" >/dev/null
contents_ok() {
    local files expected
    files="$(awk '$1 !~ /^d/ {print $NF}' "$tmp/files.txt" | sort)"
    expected="$( { echo slack-im; find templates -type f; } | sort)"
    [ "$files" = "$expected" ] || { diff <(echo "$expected") <(echo "$files") | sed 's/^/#   /'; return 1; }
    # every entry readable by others, directories traversable
    ! awk '{print $1}' "$tmp/files.txt" | grep -v -E '^(d......r.x|-......r..)$'
}
check "image holds only /slack-im and /templates, world-readable (no shell, no CA file)" contents_ok

# The Dockerfile's builder stage (`docker build .`) gets the context .dockerignore lets through:
# capture it with podman and check that it is small and compiles offline with --locked.
if [ "${SKIP_CONTEXT_CHECK:-0}" = 1 ]; then
    echo "# skipped: build context check (SKIP_CONTEXT_CHECK=1)"
else
    context_ok() {
        local ctx="$target_dir/context-check" c
        podman build --pull=never -q -f .ci/container/context.Containerfile \
            -t localhost/slack-im-context:ci . >"$tmp/context.log" 2>&1 || return 1
        rm -rf "$ctx/src"; mkdir -p "$ctx"
        c="$(podman create localhost/slack-im-context:ci x)" || return 1
        podman export "$c" | tar -xf - -C "$ctx"
        podman rm "$c" >/dev/null; podman rmi localhost/slack-im-context:ci >/dev/null 2>&1
        local kb; kb="$(du -sk "$ctx/src" | cut -f1)"
        echo "# build context: ${kb} KB, $(find "$ctx/src" -type f | wc -l) files"
        [ ! -e "$ctx/src/target" ] && [ ! -e "$ctx/src/.git" ] && [ "$kb" -lt 5000 ] || return 1
        (cd "$ctx/src" && CARGO_TARGET_DIR="$ctx/target" timeout 900 cargo check --release --locked \
            --offline --target "$TRIPLE" -p slack-im) >>"$tmp/context.log" 2>&1
    }
    if context_ok; then ok "docker build context (.dockerignore) is small and compiles with --locked"
    else not_ok "docker build context (.dockerignore) is small and compiles with --locked"; diag "$tmp/context.log"; fi
fi

# ---- fakes ------------------------------------------------------------------------------------------
if ! timeout 900 cargo build --locked -p slack-im-fakes >"$tmp/fakes-build.log" 2>&1; then
    not_ok "build slack-im-fakes"; diag "$tmp/fakes-build.log"; finish
fi
fakes="$target_dir/debug/slack-im-fakes"
"$fakes" serve --members 40 --env-file "$tmp/fakes.env" --for-secs 1200 >"$tmp/fakes.out" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$tmp/fakes.env" ] && break; sleep 0.1; done
if [ ! -s "$tmp/fakes.env" ]; then not_ok "start slack-im-fakes"; diag "$tmp/fakes.out"; finish; fi
while IFS='=' read -r k v; do
    case "$k" in SLACK_BOT_TOKEN|SLACK_IM_*) export "$k=$v" ;; esac
done <"$tmp/fakes.env"
for k in SLACK_IM_SLACK_URL SLACK_IM_TARGET_URL SLACK_BOT_TOKEN SLACK_IM_SECRET_TARGET_TOKEN SLACK_IM_EMAIL_DOMAINS; do
    [ -n "${!k:-}" ] || { not_ok "fakes env file has $k"; finish; }
done
# dev gives each account a password of its own (new_password()) and DMs it (welcome.txt): no shared
# initial password to pass.
export SLACK_IM_SYSTEM=dev
target_url="$SLACK_IM_TARGET_URL"
stats() { curl -sf --max-time 5 "$target_url/__fake/stats"; }
stat_of() { stats | jq -r ".$1"; }
writes() { stats | jq '.create + .update + .delete'; }

# ---- running the image --------------------------------------------------------------------------------
mkdir -p "$tmp/out"
# run_image LABEL [podman run options...] -- [slack-im arguments...]
# Secrets go in by name only (-e NAME, the value comes from this environment).
run_image() {
    local label="$1"; shift
    local opts=() rc
    while [ "$#" -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    [ "${1:-}" = -- ] && shift
    timeout "$RUN_TIMEOUT" podman run --rm --network host \
        -e SLACK_IM_SYSTEM -e SLACK_IM_SLACK_URL -e SLACK_IM_TARGET_URL -e SLACK_IM_EMAIL_DOMAINS \
        -e SLACK_IM_SECRET_TARGET_TOKEN \
        "${opts[@]}" "$IMAGE" "$@" >"$tmp/out/$label.out" 2>"$tmp/out/$label.err"
    rc=$?
    echo "$rc" >"$tmp/out/$label.rc"
    return "$rc"
}
expect_rc() { # expect_rc LABEL WANT DESCRIPTION
    local got; got="$(cat "$tmp/out/$1.rc")"
    if [ "$got" = "$2" ]; then ok "$3 (exit $got)"
    else not_ok "$3 (exit $got, want $2)"; diag "$tmp/out/$1.err"; fi
}
new_report_dir() { mkdir -p "$tmp/$1"; give_to_image_user "$tmp/$1"; echo "$tmp/$1"; }

# 1. dry run first, on the empty target: plans every create, writes nothing.
rep="$(new_report_dir reports-plan)"
w0="$(writes)"
run_image plan -e SLACK_BOT_TOKEN -v "$rep:/reports" -e SLACK_IM_REPORT_DIR=/reports -- plan
expect_rc plan 0 "dry run (plan) finishes"
planned="$(jq -r '.counts.create' "$rep/summary.json" 2>/dev/null)"
check "dry run plans creates ($planned) and writes nothing (writes $w0 -> $(writes))" \
    test "${planned:-0}" -gt 0 -a "$(writes)" = "$w0" -a "$(jq -r .dry_run "$rep/summary.json")" = true

# 2. full sync: exit 0, the target holds the accounts, reports owned by 65532.
rep="$(new_report_dir reports-sync)"
run_image sync -e SLACK_BOT_TOKEN -v "$rep:/reports" -e SLACK_IM_REPORT_DIR=/reports -- sync
expect_rc sync 0 "full sync"
created="$(stat_of create)"; accounts="$(stat_of accounts)"
check "target holds the accounts (stats: create=$created accounts=$accounts, planned $planned)" \
    test "$created" = "$planned" -a "$accounts" = "$planned" \
         -a "$(jq -r '.counts.failed' "$rep/summary.json" 2>/dev/null)" = 0
reports_owned() {
    local f
    for f in summary.json summary.md junit.xml; do
        if [ ! -f "$rep/$f" ] || [ "$(owner_uid "$rep/$f")" != 65532 ]; then
            echo "#   $f missing or not owned by 65532"; return 1
        fi
    done
}
check "report files written into the mounted dir, owned by uid 65532" reports_owned

# 3. second sync: nothing to do, zero writes.
w1="$(writes)"
run_image sync2 -e SLACK_BOT_TOKEN -- sync
expect_rc sync2 0 "second sync"
check "second sync makes zero writes (writes $w1 -> $(writes))" test "$(writes)" = "$w1"

# 4. default command is sync (CMD ["sync"]): no arguments at all.
w1="$(writes)"
run_image default -e SLACK_BOT_TOKEN --
expect_rc default 0 "no arguments runs the default command (sync)"
check "the default command's summary line says 'slack-im sync dev'" grep -q 'slack-im sync dev' "$tmp/out/default.out" "$tmp/out/default.err"

# 5. bad configuration: exit 2, naming the variable.
run_image badsys -e SLACK_BOT_TOKEN -e SLACK_IM_SYSTEM=no-such-system -- sync
expect_rc badsys 2 "unknown system (SLACK_IM_SYSTEM=no-such-system) is a configuration error"
check "its message names SLACK_IM_SYSTEM" grep -q SLACK_IM_SYSTEM "$tmp/out/badsys.err"
run_image typo -e SLACK_BOT_TOKEN -e SLACK_IM_SYSTME=dev -- plan
expect_rc typo 2 "misspelled variable (SLACK_IM_SYSTME) is a configuration error"
check "its message names SLACK_IM_SYSTME" grep -q SLACK_IM_SYSTME "$tmp/out/typo.err"
run_image notoken -- plan
expect_rc notoken 2 "no token at all is a configuration error"
run_image badca -e SLACK_BOT_TOKEN -e SSL_CERT_FILE=/no/such/ca.pem -- plan
expect_rc badca 2 "missing SSL_CERT_FILE is a configuration error"
check "its message names SSL_CERT_FILE" grep -q SSL_CERT_FILE "$tmp/out/badca.err"

# 6. secrets as files: SLACK_BOT_TOKEN_FILE and SLACK_IM_SECRET_TARGET_TOKEN_FILE, mounted read-only,
#    readable by 65532 only; the token variables themselves are not passed.
mkdir -p "$tmp/secrets"
printf '%s\n' "$SLACK_BOT_TOKEN" >"$tmp/secrets/slack_bot_token"
printf '%s\n' "$SLACK_IM_SECRET_TARGET_TOKEN" >"$tmp/secrets/target_token"
chmod 0500 "$tmp/secrets"; chmod 0400 "$tmp/secrets"/*
give_to_image_user "$tmp/secrets"
w1="$(writes)"; l1="$(stat_of list)"
( unset SLACK_IM_SECRET_TARGET_TOKEN
  run_image tokenfile -v "$tmp/secrets:/run/secrets:ro" \
      -e SLACK_BOT_TOKEN_FILE=/run/secrets/slack_bot_token \
      -e SLACK_IM_SECRET_TARGET_TOKEN_FILE=/run/secrets/target_token -- sync )
expect_rc tokenfile 0 "secrets from mounted files (SLACK_BOT_TOKEN_FILE, SLACK_IM_SECRET_TARGET_TOKEN_FILE, mode 0400 uid 65532)"
check "token-file run listed the target and wrote nothing (list $l1 -> $(stat_of list))" \
    test "$(stat_of list)" -gt "$l1" -a "$(writes)" = "$w1"

# 7. private CA: the fake target behind a TLS proxy whose certificate a test CA signed.
tls="$tmp/tls"; mkdir -p "$tls"
make_pki() {
    cd "$tls" || return 1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -keyout ca.key -out ca.pem -subj "/CN=slack-im test private CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout server.key -out server.csr -subj "/CN=127.0.0.1" &&
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" >server.ext &&
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
        -extfile server.ext -out server.pem
}
tls_port=""
start_tls_proxy() { # start_tls_proxy UPSTREAM-URL PROBE-PATH: HTTPS on 127.0.0.1:$tls_port in front of it
    local port pid upstream="${1#http://}"; upstream="${upstream%/}"
    for _ in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 40000))
        socat "openssl-listen:$port,bind=127.0.0.1,reuseaddr,fork,cert=$tls/server.pem,key=$tls/server.key,verify=0" \
            "tcp:${upstream%%/*}" >"$tls/socat.log" 2>&1 &
        pid=$!
        for _ in $(seq 1 50); do
            if curl -s -o /dev/null --max-time 2 --cacert "$tls/ca.pem" "https://127.0.0.1:$port$2"; then
                pids+=("$pid"); tls_port="$port"; return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    done
    return 1
}
if (make_pki) >"$tmp/pki.log" 2>&1 && start_tls_proxy "$target_url" /__fake/stats; then
    ok "HTTPS proxy for the fake target on 127.0.0.1:$tls_port (curl --cacert verifies it)"
    https_url="https://127.0.0.1:$tls_port"
    chmod 0644 "$tls/ca.pem"
    SLACK_IM_TARGET_URL="$https_url" run_image tls-noca -e SLACK_BOT_TOKEN -- sync
    expect_rc tls-noca 1 "without the private CA the run fails"
    if grep -qiE 'tls|certificate' "$tmp/out/tls-noca.err"; then
        ok "its message is a TLS/certificate error: $(grep -iE 'tls|certificate' "$tmp/out/tls-noca.err" | tail -n 1 | cut -c1-220)"
    else
        not_ok "its message is a TLS/certificate error"; diag "$tmp/out/tls-noca.err"
    fi
    l1="$(stat_of list)"
    SLACK_IM_TARGET_URL="$https_url" run_image tls-ca -e SLACK_BOT_TOKEN \
        -v "$tls/ca.pem:/etc/ssl/private-ca.pem:ro" -e SSL_CERT_FILE=/etc/ssl/private-ca.pem -- sync
    expect_rc tls-ca 0 "with the CA mounted and SSL_CERT_FILE pointing at it the run succeeds"
    check "that run reached the target through TLS (list $l1 -> $(stat_of list))" test "$(stat_of list)" -gt "$l1"
    # The targets' private CA is never trusted for Slack: Slack behind a proxy that CA signed
    # fails with SSL_CERT_FILE, and works only with SLACK_IM_SLACK_CA_FILE.
    slack_rest="${SLACK_IM_SLACK_URL#http://}"; slack_path="/${slack_rest#*/}"
    if start_tls_proxy "$SLACK_IM_SLACK_URL" "${slack_path}auth.test"; then
        slack_https="https://127.0.0.1:$tls_port$slack_path"
        SLACK_IM_SLACK_URL="$slack_https" run_image slack-tls-sslcert -e SLACK_BOT_TOKEN \
            -v "$tls/ca.pem:/etc/ssl/private-ca.pem:ro" -e SSL_CERT_FILE=/etc/ssl/private-ca.pem -- plan
        expect_rc slack-tls-sslcert 1 "Slack behind a proxy signed by SSL_CERT_FILE's CA is not trusted (that CA is the targets')"
        check "its message names SLACK_IM_SLACK_CA_FILE" grep -q SLACK_IM_SLACK_CA_FILE "$tmp/out/slack-tls-sslcert.err"
        SLACK_IM_SLACK_URL="$slack_https" run_image slack-tls-slackca -e SLACK_BOT_TOKEN \
            -v "$tls/ca.pem:/etc/ssl/private-ca.pem:ro" -e SLACK_IM_SLACK_CA_FILE=/etc/ssl/private-ca.pem -- plan
        expect_rc slack-tls-slackca 0 "with SLACK_IM_SLACK_CA_FILE naming that CA, Slack is reached through TLS"
    else
        not_ok "HTTPS proxy for the fake Slack (socat)"; diag "$tls/socat.log"
    fi
else
    not_ok "HTTPS proxy for the fake target (openssl + socat)"; diag "$tmp/pki.log" "$tls/socat.log"
fi

# 8. no secret value in any output or report (they are redacted).
leaks() { # succeeds if some secret value shows up: the tokens, or any password an account got
    local s hit=1 passwords=()
    mapfile -t passwords < <(curl -sf --max-time 5 "$target_url/__fake/accounts" | jq -r '.[].password // empty')
    for s in "$SLACK_BOT_TOKEN" "$SLACK_IM_SECRET_TARGET_TOKEN" "${passwords[@]}"; do
        if grep -rlF -- "$s" "$tmp/out" "$tmp"/reports-* 2>/dev/null | sed 's/^/#   leaked in /' | grep .; then hit=0; fi
    done
    return "$hit"
}
if leaks; then not_ok "no secret value in the container's output or reports"
else ok "no secret value in the container's output or reports"; fi

echo "# binary: $bin_bytes bytes; image: $image_bytes bytes ($IMAGE)"
finish
