"""What a run's function returned, as the state the run ends in (Prefect's return_value_to_state).

Pure module. A state made by hand (no flow or task run in its details) is the run's state as given;
a run's state, or a list, tuple or set made only of states, gives Completed when all completed,
else Cancelled, Paused or Failed, holding what was returned; anything else is Completed with it.
Futures among the returned values become their states first.
"""

from __future__ import annotations

import types
from typing import Any

from apps.flows.engine.futures import TaskFuture
from apps.flows.states import UNSET, State, StateType, data_is_record, is_state_iterable, states_aggregate

_NESTED = (TaskFuture, list, tuple, set, dict)


def futures_to_states(value: Any) -> Any:
    """``value`` with every TaskFuture in it (in lists, tuples, sets and dicts) replaced by its state."""
    if isinstance(value, TaskFuture):
        return value.final_state()
    kind = type(value)
    if kind in (list, tuple, set):
        if not any(isinstance(item, _NESTED) for item in value):
            return value
        return kind(futures_to_states(item) for item in value)
    if kind is dict:
        if not any(isinstance(item, _NESTED) for item in value.values()):
            return value
        return {key: futures_to_states(item) for key, item in value.items()}
    return value


def returned_state(value: Any) -> State:
    """The state a run ends in when its function returned ``value`` (futures already resolved)."""
    if isinstance(value, State) and value.is_manual():
        if value.value is UNSET:
            data = value.data
            value.value = data.result if data_is_record(data) else data
        return value
    if isinstance(value, State) or is_state_iterable(value):
        state_type, message = states_aggregate([value] if isinstance(value, State) else value)
        state = State(state_type, message=message)
        state.value = value
        return state
    if isinstance(value, types.GeneratorType):
        value = list(value)
    state = State(StateType.COMPLETED)
    state.value = value
    return state
