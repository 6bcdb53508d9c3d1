#!/usr/bin/env bash
# Runs Resultdeck on its embedded defaults: SQLite, Celery's filesystem broker and a local
# storage folder under ./var. Creates the virtual environment, installs, migrates, creates an
# admin login (printed once), then serves http://127.0.0.1:8000 with a Celery worker and
# Celery beat. Ctrl-C stops all three. Running it again reuses what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

venv_ensure requirements.txt
export PYTHONUNBUFFERED=1
PY=.venv/bin/python

$PY manage.py migrate --noinput -v0
$PY manage.py ensure_admin
$PY manage.py collectstatic --noinput -v0 >/dev/null 2>&1 || true

pids=()
stop_all() {
  trap - INT TERM EXIT
  echo; echo "Stopping web server, worker and beat..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop_all INT TERM EXIT

HOST="${RESULTDECK_HOST:-127.0.0.1}"
PORT="${RESULTDECK_PORT:-8000}"
.venv/bin/celery -A project worker --loglevel=INFO --concurrency="${WORKER_CONCURRENCY:-2}" -n "worker@%h" &
pids+=($!)
.venv/bin/celery -A project beat --loglevel=INFO &
pids+=($!)
$PY manage.py runserver "$HOST:$PORT" --noreload &
pids+=($!)

echo "Resultdeck is starting at http://$HOST:$PORT/  (Ctrl-C stops the web server, worker and beat)"
# Any of the three exiting ends the session, so a crash is never silently half-running.
wait -n "${pids[@]}"
