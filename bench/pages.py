"""Benchmark: the dashboard's pages at a million flow runs, measured through Django's test Client.

    .venv/bin/python bench/pages.py            # (re)create the bench database, fill it, measure
    .venv/bin/python bench/pages.py --smoke    # the same at 1,000 and 5,000 runs, in seconds

It creates a scratch database (named after the one in $DATABASE_URL, suffix ``_pages``), migrated,
and fills it with bench/data.py in two steps: first 1% of the runs (the baseline), measured, then
the rest up to 1,000,000 flow runs over 8 flows, 3,000,000 task runs and 1,000,000 result
references on 3 storage blocks, measured again. For each page it prints server time (request to
response, as the test Client sees it) p50/p95 over ~50 requests, PASS/FAIL against the target,
the queries per page at both sizes and the p95 ratio of the big data over the baseline. The
database is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from bench import data  # noqa: E402

FLOW_RUNS = 1_000_000
BASELINE_RUNS = 10_000
REQUESTS = 50
SMOKE_FLOW_RUNS = 5_000
SMOKE_BASELINE_RUNS = 1_000
SMOKE_REQUESTS = 3
TARGET_MS = 100.0


def measure(client, label: str, urls: list[str]) -> tuple[str, float, float, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for url in urls[: max(1, len(urls) // 10)]:
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


def pages_measure(*, requests: int) -> list[tuple[str, float, float, int, int, bool]]:
    """(label, p50 ms, p95 ms, queries, rows shown, required) for each page, on the data there is now."""
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.test import Client

    from apps.flows.models import FlowRun

    # Not setup_test_environment(): it instruments every template render to record contexts for
    # assertions, which is test-harness cost, not server time.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    user, _ = User.objects.get_or_create(username="bench-viewer")
    user.groups.add(Group.objects.get_or_create(name="viewer")[0])
    client = Client()
    client.force_login(user)

    deep, _ = data.runs_middle_cursor()
    run_ids = list(FlowRun.objects.order_by("?").values_list("pk", flat=True)[:requests])
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM blocks_storageblock ORDER BY name LIMIT 1")
        block_id = cursor.fetchone()[0]

    cases = [
        ("runs list, first page", ["/runs/"] * requests),
        ("runs list, deep page (middle of the runs)", [f"/runs/?cursor={deep}"] * requests),
        ("runs list, state=FAILED & flow=flow-7", ["/runs/?state=FAILED&flow=flow-7"] * requests),
        ("run detail (3 task runs)", [f"/runs/{pk}/" for pk in run_ids]),
        ("extra: runs list, storage block", [f"/runs/?block={block_id}"] * requests),
        ("extra: results list, first page", ["/results/"] * requests),
        ("extra: results, select all (bounded count)", ["/results/?select=all"] * requests),
    ]
    return [(*measure(client, label, urls), not label.startswith("extra")) for label, urls in cases]


def table_print(*, baseline: list, measured: list, baseline_runs: int, flow_runs: int) -> bool:
    print(
        f"\n{'page':<46} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8} {'rows':>5} "
        f"{'base p95':>9} {'base q':>7} {'p95 ratio':>9}  target < {TARGET_MS:.0f} ms"
    )
    print(f"  (base: the same page at {baseline_runs:,} flow runs; measured: at {flow_runs:,})")
    passed = True
    for (name, p50, p95, queries, rows, required), base in zip(measured, baseline, strict=True):
        ok = p95 < TARGET_MS
        passed &= ok or not required
        print(
            f"{name:<46} {p50:8.1f} {p95:8.1f} {queries:8d} {rows:5d} {base[2]:9.1f} {base[3]:7d} "
            f"{p95 / base[2]:8.2f}x  {'PASS' if ok else 'FAIL'}"
            + ("" if queries == base[3] else "  (queries grew with the data)")
        )
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few requests: seconds")
    parser.add_argument("--keep", action="store_true", help="keep the database for a look afterwards")
    args = parser.parse_args()
    flow_runs, baseline_runs, requests = (
        (SMOKE_FLOW_RUNS, SMOKE_BASELINE_RUNS, SMOKE_REQUESTS)
        if args.smoke
        else (FLOW_RUNS, BASELINE_RUNS, REQUESTS)
    )
    name = data.scratch_name("pages")
    print(f"creating {name} and filling it:", flush=True)
    os.environ["DATABASE_URL"] = data.database_create(name=name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from django.db import connection

    try:
        anchor = data.anchor_for(total=flow_runs)
        data.runs_generate(start=0, stop=baseline_runs, anchor=anchor)
        baseline = pages_measure(requests=requests)
        data.runs_generate(start=baseline_runs, stop=flow_runs, anchor=anchor)
        counts = data.rows_estimate()
        print("rows (planner estimate): " + ", ".join(f"{table} {n:,}" for table, n in counts.items()))
        measured = pages_measure(requests=requests)
        passed = table_print(
            baseline=baseline, measured=measured, baseline_runs=baseline_runs, flow_runs=flow_runs
        )
    finally:
        connection.close()
        if not args.keep:
            data.database_drop(name=name)
    print("\nPASS" if passed else "\nFAIL")
    # Smoke sizes say nothing about speed: only a crash fails them.
    return 0 if passed or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
