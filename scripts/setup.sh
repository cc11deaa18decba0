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

# The real databases behind the local data path (tests/local/databases.py): Debian's packages,
# pinned. Debian replaces a version when a security fix lands; then update the pins here.
DEBS=(postgresql-15=15.18-0+deb12u1 postgresql-client-15=15.18-0+deb12u1
      mariadb-server=1:10.11.14-0+deb12u2 mariadb-client=1:10.11.14-0+deb12u2)
missing=()
for pin in "${DEBS[@]}"; do
  [ "$(dpkg-query -W -f='${Version}' "${pin%%=*}" 2>/dev/null || true)" = "${pin#*=}" ] || missing+=("$pin")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "database servers (Debian packages): ${missing[*]}"
  command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq || die "apt-get update failed"
  # No service is started: the local stack runs its own servers on free ports.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "could not install ${missing[*]} (a pin no longer in the archive? see scripts/setup.sh)"
fi

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
/usr/lib/postgresql/15/bin/postgres --version >&2
/usr/sbin/mariadbd --version >&2
