#!/usr/bin/env bash
# Run the provisioning workflow end to end on this machine, with no AWS account:
# installs what is missing, builds the functions and the emulator, starts moto and the
# emulator, creates the recipe's prerequisites, runs the state machine, prints the
# connection details, and stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
echo "==> cargo build (functions and emulator)" >&2
# --all-targets: the same feature set as `cargo test`, so tests and this run share one build.
cargo build --workspace --all-targets --locked --quiet
exec .venv/bin/python tests/local/demo.py
