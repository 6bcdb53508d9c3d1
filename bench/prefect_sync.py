"""Benchmark: a full sync of a real Prefect 3.9.1 server, against a bare client paging the same
endpoints, and the requests an incremental sync makes after 100 new runs.

    eval "$(scripts/services.sh env)"; .venv/bin/python bench/prefect_sync.py [--flow-runs 10000]

Starts `prefect server start` from the throwaway venv of scripts/prefect_venv.py, on a scratch
PostgreSQL database (suffix ``_prefect_sync_server``, dropped after), and fills it
through its REST API: flow runs by POST /flow_runs/ (each created in its final state, with its
result record's metadata), on a pool of threads, and task runs as client-side events, 200 to a
POST /events, which the server's task run recorder writes in bulk, as it does for real flows.
Then, in the same run against the same server:

- bare: the Prefect client with no database, paging what the sync pages (flows, deployments,
  flow runs newest first, and each page's task runs by flow run ids);
- sync: ``prefect_sync(full=True)`` into a scratch database (suffix ``_prefect_sync``, dropped after);
- incremental: 100 new flow runs (300 task runs), then ``prefect_sync()``, which should need a
  handful of requests, not a re-read.

``--smoke``: 40 flow runs, 3 task runs each, 5 new ones; seconds (plus the server's start).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import pstats
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from prefect_venv import prefect_venv_ensure  # noqa: E402

from bench import data  # noqa: E402

TARGET_RATIO = 0.5  # the sync at least half the bare client's runs per second
TARGET_INCREMENTAL_REQUESTS = 10
TASKS_PER_FLOW_RUN = 3
EVENTS_PER_POST = 200
EVENTS_IN_FLIGHT = 2000
FILL_THREADS = 8
STARTUP_SECONDS = 120
# Services the benchmark does not need, off so the server's two cores serve the API.
SERVICES_OFF = (
    "SCHEDULER",
    "LATE_RUNS",
    "FOREMAN",
    "TRIGGERS",
    "EVENT_PERSISTER",
    "CANCELLATION_CLEANUP",
    "PAUSE_EXPIRATIONS",
    "REPOSSESSOR",
    "PROACTIVE_TRIGGERS",
)


def port_free() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_database_create(name: str) -> str:
    """An empty PostgreSQL database for the Prefect server (SQLite answers 503s to parallel writes)."""
    import psycopg

    with psycopg.connect(data.database_url_for("postgres"), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return data.database_url_for(name).replace("postgres://", "postgresql+asyncpg://", 1)


def server_start(home: Path, *, database_url: str) -> tuple[subprocess.Popen, str]:
    python = prefect_venv_ensure()
    port = port_free()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_DATABASE_CONNECTION_URL": database_url,
        **{f"PREFECT_SERVER_SERVICES_{name}_ENABLED": "false" for name in SERVICES_OFF},
    }
    log = home / "server.log"
    command = [str(python.parent / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--no-ui"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api_url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"prefect server exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2):  # noqa: S310
                return process, api_url
        except OSError:
            time.sleep(0.5)
    process.kill()
    sys.exit(f"prefect server did not start in {STARTUP_SECONDS} s")


def post(api_url: str, path: str, body) -> object:
    request = urllib.request.Request(  # noqa: S310
        f"{api_url}/{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            raw = response.read()
    except urllib.error.HTTPError as error:
        sys.exit(f"POST {path} answered {error.code}: {error.read()[:2000].decode(errors='replace')}")
    return json.loads(raw) if raw else None


def record_metadata(key: str, serializer: str = "pickle") -> dict:
    """What a 3.x state's `data` holds for a persisted result (a ResultRecordMetadata)."""
    return {
        "storage_key": f"/srv/prefect/storage/{key}",
        "storage_block_id": None,
        "serializer": {"type": serializer},
        "expiration": None,
        "prefect_version": "3.9.1",
    }


def state(key: str) -> dict:
    """A final state as a create body takes it (its time is the server's, or the event's)."""
    return {"type": "COMPLETED", "name": "Completed", "data": record_metadata(key)}


