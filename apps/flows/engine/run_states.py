"""What the engine adds to the state a run ends in: the run's ids, and the record its data shows."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from apps.flows.engine.targets import ResultTarget
from apps.flows.states import State
from apps.results.references import PendingReference


def state_run_ids(state: State, *, flow_run_id: Any = None, task_run_id: Any = None) -> None:
    """Mark ``state`` as the state of a run: it is no longer a state made by hand."""
    details = state.state_details
    details.flow_run_id = flow_run_id
    if task_run_id is not None:
        details.task_run_id = task_run_id


def state_record_attach(
    state: State,
    *,
    target: ResultTarget | Callable[[], ResultTarget],
    pending: PendingReference | Future | None,
) -> None:
    """Let ``state.data`` show the run's ResultRecord, built only when someone reads it.

    A persisted result's record names the key it was written under; an unpersisted one gets a
    fresh key, as Prefect's records of values it did not write do.
    """

    def record() -> Any:
        store = (target if isinstance(target, ResultTarget) else target()).store
        written = pending.result() if isinstance(pending, Future) else pending
        reference = None if written is None else written.reference
        if reference is None or reference.is_literal:
            return store.create_result_record(state.value)
        return store.create_result_record(state.value, key=reference.key, expiration=reference.expiration)

    state.record_loader = record
