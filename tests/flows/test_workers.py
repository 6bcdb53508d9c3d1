"""The Workers page, its API, /healthz's workers check and the reasons a waiting run gives, against a
real Redis broker and real Celery workers: none up, one busy, one stopped; and a broker that is down
or on the filesystem, which must answer at once instead of hanging."""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.core.cache import cache
from django.urls import reverse

from apps.flows import workers
from apps.flows.models import FlowRun
from apps.flows.submission import flow_run_submit
from apps.flows.workers import (
    WorkerInfo,
    WorkersReport,
    broker_control_sweep,
    flow_run_waiting_explain,
    flow_run_waiting_reason,
    queues_lengths,
    workers_inspect,
)
from tests.flows.test_celery import start_worker, wait_until, worker_settings  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
WORKERS = reverse("flows:worker-list")


def _app_broker_set(url: str, transport_options: dict | None = None) -> dict:
    from project.celery import app

    names = ("broker_url", "broker_write_url", "broker_read_url")
    previous = {name: app.conf[name] for name in (*names, "broker_transport_options")}
    app.conf.update(dict.fromkeys(names, url))
    if transport_options is not None:
        app.conf.broker_transport_options = transport_options
    app._pool = None
    app.amqp._producer_pool = None
    return previous


@pytest.fixture(autouse=True)
def fresh_worker_memory(settings):
    settings.WORKERS_INSPECT_TIMEOUT_SECONDS = 1.0
    keys = (workers.LAST_SEEN_CACHE_KEY, workers.WAITING_CACHE_KEY.format(queue="celery"))
    cache.delete_many(keys)
    yield
    cache.delete_many(keys)


@pytest.fixture
def broker_url(other_broker):
    """This suite's own broker database (CELERY_BROKER_URL), emptied: a broadcast on a database
    other suites share would be answered by their workers too."""
    import redis

    url = os.environ["CELERY_BROKER_URL"]
    assert url.startswith("redis://"), "the worker tests need the suite's Redis (CELERY_BROKER_URL)"
    redis.Redis.from_url(url).flushdb()
    other_broker(url)
    return url


@pytest.fixture
def other_broker():
    """other_broker(url, options) points the Celery app at another broker until the test ends."""
    from project.celery import app

    saved = []

    def point(url: str, transport_options: dict | None = None) -> None:
        saved.append(_app_broker_set(url, transport_options))

    yield point
    for previous in reversed(saved):
        app.conf.update(previous)
        app._pool = None
        app.amqp._producer_pool = None


def test_with_no_worker_the_page_the_api_and_healthz_say_so(broker_url, viewer_client):
    report = workers_inspect(timeout=0.5)
    assert (report.error, report.online) == ("", [])

    html = viewer_client.get(WORKERS).content.decode()
    assert "No worker is up" in html
    assert 'data-queue="celery"' in html

    body = viewer_client.get(reverse("api-workers")).json()
    assert body["error"] == "" and body["workers"] == []
    assert {"name": "celery", "length": 0, "consumers": 0, "error": ""} in body["queues"]

    health = viewer_client.get("/healthz")
    checks = health.json()["checks"]
    assert (checks["workers"]["ok"], checks["workers"]["detail"]) == (
        False,
        "RuntimeError: no worker answered a ping",
    )
    # No worker is reported, not a reason to take the web server out of a load balancer.
    assert health.status_code == 200 and health.json()["status"] == "ok"


def test_an_unreachable_broker_is_reported_at_once(viewer_client, other_broker):
    other_broker("redis://127.0.0.1:1/0")
    started = time.monotonic()
    report = workers_inspect(timeout=0.5)
    assert report.error.startswith("the broker cannot be reached")
    (queue, *_) = queues_lengths(queues=["celery"], report=report, timeout=0.5)
    assert queue.length is None and "Connection" in queue.error
    html = viewer_client.get(WORKERS).content.decode()
    assert "the broker cannot be reached" in html
    assert time.monotonic() - started < 30  # bounded, not a hang


