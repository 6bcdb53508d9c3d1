"""The state history of synced runs, read from the server's /flow_run_states/ and /task_run_states/.

A sync sees only each run's current state, and reading every run's states there would cost one
request per run (Prefect has no bulk endpoint for states), so an incremental sync would be a
re-read. The history is read when someone opens a finished run instead, once: entries read from the
server carry their state's id, and a final run whose entries all do is complete and is not read again.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from apps.flows.models import FlowRun, RunSource, TaskRun

from .client import PrefectApiError, PrefectClient
from .models import PrefectConnection
from .services import connection_client

# A run page asks at most this many task runs' states in one go, a few requests at a time.
TASK_RUNS_READ = 100
READ_CONCURRENCY = 4
READ_TIMEOUT_SECONDS = 5.0


@dataclass
class HistoryRead:
    """What reading a run's history found: the task runs updated, or why nothing was read."""

    task_runs: int = 0
    problem: str = ""


def state_entry(state: dict[str, Any]) -> dict[str, Any]:
    """A server state as a history entry (the shape the engine records, with the state's id)."""
    return {
        "id": str(state.get("id") or ""),
        "state": state.get("type") or "",
        "name": state.get("name") or "",
        "message": state.get("message") or "",
        "timestamp": state.get("timestamp") or "",
    }


def history_complete(run: Any) -> bool:
    """The run is final and its history was read from its server since it last changed."""
    history = run.state_history or []
    return run.is_final and bool(history) and all(entry.get("id") for entry in history)


def states_read(*, client: PrefectClient, kind: str, prefect_id: Any) -> list[dict[str, Any]] | None:
    """The run's states, oldest first; None when the server keeps none for it (a 404)."""
    try:
        states = client.request("GET", f"{kind}_run_states/?{kind}_run_id={prefect_id}")
    except PrefectApiError as error:
        if error.status == 404:
            return None
        raise
    if not isinstance(states, list):
        return None
    return sorted((state_entry(state) for state in states), key=lambda entry: entry["timestamp"])


def run_history_read(*, run: FlowRun) -> HistoryRead:
    """Read a synced flow run's state history, and its task runs', from its server and keep them."""
    connection = PrefectConnection.objects.filter(pk=run.source_connection_id).first()
    if run.source != RunSource.PREFECT or connection is None:
        return HistoryRead(problem="the run's Prefect connection no longer exists")
    client = connection_client(connection, timeout=READ_TIMEOUT_SECONDS)
    client.retries = 1
    try:
        history = states_read(client=client, kind="flow", prefect_id=run.external_id)
    except PrefectApiError as error:
        return HistoryRead(problem=f"the state history cannot be read from {connection.name}: {error}")
    if history:
        run.state_history = history
        FlowRun.objects.filter(pk=run.pk).update(state_history=history)
    tasks = [
        task
        for task in TaskRun.objects.filter(flow_run=run, source=RunSource.PREFECT).order_by("created", "id")[
            : TASK_RUNS_READ * 2
        ]
        if not history_complete(task)
    ][:TASK_RUNS_READ]

    def task_read(task: TaskRun) -> tuple[TaskRun, list | None]:
        try:
            return task, states_read(client=client, kind="task", prefect_id=task.external_id)
        except PrefectApiError:
            return task, None  # the flow run's history is read; a task's stays as synced

    with ThreadPoolExecutor(max_workers=READ_CONCURRENCY) as pool:
        read = [(task, states) for task, states in pool.map(task_read, tasks) if states]
    for task, states in read:
        task.state_history = states
    TaskRun.objects.bulk_update([task for task, _ in read], fields=["state_history"])
    return HistoryRead(task_runs=len(read))
