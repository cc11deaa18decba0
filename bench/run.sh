#!/usr/bin/env bash
# The performance benchmark (issue 6; not a test): builds the release binaries, measures package
# size, start-up, warm handler overhead and the provisioning critical path, and prints one table.
# What each figure means, the latest figures and the machine they came from: BENCHMARKS.md.
#
#   bench/run.sh [--skip-build] [bench.py options: --starts 30 --invokes 100 --scale 0.05 --only ...]
#
# Environment: BENCH_TARGET_DIR (default target/bench): the CARGO_TARGET_DIR of both release builds,
# kept apart from target/ so that the tests' debug build is never invalidated; BENCH_NICE (default
# 10): the builds' niceness.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET=${BENCH_TARGET_DIR:-$ROOT/target/bench}
NICE=${BENCH_NICE:-10}
say() { printf '==> %s\n' "$*" >&2; }

build=1
if [ "${1:-}" = "--skip-build" ]; then build=0; shift; fi

# Tools, pinned: the stack's (.venv, .venv-moto, node_modules), cargo-lambda + zig, and the
# reference tools the start-up figures are compared with (AWS CLI v1, boto3).
./scripts/setup.sh
install_venv() {  # <venv dir> <lock file>
  if [ ! -x "$1/bin/python" ] || ! cmp -s "$2" "$1/.installed-lock"; then
    say "$2 into $1"
    python3 -m venv "$1"
    "$1/bin/pip" install --quiet --disable-pip-version-check -r "$2"
    cp "$2" "$1/.installed-lock"
  fi
}
install_venv .venv-lambda tools/requirements-lambda.lock
install_venv .venv-bench tools/requirements-bench.lock
if [ ! -x /usr/bin/time ]; then  # GNU time: the AWS CLI's peak RSS
  say "GNU time (apt)"
  apt-get install -y -qq time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
fi

bins=()
for d in functions/*/; do bins+=(--bin "$(basename "$d")"); done

if [ "$build" = 1 ]; then
  # 1. What ships: `sam build` runs `cargo lambda build --release` for arm64; cargo-lambda adds
  #    target-cpu=neoverse-n1 (and keeps the profile's explicit panic = "unwind").
  say "arm64 release build (cargo lambda, $((${#bins[@]} / 2)) functions) into $TARGET"
  PATH="$ROOT/.venv-lambda/bin:$PATH" CARGO_TARGET_DIR="$TARGET" \
    nice -n "$NICE" cargo lambda build --release --locked --arm64 "${bins[@]}"
  # 2. What runs here (arm64 cannot): the same profile, native x86_64; with the emulator (release)
  #    for the local stack.
  say "x86_64 release build (functions and emulator) into $TARGET"
  CARGO_TARGET_DIR="$TARGET" nice -n "$NICE" \
    cargo build --release --locked "${bins[@]}" --bin lattice-emulator
fi

exec .venv/bin/python bench/bench.py --target-dir "$TARGET" "$@"
