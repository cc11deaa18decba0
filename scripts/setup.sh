#!/usr/bin/env bash
# Install every tool the tests and the local run need, at pinned versions.
# Idempotent: a second run only checks. Fails loudly if something can't be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null || die "cargo not found: install Rust (rustup) first"
command -v python3 >/dev/null || die "python3 not found"
command -v npm >/dev/null || die "npm not found: install Node.js"
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy

if [ ! -x .venv/bin/sam ] || ! cmp -s tools/requirements.lock .venv/.installed-lock; then
  say "Python tools (tools/requirements.lock) into .venv"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.lock
  cp tools/requirements.lock .venv/.installed-lock
fi

if [ ! -x .venv-moto/bin/moto_server ] || ! cmp -s tools/requirements-moto.lock .venv-moto/.installed-lock; then
  say "moto server (tools/requirements-moto.lock) into .venv-moto"
  python3 -m venv .venv-moto
  .venv-moto/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-moto.lock
  cp tools/requirements-moto.lock .venv-moto/.installed-lock
fi

if [ ! -x .venv-checkov/bin/checkov ] || ! cmp -s tools/requirements-checkov.lock .venv-checkov/.installed-lock; then
  say "checkov (tools/requirements-checkov.lock) into .venv-checkov"
  python3 -m venv .venv-checkov
  .venv-checkov/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-checkov.lock
  cp tools/requirements-checkov.lock .venv-checkov/.installed-lock
fi

if [ ! -x .venv-awscli/bin/aws ] || ! cmp -s tools/requirements-awscli.lock .venv-awscli/.installed-lock; then
  say "AWS CLI v1 (tools/requirements-awscli.lock) into .venv-awscli: pointed at the emulator by its tests"
  python3 -m venv .venv-awscli
  .venv-awscli/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-awscli.lock
  cp tools/requirements-awscli.lock .venv-awscli/.installed-lock
fi

if [ ! -x node_modules/.bin/asl-validator ] || ! cmp -s package-lock.json node_modules/.installed-lock 2>/dev/null; then
  say "JavaScript tools (package-lock.json) into node_modules"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.installed-lock
fi

# Versions, so a log shows what ran.
.venv/bin/sam --version >&2
.venv/bin/cfn-lint --version >&2
node_modules/.bin/asl-validator --version >&2
.venv-moto/bin/python -c 'import moto; print("moto", moto.__version__)' >&2
printf 'checkov %s\n' "$(.venv-checkov/bin/checkov --version)" >&2
.venv-awscli/bin/aws --version >&2
node --version >&2
