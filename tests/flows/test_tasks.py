"""Running submitted runs on a worker, without the broker: the atomic claim, two statements per
small run, messages of several runs, and deliveries that must not start a run (ended, running in a
live process, missing)."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from apps.flows.engine import worker_identity
from apps.flows.models import FlowRun, TaskRun
from apps.flows.submission import flow_run_state, flow_runs_schedule
from apps.flows.tasks import flow_run_claim, flow_run_deliver, flow_runs_execute_task

pytestmark = pytest.mark.django_db


def scheduled(*counts: int) -> list[str]:
    runs = flow_runs_schedule(flow_name="sum-numbers", parameters_list=[{"count": c} for c in counts])
    return [str(run.pk) for run in runs]


def deliver(run_id: str) -> str:
    return flow_run_deliver(flow_run_id=run_id, celery_task_id="message-1", worker_name="w@host")


def test_a_scheduled_run_is_claimed_running_once():
    (run_id,) = scheduled(3)
    claimed = flow_run_claim(flow_run_id=run_id, celery_task_id="message-1")
    assert claimed is not None and claimed.pk == uuid.UUID(run_id)
    assert claimed.parameters == {"count": 3} and claimed.flow_name == "sum-numbers"
    stored = FlowRun.objects.get(pk=run_id)
    for run in (claimed, stored):
        assert run.state == "RUNNING" and run.run_count == 1 and run.start_time is not None
        assert run.worker_host == worker_identity() and run.celery_task_id == "message-1"
        assert [entry["state"] for entry in run.state_history] == ["SCHEDULED", "RUNNING"]
    # A second delivery of the same message cannot claim it again.
    assert flow_run_claim(flow_run_id=run_id, celery_task_id="message-1") is None


def test_a_claim_of_no_run_or_a_bad_id_gives_nothing():
    assert flow_run_claim(flow_run_id=str(uuid.uuid4()), celery_task_id="m") is None
    assert flow_run_claim(flow_run_id="not-a-uuid", celery_task_id="m") is None
    assert deliver("not-a-uuid") == "missing"
    assert deliver(str(uuid.uuid4())) == "missing"


def test_a_small_delivered_run_costs_two_statements_and_ends_durable(django_assert_max_num_queries):
    warm_up, run_id = scheduled(1, 5)
    assert deliver(warm_up) == "COMPLETED"  # reserves ids for references ahead
    with django_assert_max_num_queries(2):  # the claim, then one statement for everything else
        assert deliver(run_id) == "COMPLETED"
    run = FlowRun.objects.select_related("result").get(pk=run_id)
    assert run.state == "COMPLETED" and run.end_time is not None
    assert [entry["state"] for entry in run.state_history] == ["SCHEDULED", "RUNNING", "COMPLETED"]
    assert flow_run_state(run).result() == sum(range(5))
    (task_run,) = TaskRun.objects.filter(flow_run_id=run_id).select_related("result")
    assert task_run.state == "COMPLETED" and task_run.result is not None
    assert task_run.result.size_bytes > 0 and not task_run.result.is_literal


def test_a_redelivery_of_a_run_held_by_a_live_process_steps_aside():
    (run_id,) = scheduled(2)
    live_owner = f"{socket.gethostname()}:{os.getppid()}"
    FlowRun.objects.filter(pk=run_id).update(state="RUNNING", worker_host=live_owner, run_count=1)
    assert deliver(run_id) == "running-elsewhere"
    run = FlowRun.objects.get(pk=run_id)
    assert run.state == "RUNNING" and run.worker_host == live_owner


def test_a_message_of_several_runs_runs_each_and_skips_ended_ones():
    done, first, second = scheduled(2, 3, 4)
    assert deliver(done) == "COMPLETED"
    history_before = FlowRun.objects.get(pk=done).state_history
    missing = str(uuid.uuid4())
    outcomes = flow_runs_execute_task([done, first, missing, second])
    assert outcomes == ["COMPLETED", "COMPLETED", "missing", "COMPLETED"]
    runs = {str(run.pk): run for run in FlowRun.objects.filter(pk__in=[done, first, second])}
    assert runs[done].state_history == history_before  # not run again
    assert flow_run_state(runs[first]).result() == 3 and flow_run_state(runs[second]).result() == 6
    assert TaskRun.objects.filter(flow_run_id__in=[done, first, second]).count() == 3
