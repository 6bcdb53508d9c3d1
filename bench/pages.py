"""Benchmark: the dashboard's pages at a million flow runs, measured through Django's test Client.

    .venv/bin/python bench/pages.py            # (re)create the bench database, fill it, measure
    .venv/bin/python bench/pages.py --reuse    # measure the data a previous run left

It creates a dedicated database (``resultdeck_bench`` on the server of $DATABASE_URL), migrates it
and fills it in SQL (INSERT ... SELECT generate_series): 1,000,000 flow runs over 8 flows, 3,000,000
task runs, 1,000,000 result references on 3 storage blocks (half the flow runs and a third of the task
runs have one). Then it measures server time (request to response, as the test Client sees it) for
~50 requests per page and prints p50/p95, PASS/FAIL against the target and the queries per page.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

BENCH_DB = "resultdeck_bench"
FLOW_RUNS = 1_000_000
TASKS_PER_RUN = 3
FLOWS = 8
REQUESTS = 50
# Ordered UUIDs: index inserts append instead of landing at random (minutes saved at 3M rows).
RUN_ID = "('00000000-0000-4000-8000-' || lpad(to_hex(g), 12, '0'))::uuid"
TARGET_MS = 100.0


def database_urls() -> tuple[str, str]:
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit('set DATABASE_URL to the PostgreSQL server (eval "$(scripts/services.sh env)")')
    parts = urlsplit(base)
    admin = urlunsplit(parts._replace(path="/postgres"))
    bench = urlunsplit(parts._replace(path=f"/{BENCH_DB}"))
    return admin, bench


def database_recreate(admin_url: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{BENCH_DB}"')


def step(label: str, started: float) -> float:
    now = time.perf_counter()
    print(f"  {label:<44} {now - started:6.1f} s", flush=True)
    return now


def data_generate() -> None:
    from django.core.management import call_command
    from django.db import connection

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    started = step("migrate", started)
    with connection.cursor() as cursor:
        # Rows are generated consistent by construction; skipping FK triggers saves minutes.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(
            """
            INSERT INTO blocks_storageblock
                (id, block_type, name, settings, encrypted_secrets, created_at, updated_at)
            SELECT md5('block' || b)::uuid, 'local-file-system', 'bench-' || b,
                   jsonb_build_object('basepath', '/srv/results/bench-' || b), '', now(), now()
            FROM generate_series(0, 2) AS b
            """
        )
        half = FLOW_RUNS // 2
        cursor.execute(
            f"""
            INSERT INTO results_resultreference
                (id, block_id, storage_location, key, metadata_location, layout, serializer_type,
                 serializer_config, value_type, size_bytes, is_literal, literal_value, prefect_version,
                 cache_key, expiration, created)
            SELECT r, md5('block' || (r % 3))::uuid, '/srv/results/bench-' || (r % 3), md5('key' || r), '',
                   'v3-record',
                   (ARRAY['pickle', 'json', 'compressed/pickle', 'compressed/json'])[1 + r % 4],
                   '{{"type": "pickle", "picklelib": "cloudpickle"}}'::jsonb,
                   (ARRAY['builtins.dict', 'builtins.int', 'pandas.DataFrame', 'builtins.str'])[1 + r % 4],
                   200 + (r::bigint * 7919) % 5000000, false, NULL, '3.0.0', '',
                   CASE WHEN r % 5 = 0 THEN now() - interval '1 day' * (r % 30) + interval '10 days' END,
                   now() - interval '2 seconds' * ({FLOW_RUNS} - (CASE WHEN r <= {half} THEN r * 2
                                                                    ELSE (r - {half}) * 2 - 1 END))
            FROM generate_series(1, {FLOW_RUNS}) AS r
            """  # noqa: S608 - the script's own constants
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('results_resultreference', 'id'), "
            "(SELECT max(id) FROM results_resultreference))"
        )
        started = step(f"{FLOW_RUNS:,} result references", started)
        cursor.execute(
            f"""
            INSERT INTO flows_flowrun (id, name, parameters, state, state_message, state_history, created,
                start_time, end_time, run_count, result_id, flow_name, worker_host, celery_task_id)
            SELECT {RUN_ID}, 'run-' || g,
                   jsonb_build_object('rows', g % 1000,
                                      'region', (ARRAY['north', 'south', 'east', 'west'])[1 + g % 4]),
                   s.state, '',
                   jsonb_build_array(jsonb_build_object(
                       'state', 'RUNNING', 'name', 'Running', 'message', '',
                       'timestamp', to_char(c.created, 'YYYY-MM-DD"T"HH24:MI:SS'))),
                   c.created, c.created,
                   CASE WHEN s.state = 'RUNNING' THEN NULL ELSE c.created + interval '1 ms' * (g % 90000) END,
                   1,
                   CASE WHEN g % 2 = 0 THEN g / 2 END,
                   'flow-' || (g % {FLOWS}), 'worker-1', ''
            FROM generate_series(1, {FLOW_RUNS}) AS g,
                 LATERAL (SELECT now() - interval '2 seconds' * ({FLOW_RUNS} - g) AS created) AS c,
                 LATERAL (SELECT CASE WHEN g > {FLOW_RUNS} - 3 THEN 'RUNNING'
                                      WHEN g % 20 = 7 THEN 'FAILED'
                                      WHEN g % 50 = 11 THEN 'CACHED'
                                      ELSE 'COMPLETED' END AS state) AS s
            """  # noqa: S608 - the script's own constants
        )
        started = step(f"{FLOW_RUNS:,} flow runs", started)
        cursor.execute(
            f"""
            INSERT INTO flows_taskrun (id, name, parameters, state, state_message, state_history, created,
                start_time, end_time, run_count, result_id, flow_run_id, task_name, task_key, cache_key)
            SELECT ('00000000-0000-4000-9000-' || lpad(to_hex(g * 4 + k), 12, '0'))::uuid,
                   (ARRAY['extract', 'transform', 'load'])[k + 1] || '-0',
                   '{{}}'::jsonb, 'COMPLETED', '', '[]'::jsonb,
                   c.created + interval '10 ms' * k, c.created + interval '10 ms' * k,
                   c.created + interval '10 ms' * k + interval '5 ms', 1,
                   CASE WHEN k = 1 AND g % 2 = 1 THEN {half} + (g + 1) / 2 END,
                   {RUN_ID}, (ARRAY['extract', 'transform', 'load'])[k + 1],
                   (ARRAY['extract', 'transform', 'load'])[k + 1] || '-0', ''
            FROM generate_series(1, {FLOW_RUNS}) AS g,
                 generate_series(0, {TASKS_PER_RUN - 1}) AS k,
                 LATERAL (SELECT now() - interval '2 seconds' * ({FLOW_RUNS} - g) AS created) AS c
            """  # noqa: S608 - the script's own constants
        )
        started = step(f"{FLOW_RUNS * TASKS_PER_RUN:,} task runs", started)
        cursor.execute("SET session_replication_role = DEFAULT")
    connection.close()
    import psycopg

    with psycopg.connect(database_urls()[1], autocommit=True) as raw:
        raw.execute("VACUUM ANALYZE")
    step("vacuum analyze", started)


def measure(client, label: str, urls: list[str]) -> tuple[str, float, float, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for url in urls[:3]:
        client.get(url)
    timings = []
    for url in urls:
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{label}: {url} answered {response.status_code}")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(urls[0])
    rows = response.content.count(b"<tr id=")
    timings.sort()
    p95 = timings[min(len(timings) - 1, round(0.95 * len(timings)) - 1)]
    return label, statistics.median(timings), p95, len(queries.captured_queries), rows


def pages_measure() -> bool:
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.test import Client

    from apps.core.pagination import cursor_encode
    from apps.flows.models import FlowRun

    # Not setup_test_environment(): it instruments every template render to record contexts for
    # assertions, which is test-harness cost, not server time.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    user, _ = User.objects.get_or_create(username="bench-viewer")
    user.groups.add(Group.objects.get_or_create(name="viewer")[0])
    client = Client()
    client.force_login(user)

    with connection.cursor() as cursor:
        # OFFSET once, to find where "page 10,000" starts; the page itself is a keyset page.
        cursor.execute(
            "SELECT created, id FROM flows_flowrun ORDER BY created DESC, id DESC OFFSET 500000 LIMIT 1"
        )
        created, pk = cursor.fetchone()
    deep = cursor_encode(created=created, pk=pk)
    run_ids = list(FlowRun.objects.order_by("?").values_list("pk", flat=True)[:REQUESTS])
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM blocks_storageblock ORDER BY name LIMIT 1")
        block_id = cursor.fetchone()[0]

    cases = [
        ("runs list, first page", ["/runs/"] * REQUESTS),
        ("runs list, deep page (after 500,000 rows)", [f"/runs/?cursor={deep}"] * REQUESTS),
        ("runs list, state=FAILED & flow=flow-7", ["/runs/?state=FAILED&flow=flow-7"] * REQUESTS),
        ("run detail (3 task runs)", [f"/runs/{pk}/" for pk in run_ids]),
        ("extra: runs list, storage block", [f"/runs/?block={block_id}"] * REQUESTS),
        ("extra: results list, first page", ["/results/"] * REQUESTS),
        ("extra: results, select all (bounded count)", ["/results/?select=all"] * REQUESTS),
    ]
    print(
        f"\n{'page':<46} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8} {'rows':>5}  target < {TARGET_MS:.0f} ms"
    )
    passed = True
    for label, urls in cases:
        name, p50, p95, queries, rows = measure(client, label, urls)
        ok = p95 < TARGET_MS
        required = not label.startswith("extra")
        passed &= ok or not required
        print(f"{name:<46} {p50:8.1f} {p95:8.1f} {queries:8d} {rows:5d}  {'PASS' if ok else 'FAIL'}")
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", action="store_true", help="measure the existing bench database")
    args = parser.parse_args()
    admin_url, bench_url = database_urls()
    if not args.reuse:
        print(f"creating {BENCH_DB} and filling it:", flush=True)
        database_recreate(admin_url)
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    if not args.reuse:
        started = time.perf_counter()
        data_generate()
        print(f"  {'data generation in total':<44} {time.perf_counter() - started:6.1f} s")
    from django.db import connection

    with connection.cursor() as cursor:
        counts = {}
        for table in ("flows_flowrun", "flows_taskrun", "results_resultreference"):
            cursor.execute(f"SELECT reltuples::bigint FROM pg_class WHERE relname = '{table}'")  # noqa: S608
            counts[table] = cursor.fetchone()[0]
    print("rows (planner estimate): " + ", ".join(f"{table} {count:,}" for table, count in counts.items()))
    passed = pages_measure()
    print("\nPASS" if passed else "\nFAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
