"""A real Celery worker that has run flows (persisted results, log lines, a pandas flow printing with
log_prints) stops on Ctrl-C (SIGINT to its process group, as a terminal sends it) and on SIGTERM
(to its main process, as scripts/dev.sh and service managers send it)."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from apps.flows.models import FlowRun, RunLog
from apps.flows.submission import flow_run_submit
from tests.flows.test_celery import start_worker, wait_until, worker_settings  # noqa: F401

# The suite's own broker (CELERY_BROKER_URL), emptied: no other suite's worker takes these runs.
from tests.flows.test_workers import broker_url, other_broker  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# A cap on a failing wait, not a measure of speed: a worker that does not exit never gets there.
EXIT_WAIT_SECONDS = 60


@pytest.mark.parametrize(
    ("sent", "to_group"), [(signal.SIGINT, True), (signal.SIGTERM, False)], ids=["ctrl-c", "term"]
)
def test_a_worker_that_has_run_flows_exits_on_ctrl_c_and_term(start_worker, sent, to_group):  # noqa: F811
    worker = start_worker("stopping", concurrency=2, LOG_LEVEL="INFO")
    handles = [flow_run_submit(flow_name="sum-numbers", parameters={"count": i}) for i in range(10)]
    handles += [flow_run_submit(flow_name="orders-etl", parameters={"rows": 50}) for _ in range(2)]
    ids = [handle.id for handle in handles]
    wait_until(
        lambda: (
            FlowRun.objects.filter(pk__in=ids, state__in=["COMPLETED", "FAILED", "CRASHED"]).count()
            == len(ids)
        ),
        timeout=90,
        what="the runs to end",
        workers=[worker],
    )
    assert FlowRun.objects.filter(pk__in=ids, state="COMPLETED").count() == len(ids)
    assert RunLog.objects.filter(flow_run_id__in=ids, message__contains="orders kept").count() == 2

    if to_group:
        os.killpg(worker.pid, sent)
    else:
        os.kill(worker.pid, sent)
    try:
        worker.wait(EXIT_WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the worker did not exit on {sent.name}:\n{worker.log_path.read_text()[-3000:]}")
    assert "Warm shutdown" in worker.log_path.read_text()
    # Its pool processes went with it: nothing of the worker's process group is left.
    with pytest.raises(ProcessLookupError):
        os.killpg(worker.pid, 0)