def test_on_the_filesystem_broker_queue_lengths_count_the_message_files(tmp_path, other_broker):
    from project.celery import app

    folders = {name: tmp_path / name for name in ("in", "processed", "control")}
    for folder in folders.values():
        folder.mkdir()
    other_broker(
        "filesystem://",
        {
            "data_folder_in": str(folders["in"]),
            "data_folder_out": str(folders["in"]),
            "processed_folder": str(folders["processed"]),
            "control_folder": str(folders["control"]),
        },
    )
    for n in range(3):
        app.send_task("flows.run", args=[f"00000000-0000-0000-0000-00000000000{n}"], queue="celery")
    app.send_task("results.cleanup_job", args=[1], queue="cleanup")

    report = workers_inspect(timeout=1.0)
    assert (report.error, report.online) == ("", [])
    lengths = {
        q.name: q.length for q in queues_lengths(queues=["celery", "cleanup"], report=report, timeout=1)
    }
    assert lengths == {"celery": 3, "cleanup": 1}

    # A stopped worker's control queue stays bound there: broadcasts to it pile up until swept.
    stale = folders["in"] / "1_0000.gone@host.celery.pidbox.msg"
    fresh = folders["in"] / "2_0000.gone@host.celery.pidbox.msg"
    stale.write_text("{}")
    fresh.write_text("{}")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    assert broker_control_sweep() == 1
    assert not stale.exists() and fresh.exists()
    assert len(list(folders["in"].glob("*.celery.msg"))) == 3  # runs are never swept


def test_a_queue_nobody_consumes_is_named_as_the_reason():
    worker = WorkerInfo(name="a@h", host="h", online=True, last_seen=None, concurrency=2, queues=["celery"])
    report = WorkersReport(workers=[worker])
    assert (
        flow_run_waiting_reason(report=report, queue="special", queued=4)
        == "No worker consumes queue special"
    )
    assert (
        flow_run_waiting_reason(report=report, queue="celery", queued=4)
        == "4 messages waiting in queue celery"
    )
    assert (
        flow_run_waiting_reason(report=WorkersReport(workers=[]), queue="celery", queued=0)
        == "No worker is up"
    )


def test_a_live_worker_its_active_run_a_waiting_run_and_then_the_worker_gone(
    start_worker,  # noqa: F811
    viewer_client,
    settings,
):
    settings.FLOWS_WAITING_WARNING_SECONDS = 0
    settings.WORKERS_REPORT_CACHE_SECONDS = 60  # the page, the list and the call below share one answer
    worker = start_worker("watched", concurrency=1)
    busy = flow_run_submit(flow_name="lost-with-worker", parameters={"seconds": 60})
    wait_until(
        lambda: FlowRun.objects.filter(pk=busy.id, state="RUNNING").exists(),
        timeout=30,
        what="the first run to start",
        workers=[worker],
    )
    waiting = flow_run_submit(flow_name="sum-numbers", parameters={"count": 3})

    report = workers_inspect(timeout=1.0)
    (live,) = report.online
    assert live.name.startswith("watched@") and live.concurrency == 1 and live.queues == ["celery"]
    assert [task.run_ids for task in live.active] == [[str(busy.id)]]
    assert live.is_busy

    html = viewer_client.get(WORKERS).content.decode()
    assert f'data-worker="{live.name}"' in html
    assert reverse("flows:run-detail", args=[busy.id]) in html
    assert "busy" in html
    body = viewer_client.get(reverse("api-workers")).json()
    (api_worker,) = body["workers"]
    assert api_worker["active"][0]["run_ids"] == [str(busy.id)] and api_worker["online"] is True
    assert {"name": "celery", "length": 1, "consumers": 1, "error": ""} in body["queues"]

    run = FlowRun.objects.get(pk=waiting.id)
    assert flow_run_waiting_explain(run=run) == "1 worker busy"
    detail = viewer_client.get(reverse("flows:run-detail", args=[waiting.id])).content.decode()
    assert "Not started: 1 worker busy" in detail
    listing = viewer_client.get(reverse("flows:run-list")).content.decode()
    assert "1 worker busy" in listing
    health = viewer_client.get("/healthz").json()
    assert (
        health["checks"]["workers"]["ok"] is True and health["checks"]["workers"]["detail"] == "1 worker up"
    )

    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    cache.delete(workers.WAITING_CACHE_KEY.format(queue="celery"))
    report = workers_inspect(timeout=1.0)
    assert report.online == []
    (gone,) = report.workers
    assert gone.name == live.name and not gone.online and gone.last_seen >= live.last_seen
    html = viewer_client.get(WORKERS).content.decode()
    assert "No worker is up" in html and f'data-worker="{live.name}"' in html and "gone" in html
    assert flow_run_waiting_explain(run=run) == "No worker is up"