def fill(api_url: str, *, flow_runs: int, tag: str) -> tuple[int, int]:
    """``flow_runs`` flow runs with their task runs; (flow runs, task runs) the server then holds."""
    flow_id = post(api_url, "flows/", {"name": "bench-sync"})["id"]
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)

    def flow_run_create(index: int) -> str:
        body = {
            "flow_id": flow_id,
            "name": f"{tag}-{index}",
            "parameters": {"i": index},
            "tags": [tag],
            # No result on the flow run's own state: Prefect 3.9.1 fails (500) to answer a created
            # run whose state has data on PostgreSQL. The task runs' states carry theirs.
            "state": {"type": "COMPLETED", "name": "Completed"},
        }
        return post(api_url, "flow_runs/", body)["id"]

    with ThreadPoolExecutor(FILL_THREADS) as pool:
        ids = list(pool.map(flow_run_create, range(flow_runs)))
    events = []
    for index, flow_run_id in enumerate(ids):
        for task in range(TASKS_PER_FLOW_RUN):
            when = start + dt.timedelta(milliseconds=index, microseconds=task + 1)
            task_run_id = str(uuid.uuid4())
            events.append(
                {
                    "id": str(uuid.uuid4()),
                    "occurred": when.isoformat(),
                    "event": "prefect.task-run.Completed",
                    "resource": {
                        "prefect.resource.id": f"prefect.task-run.{task_run_id}",
                        "prefect.resource.name": f"step-{task}",
                        "prefect.orchestration": "client",
                    },
                    "related": [
                        {
                            "prefect.resource.id": f"prefect.flow-run.{flow_run_id}",
                            "prefect.resource.role": "flow-run",
                        }
                    ],
                    "payload": {
                        "validated_state": {**state(f"{tag}-task-{index}-{task}"), "state_details": {}},
                        "task_run": {
                            "name": f"step-{task}-{index}",
                            "task_key": f"step-{task}",
                            "dynamic_key": str(index),
                            "run_count": 1,
                            "start_time": when.isoformat(),
                            "end_time": when.isoformat(),
                        },
                    },
                }
            )
    # The recorder drops what its queue cannot hold: events go in rounds it can keep up with.
    base = post(api_url, "task_runs/count", {})
    for start in range(0, len(events), EVENTS_IN_FLIGHT):
        rounds = events[start : start + EVENTS_IN_FLIGHT]
        batches = [rounds[i : i + EVENTS_PER_POST] for i in range(0, len(rounds), EVENTS_PER_POST)]
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda batch: post(api_url, "events", batch), batches))
        count_wait(api_url, task_runs=base + start + len(rounds))
    return count_wait(api_url, task_runs=base + len(events))


def count_wait(api_url: str, *, task_runs: int) -> tuple[int, int]:
    """The server's counts once its task run recorder, which works behind the POSTs, holds
    ``task_runs`` (or nothing has moved for a minute: what it lost stays lost)."""
    last, still_since = None, time.monotonic()
    while True:
        counts = (post(api_url, "flow_runs/count", {}), post(api_url, "task_runs/count", {}))
        if counts[1] >= task_runs:
            return counts
        if counts != last:
            last, still_since = counts, time.monotonic()
        elif time.monotonic() - still_since > 60:
            return counts
        time.sleep(0.5)


