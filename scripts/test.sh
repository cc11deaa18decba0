#!/usr/bin/env bash
# The project's one test command (README "Test"; .ci/run calls it).
# Installs the pinned tools, then runs every check; any failure fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1} CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

step "setup"
./scripts/setup.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo build (all targets: the Lambda binaries and the emulator, with the test feature set)"
cargo build --workspace --all-targets --locked

step "cargo test (unit tests against the real SDK types with aws-smithy-mocks; the emulator's rule tests)"
cargo test --workspace --locked 2>&1 | tee target/cargo-test.log
passed=$(grep -Eo 'test result: ok\. [0-9]+ passed' target/cargo-test.log | awk '{s+=$4} END {print s+0}')
[ "$passed" -gt 0 ] || { echo "no Rust tests ran" >&2; exit 1; }
if grep -Eq 'test result: .*[1-9][0-9]* ignored' target/cargo-test.log; then
  echo "ignored Rust tests found: nothing may be skipped" >&2; exit 1
fi

step "sam validate --lint"
.venv/bin/sam validate --lint --template template.yaml

step "cfn-lint"
.venv/bin/cfn-lint template.yaml

step "checkov (template.yaml; every suppression is inline in the template with its reason)"
.venv-checkov/bin/checkov -f template.yaml --framework cloudformation --skip-download --compact --quiet 2>&1 | tee target/checkov.log
grep -Eq 'Passed checks: [1-9][0-9]*, Failed checks: 0,' target/checkov.log || { echo "checkov failed or scanned nothing" >&2; exit 1; }

step "asl-validator"
for f in statemachine/*.asl.json; do node_modules/.bin/asl-validator --json-path "$f"; done

step "state machines are what the Rust generator writes (statemachine crate)"
cargo run -q -p statemachine --bin gen-asl -- --check

step "template / state machine consistency tests"
.venv/bin/python -m unittest discover -s tests -p 'test_*.py' -v 2>&1 | tee target/py-static.log

step "the AWS CLI v1 pointed at the emulator (CloudWatch over awsJson1_0, CBOR and query; VPC Lattice)"
.venv/bin/python -m unittest tests/emulator/test_awscli.py -v 2>&1 | tee target/py-awscli.log

step "end to end on the local AWS stack (moto + emulator + aws-local-stepfunctions + the real binaries)"
.venv/bin/python -m unittest discover -s tests/local -p 'test_*.py' -v 2>&1 | tee target/py-e2e.log
if grep -Eq 'skipped|expected failures' target/py-static.log target/py-awscli.log target/py-e2e.log; then
  echo "skipped Python tests found: nothing may be skipped" >&2; exit 1
fi

printf '\nAll checks passed: %s Rust tests, in %ss.\n' "$passed" "$(( $(date +%s) - started ))"
