"""The run lifecycle: states, persistence rules, retries, caching, futures and run records.

A flow call runs in the calling thread; its tasks run in that thread too, or on the flow's thread
pool for ``task.submit()`` and ``task.map()``. Run records are written without a database round
trip per state change: the flow run row is inserted when the run starts (on a worker, claimed with
one UPDATE ... RETURNING) and updated when it ends; task runs (and the references to their
results) are buffered and inserted in bulk, at the end of the flow and every ``RECORD_FLUSH_EVERY``
tasks or ``RECORD_FLUSH_SECONDS`` seconds. On PostgreSQL the end of a run (references, task runs
and the flow run's final state) is one atomic statement, durable before the flow call returns. All
database writes happen in the flow's own thread, so a test transaction or a worker's connection
sees them.

    ids          row ids, storage keys, this process's identity (pure)
    timeouts     time limits of flows and tasks (pure)
    futures      TaskFuture, PrefectFutureList, unmapped (pure)
    targets      the storage and serializer of a run's results, and writing a result there
    recorder     buffered task runs and references, written in bulk
    context      the flow and task run contexts, and results a retry reuses
    task_runner  a task's call, attempts, cache and reuse
    flow_runner  a flow's call, attempts, result and end

The modules beside the pure ones need Django set up before they are imported; the decorators do
that on the first call, so ``from apps.flows import flow, task`` stays light. The names below are
the engine's public entry points, loaded on first use.
"""

from importlib import import_module
from typing import Any

PUBLIC_NAMES = {
    "flow_call": "flow_runner",
    "flow_run_create": "flow_runner",
    "flow_run_execute": "flow_runner",
    "FlowRunFailed": "flow_runner",
    "RunDatabaseError": "flow_runner",
    "task_call": "task_runner",
    "task_submit": "task_runner",
    "task_map": "task_runner",
    "flow_run_context_current": "context",
    "ReusableResult": "context",
    "FlowTimeoutError": "timeouts",
    "TaskTimeoutError": "timeouts",
    "TaskFuture": "futures",
    "PrefectFutureList": "futures",
    "worker_identity": "ids",
}

__all__ = sorted(PUBLIC_NAMES)


def __getattr__(name: str) -> Any:
    module = PUBLIC_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'apps.flows.engine' has no attribute {name!r}")
    return getattr(import_module(f"apps.flows.engine.{module}"), name)
