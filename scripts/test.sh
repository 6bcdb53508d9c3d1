#!/usr/bin/env bash
# Runs the whole test suite against real services: installs what is missing (Python packages,
# redis-server, chromium), starts PostgreSQL, Redis and a SeaweedFS S3 server, runs the quality
# gates and pytest, then stops exactly the services it started. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

venv_ensure requirements-dev.txt
apt_ensure redis-server redis-server
apt_ensure bwrap bubblewrap
apt_ensure /usr/lib/chromium/chromium chromium
[ -x /usr/lib/postgresql/15/bin/postgres ] || apt_ensure /usr/lib/postgresql/15/bin/postgres postgresql-15

export SERVICES_DIR="${SERVICES_DIR:-$PWD/.services}"
trap 'scripts/services.sh stop' EXIT
eval "$(scripts/services.sh start)"

# Tests get their own throwaway state, never the developer's ./var.
export RESULTDECK_VAR_DIR="$(mktemp -d)/var"
export DJANGO_DEBUG=on
export PYTHONUNBUFFERED=1

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== migrations"
.venv/bin/python manage.py makemigrations --check --dry-run
echo "== pytest"
.venv/bin/pytest "$@"
