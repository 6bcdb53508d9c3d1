"""``prefect.futures`` for Resultdeck: the futures of submitted and mapped tasks."""

from apps.flows.engine.futures import PrefectFutureList, TaskFuture

# Prefect's names for the future of a task run submitted in this process.
PrefectFuture = TaskFuture
PrefectConcurrentFuture = TaskFuture

__all__ = ["PrefectConcurrentFuture", "PrefectFuture", "PrefectFutureList", "TaskFuture"]
