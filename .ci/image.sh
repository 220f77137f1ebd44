#!/usr/bin/env bash
# Builds the slack-im container image without pulling any base image:
#   1. compiles the static musl binary on this machine,
#   2. builds the top-level Dockerfile's final stage (`--target image`) with podman, handing it the
#      binary through the named build context `binary` (which replaces the Dockerfile stage of that
#      name, so the rust builder stage is neither pulled nor run),
#   3. prints the binary and image sizes.
# Installs podman, runc and musl-tools (apt) and the rustup musl target if they are missing.
#
# Usage: .ci/image.sh            (from anywhere; works on the repository it lives in)
# Environment (all optional):
#   IMAGE            image name            [localhost/slack-im:ci]
#   IMAGE_VERSION    OCI version label     [the binary's --version]
#   IMAGE_REVISION   OCI revision label    [git rev-parse HEAD]
#   IMAGE_CREATED    OCI created label     [SOURCE_DATE_EPOCH, else now; RFC 3339 UTC]
#   IMAGE_SOURCE     OCI source label      [the Dockerfile's default]
#   CONTAINERS_CONF  podman configuration  [.ci/containers.conf]
#   CARGO_TARGET_DIR cargo's target dir    [target]
#   KEEP_TMP=1       keep the scratch folder (build context, apt log) in /tmp
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

IMAGE="${IMAGE:-localhost/slack-im:ci}"
TRIPLE=x86_64-unknown-linux-musl
export CONTAINERS_CONF="${CONTAINERS_CONF:-$repo/.ci/containers.conf}"

# shellcheck source=.ci/lib.sh
. "$repo/.ci/lib.sh"
# The build context (the binary alone) and apt's log live here; removed on exit (KEEP_TMP=1 keeps it).
scratch_dir slack-im-image

# ---- tools (idempotent) --------------------------------------------------------------------------
missing_packages podman:podman runc:runc musl-gcc:musl-tools
if [ "${#need[@]}" -gt 0 ]; then
    log "installing ${need[*]}"
    apt_install "${need[@]}" || { log "apt-get failed:"; diag "$tmp/apt.log" >&2; exit 1; }
fi
command -v cargo >/dev/null 2>&1 || { log "cargo is not installed (install rustup first)"; exit 1; }
if command -v rustup >/dev/null 2>&1; then
    rustup target list --installed | grep -qx "$TRIPLE" || rustup target add "$TRIPLE" >&2
fi

# ---- binary -----------------------------------------------------------------------------------------
log "cargo build --release --locked --target $TRIPLE -p slack-im"
cargo build --release --locked --target "$TRIPLE" -p slack-im >&2
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
case "$target_dir" in /*) ;; *) target_dir="$repo/$target_dir" ;; esac
bin="$target_dir/$TRIPLE/release/slack-im"
[ -x "$bin" ] || { log "no binary at $bin"; exit 1; }

# The build context holds the binary alone (the release dir also holds deps/, build/ …).
stage="$tmp/context"
mkdir "$stage"
cp "$bin" "$stage/slack-im"
if command -v readelf >/dev/null 2>&1 && readelf -l "$stage/slack-im" | grep -q 'INTERP'; then
    log "$bin is dynamically linked; a FROM scratch image needs a static binary"
    exit 1
fi

# ---- labels -------------------------------------------------------------------------------------------
version="${IMAGE_VERSION:-$("$stage/slack-im" --version | awk '{print $NF}')}"
revision="${IMAGE_REVISION:-$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)}"
if [ -n "${IMAGE_CREATED:-}" ]; then
    created="$IMAGE_CREATED"
elif [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
    created="$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)"
else
    created="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
fi
build_args=(--build-arg "VERSION=$version" --build-arg "REVISION=$revision" --build-arg "CREATED=$created")
[ -n "${IMAGE_SOURCE:-}" ] && build_args+=(--build-arg "SOURCE=$IMAGE_SOURCE")

# ---- image --------------------------------------------------------------------------------------------
previous="$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
log "podman build --build-context binary=$stage --target image -t $IMAGE"
# --no-cache: the final stage is two COPYs, cheap to redo, and buildah's layer cache was seen
# reusing a previous build's LABEL layer with a stale revision.
podman build --pull=never --no-cache \
    --build-context "binary=$stage" \
    --target image \
    "${build_args[@]}" \
    -f "$repo/Dockerfile" \
    -t "$IMAGE" \
    "$repo" >&2
# The image this script built last time is now untagged: drop it (kept if a container uses it).
current="$(podman image inspect --format '{{.Id}}' "$IMAGE")"
if [ -n "$previous" ] && [ "$previous" != "$current" ]; then
    podman rmi "$previous" >/dev/null 2>&1 || true
fi

bin_bytes="$(stat -c %s "$stage/slack-im")"
image_bytes="$(podman image inspect --format '{{.Size}}' "$IMAGE")"
echo "binary: $bin_bytes bytes ($bin)"
echo "image:  $image_bytes bytes ($IMAGE, version $version, revision $revision)"
