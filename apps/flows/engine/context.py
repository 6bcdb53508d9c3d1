"""What a running flow or task knows about its run: the contexts, and the results a retry reuses."""

from __future__ import annotations

import contextvars
import gc
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from apps.flows.engine.recorder import RunRecorder
from apps.flows.engine.targets import ResultTarget, target_shared
from apps.results.references import PendingReference

TASK_POOL_WORKERS = min(32, (os.cpu_count() or 1) + 4)
RESULT_WRITER_THREADS = 4


@dataclass
class ReusableResult:
    """A completed task's persisted result, kept so a retried flow does not run the task again.

    ``value`` is UNSET when only the reference is known (an earlier attempt in another process).
    """

    value: Any
    pending: PendingReference | Future


@dataclass
class FlowRunContext:
    flow: Any
    flow_run: Any
    parameters: dict[str, Any]
    persist: bool
    recorder: RunRecorder
    parent: FlowRunContext | None = None
    attempt: int = 1
    task_counters: dict[str, int] = field(default_factory=dict)
    reusable: dict[str, ReusableResult] = field(default_factory=dict)
    completed: dict[str, ReusableResult] = field(default_factory=dict)
    futures: list[Any] = field(default_factory=list)
    _targets: dict[Any, ResultTarget] = field(default_factory=dict)
    _executor: ThreadPoolExecutor | None = None
    _guard: threading.Lock = field(default_factory=threading.Lock)

    @property
    def writer(self) -> ThreadPoolExecutor:
        # Shared by the process's flows: starting threads for every small flow cost more than its
        # writes. The flow waits for its own writes (their futures) before it records its end.
        return result_writer_pool()

    def target_for(self, *, storage_spec: Any, serializer_spec: Any) -> ResultTarget:
        """The target for a task: its own storage/serializer, else the flow's, else the defaults."""
        storage_spec = storage_spec if storage_spec is not None else self.flow.result_storage
        serializer_spec = serializer_spec if serializer_spec is not None else self.flow.result_serializer
        cache_key = (_spec_identity(storage_spec), _spec_identity(serializer_spec))
        with self._guard:
            target = self._targets.get(cache_key)
        if target is None:
            target = target_shared(storage_spec=storage_spec, serializer_spec=serializer_spec)
            with self._guard:
                self._targets[cache_key] = target
        return target

    def next_task_key(self, task_name: str) -> str:
        with self._guard:
            index = self.task_counters.get(task_name, 0)
            self.task_counters[task_name] = index + 1
        return f"{task_name}-{index}"

    @property
    def executor(self) -> ThreadPoolExecutor:
        with self._guard:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=TASK_POOL_WORKERS, thread_name_prefix=f"flow-{self.flow.name}"
                )
            return self._executor

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


def _spec_identity(spec: Any) -> Any:
    return spec if spec is None or isinstance(spec, str) else ("id", id(spec))


_writer_pool: tuple[int, ThreadPoolExecutor] | None = None
_writer_pool_guard = threading.Lock()


def result_writer_pool() -> ThreadPoolExecutor:
    """The process's result writer threads (made again in a forked child, where threads are gone)."""
    global _writer_pool
    with _writer_pool_guard:
        if _writer_pool is None or _writer_pool[0] != os.getpid():
            pool = ThreadPoolExecutor(max_workers=RESULT_WRITER_THREADS, thread_name_prefix="result-writer")
            _writer_pool = (os.getpid(), pool)
        return _writer_pool[1]


_frozen_in_process: int | None = None


def setup_objects_freeze() -> None:
    """Once per process, at its first flow: leave the objects that exist by then out of later
    garbage collections (``gc.freeze``).

    They are mostly the imports and the set-up (modules, classes, settings, the app registry),
    which live as long as the process. A full collection scans every one of them, and a process's
    first thousand tasks paid one that cost a fifth of their time. Frozen objects are still freed
    when their last reference goes; only a reference cycle among them is never collected (at a
    first flow call, a few dozen objects).
    """
    global _frozen_in_process
    if _frozen_in_process != os.getpid():
        _frozen_in_process = os.getpid()
        gc.freeze()


@dataclass
class TaskRunContext:
    """What a cache_key_fn receives as its first argument."""

    task: Any
    task_run: Any
    flow_run: Any
    parameters: dict[str, Any]
    # The run being executed (a task_runner.PreparedTask), for get_run_context().
    prepared: Any = None


flow_run_context_var: contextvars.ContextVar[FlowRunContext | None] = contextvars.ContextVar(
    "resultdeck_flow_run", default=None
)
task_run_context_var: contextvars.ContextVar[TaskRunContext | None] = contextvars.ContextVar(
    "resultdeck_task_run", default=None
)


def flow_run_context_current() -> FlowRunContext | None:
    return flow_run_context_var.get()
