#!/usr/bin/env bash
# Fuzzes the Slack response parser, the target listing parser, the template renderer and the
# redactor with libFuzzer, each for a bounded time (default 60 s). Needs the nightly toolchain and
# cargo-fuzz (installed if missing).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
for target in slack_users_list template_render target_listing redactor; do
    echo "== fuzzing $target for ${seconds}s"
    mkdir -p "fuzz/corpus/$target"
    cargo +nightly fuzz run "$target" "fuzz/corpus/$target" fuzz/seeds -- \
        -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 2>&1 | tail -n 12
done
