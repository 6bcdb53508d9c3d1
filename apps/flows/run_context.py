"""The run context user code asks for: ``get_run_context()``, ``FlowRunContext`` and ``TaskRunContext``.

Light to import (no Django): no run can be active before the engine's modules are loaded, so the
answers outside a run need nothing else. Inside a run they are views of the engine's own context.
"""

from __future__ import annotations

import sys
from typing import Any

from apps.flows.exceptions import MissingContextError

ENGINE_CONTEXT_MODULE = "apps.flows.engine.context"


def _engine_context() -> Any:
    return sys.modules.get(ENGINE_CONTEXT_MODULE)


def _store_view(store: Any, *, cache_result_in_memory: bool) -> Any:
    """A result store on the run's storage and serializer, keeping results in memory as the run says."""
    from apps.results.store import ResultStore

    return ResultStore(
        result_storage=store.result_storage,
        serializer=store.serializer,
        storage_block_id=store.storage_block_id,
        cache_result_in_memory=cache_result_in_memory,
    )


class EngineContext:
    """A running flow's context (Prefect's ``FlowRunContext``): its flow, run, parameters and store."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self._result_store = None

    @classmethod
    def get(cls) -> EngineContext | None:
        module = _engine_context()
        engine = None if module is None else module.flow_run_context_var.get()
        return None if engine is None else cls(engine)

    @property
    def flow(self) -> Any:
        return self._engine.flow

    @property
    def flow_run(self) -> Any:
        return self._engine.flow_run

    @property
    def parameters(self) -> dict[str, Any]:
        return self._engine.parameters

    @property
    def persist_result(self) -> bool:
        return self._engine.persist

    @property
    def result_store(self) -> Any:
        if self._result_store is None:
            target = self._engine.target_for(storage_spec=None, serializer_spec=None)
            self._result_store = _store_view(
                target.store, cache_result_in_memory=self._engine.flow.cache_result_in_memory
            )
        return self._result_store


FlowRunContext = EngineContext


class TaskRunContext:
    """A running task's context: its task, run, parameters and store."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self._result_store = None

    @classmethod
    def get(cls) -> TaskRunContext | None:
        module = _engine_context()
        engine = None if module is None else module.task_run_context_var.get()
        return None if engine is None or engine.prepared is None else cls(engine)

    @property
    def task(self) -> Any:
        return self._engine.task

    @property
    def task_run(self) -> Any:
        return self._engine.task_run

    @property
    def parameters(self) -> dict[str, Any]:
        return self._engine.parameters

    @property
    def persist_result(self) -> bool:
        return self._engine.prepared.persist

    @property
    def result_store(self) -> Any:
        if self._result_store is None:
            from apps.flows.engine.task_runner import task_target

            self._result_store = _store_view(
                task_target(self._engine.prepared).store,
                cache_result_in_memory=self.task.cache_result_in_memory,
            )
        return self._result_store


def get_run_context() -> EngineContext | TaskRunContext:
    """The context of the task or flow running here; MissingContextError outside any run."""
    context = TaskRunContext.get() or EngineContext.get()
    if context is None:
        raise MissingContextError("No run context available. You are not in a flow or task run context.")
    return context