def bare_page(api_url: str) -> tuple[int, int, int]:
    """(flow runs, task runs, requests) read by the client alone, paging as the sync pages."""
    from apps.prefect_servers.client import PrefectClient
    from apps.prefect_servers.sync import FLOW_RUN_PAGE, ID_CHUNK, chunks

    client = PrefectClient(api_url=api_url)
    client.version()
    list(client.flows())
    list(client.deployments())
    flow_runs = task_runs = 0
    page: list[str] = []

    def tasks_read(ids: list[str]) -> int:
        return sum(
            1
            for chunk in chunks(ids, ID_CHUNK)
            for _ in client.task_runs(flow_runs={"id": {"any_": chunk}}, sort="ID_DESC")
        )

    for item in client.flow_runs(sort="ID_DESC"):
        flow_runs += 1
        page.append(item["id"])
        if len(page) >= FLOW_RUN_PAGE:
            task_runs += tasks_read(page)
            page = []
    task_runs += tasks_read(page)
    return flow_runs, task_runs, client.requests_made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flow-runs", type=int, default=10_000)
    parser.add_argument("--new", type=int, default=100, help="flow runs added before the incremental sync")
    parser.add_argument("--smoke", action="store_true", help="40 flow runs, 5 new")
    parser.add_argument("--profile", action="store_true", help="print where the full sync spends its time")
    args = parser.parse_args()
    if args.smoke:
        args.flow_runs, args.new = 40, 5
    name = data.scratch_name("prefect_sync")
    server_database = f"{name}_server"
    database_url = server_database_create(server_database)
    os.environ["DATABASE_URL"] = data.database_create(name=name)
    with tempfile.TemporaryDirectory(prefix="bench-prefect-") as home:
        process, api_url = server_start(Path(home), database_url=database_url)
        try:
            measure(args, api_url)
        except SystemExit:
            print((Path(home) / "server.log").read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            process.terminate()
            process.wait(timeout=30)
            from django.db import connection

            connection.close()
            data.database_drop(name=name)
            data.database_drop(name=server_database)


def measure(args: argparse.Namespace, api_url: str) -> None:
    import django

    django.setup()
    from apps.flows.models import FlowRun, TaskRun
    from apps.prefect_servers.services import connection_save
    from apps.prefect_servers.sync import prefect_sync

    began = time.perf_counter()
    flow_runs, task_runs = fill(api_url, flow_runs=args.flow_runs, tag="bench")
    filled = time.perf_counter() - began
    print(f"filled: {flow_runs} flow runs and {task_runs} task runs in {filled:.1f} s through the REST API")

    began = time.perf_counter()
    bare_flow_runs, bare_task_runs, bare_requests = bare_page(api_url)
    bare_s = time.perf_counter() - began
    bare_rate = (bare_flow_runs + bare_task_runs) / bare_s

    connection = connection_save(name="bench", api_url=api_url)
    profiler = cProfile.Profile() if args.profile else None
    began = time.perf_counter()
    if profiler:
        profiler.enable()
    report = prefect_sync(connection=connection, full=True)
    sync_s = time.perf_counter() - began
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
    if not report.ok:
        sys.exit(f"the sync failed: {report.message}")
    full_requests = report.counts.get("requests", 0)
    synced = FlowRun.objects.filter(source_connection_id=connection.pk).count()
    synced_tasks = TaskRun.objects.filter(source_connection_id=connection.pk).count()
    sync_rate = (synced + synced_tasks) / sync_s
    ratio = sync_rate / bare_rate

    fill(api_url, flow_runs=args.new, tag="new")
    report = prefect_sync(connection=connection)
    incremental = report.counts.get("requests", 0)
    new = FlowRun.objects.filter(source_connection_id=connection.pk).count() - synced

    incremental_ok = incremental <= TARGET_INCREMENTAL_REQUESTS
    print(
        f"bare client: {bare_flow_runs} flow runs + {bare_task_runs} task runs in {bare_s:.2f} s"
        f" = {bare_rate:.0f} runs/s ({bare_requests} requests)"
    )
    print(
        f"full sync: {synced} flow runs + {synced_tasks} task runs in {sync_s:.2f} s"
        f" = {sync_rate:.0f} runs/s ({full_requests} requests)"
    )
    print(
        f"sync / bare: {ratio:.2f}x (target >= {TARGET_RATIO}) {'PASS' if ratio >= TARGET_RATIO else 'FAIL'}"
    )
    print(
        f"incremental sync after {new} new flow runs: {incremental} requests"
        f" (target <= {TARGET_INCREMENTAL_REQUESTS}) {'PASS' if incremental_ok else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
