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

Django is set up on first use (not at import), so ``from apps.flows import flow, task`` stays light.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import inspect
import json
import logging
import os
import random
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass, field
from typing import Any

from apps.flows.rules import (
    ConfigurationError,
    PersistenceDisabledError,
    flow_should_persist,
    retry_delay_for,
    storage_spec_kind,
    task_should_persist,
)
from apps.flows.states import UNSET, State, StateType

logger = logging.getLogger("apps.flows")

RECORD_FLUSH_EVERY = 500
RECORD_FLUSH_SECONDS = 2.0
PARAMETER_MAX_CHARS = 2000
CACHE_LOCK_ACQUIRE_SECONDS = 600.0
CACHE_LOCK_HOLD_SECONDS = 3600.0
TASK_POOL_WORKERS = min(32, (os.cpu_count() or 1) + 4)
RESULT_WRITER_THREADS = 4


class FlowTimeoutError(TimeoutError):
    pass


class TaskTimeoutError(TimeoutError):
    pass


class RunDatabaseError(RuntimeError):
    pass


# --------------------------------------------------------------------------------------------------
# Django, set up lazily


def django_ensure() -> None:
    from django.apps import apps

    if apps.ready:
        return
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    django.setup()


def _settings():
    from django.conf import settings

    return settings


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# Seeded from the OS once; ids and storage keys need uniqueness, not secrecy.
_random = random.Random()  # noqa: S311
_random_pid = os.getpid()


def fast_uuid4() -> uuid.UUID:
    """A random (version 4) UUID for row ids and storage keys, without a system call per id.

    Reseeded after a fork so worker processes never share a sequence.
    """
    global _random_pid
    if os.getpid() != _random_pid:
        _random.seed()
        _random_pid = os.getpid()
    return uuid.UUID(int=_random.getrandbits(128), version=4)


def storage_key_random() -> str:
    return fast_uuid4().hex


def worker_identity() -> str:
    """host:pid of this process, so a sweep can tell whether a run's process is gone."""
    return f"{socket.gethostname()}:{os.getpid()}"


# --------------------------------------------------------------------------------------------------
# Parameters as JSON


def parameter_jsonable(value: Any, *, max_chars: int = PARAMETER_MAX_CHARS) -> Any:
    """A JSON value to record for a parameter; large or non-JSON values become a short description."""
    kind = type(value)
    if kind is int or kind is bool or value is None:
        return value
    if kind is str and len(value) * 6 + 2 <= max_chars:  # fits even with every character escaped
        return value
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError, RecursionError):
        text = None
    if text is not None and len(text) <= max_chars:
        return json.loads(text)
    description = repr(value) if text is None else text
    return {
        "__truncated__": True,
        "type": f"{type(value).__module__}.{type(value).__qualname__}",
        "preview": description[: max_chars // 4],
        "length": len(description),
    }


def parameters_jsonable(parameters: dict[str, Any]) -> dict[str, Any]:
    return {name: parameter_jsonable(value) for name, value in parameters.items()}


# --------------------------------------------------------------------------------------------------
# Where results go


@dataclass
class ResultTarget:
    """A resolved storage and serializer, with the store that writes to them.

    ``store`` has no lock manager: a fresh random key needs no lock, and asking one on every write
    would cost a round trip. ``locking_store`` (same storage) serves cache keys, which do.
    """

    storage: Any
    block_id: Any
    store: Any
    _locking_store: Any = None

    @property
    def serializer_config(self) -> dict:
        config = self.__dict__.get("_serializer_config")
        if config is None:
            config = self.__dict__["_serializer_config"] = self.store.serializer.to_config()
        return config

    def relative_key(self, key: str) -> str:
        from apps.results.references import storage_relative_key

        return storage_relative_key(self.storage, key)

    def size_of(self, relative_key: str) -> int:
        root = self.__dict__.get("_local_root")
        if root is None and type(self.storage).__name__ == "LocalFileSystem":
            root = self.__dict__["_local_root"] = str(self.storage.root)
        if root is not None:
            # A fresh key was checked by the store's write; stat it directly.
            return os.stat(os.path.join(root, relative_key)).st_size
        return self.storage.size(relative_key)

    @property
    def locking_store(self) -> Any:
        if self._locking_store is None:
            from apps.results.store import ResultStore

            self._locking_store = ResultStore(
                result_storage=self.storage,
                serializer=self.store.serializer,
                lock_manager=lock_manager_default(),
                storage_block_id=self.store.storage_block_id,
                cache_result_in_memory=False,
            )
        return self._locking_store

    @property
    def location(self) -> str:
        from apps.results.references import storage_location_of

        return storage_location_of(self.storage)


_lock_managers: dict[str, Any] = {}
_lock_managers_guard = threading.Lock()


def lock_manager_default() -> Any:
    """Redis locks when REDIS_URL is set (several hosts); otherwise lock files under VAR_DIR/locks."""
    from apps.results.locking import FileSystemLockManager, RedisLockManager

    redis_url = os.environ.get("REDIS_URL") or getattr(_settings(), "REDIS_URL", "")
    key = f"redis:{redis_url}" if redis_url else f"file:{_settings().VAR_DIR}"
    with _lock_managers_guard:
        manager = _lock_managers.get(key)
        if manager is None:
            if redis_url:
                manager = RedisLockManager(redis_url)
            else:
                manager = FileSystemLockManager(os.path.join(str(_settings().VAR_DIR), "locks"))
            _lock_managers[key] = manager
        return manager


def storage_resolve(spec: Any) -> tuple[Any, Any]:
    """(filesystem, saved block id or None) for a result_storage value; None means the default."""
    from apps.blocks.filesystems import LocalFileSystem, RemoteFileSystem

    kind = storage_spec_kind(spec)
    if kind == "none":
        from apps.results.defaults import default_result_storage

        storage = default_result_storage()
    elif kind == "block-slug":
        from apps.blocks.services import block_load

        try:
            storage = block_load(spec)
        except Exception as exc:
            raise ConfigurationError(f"result_storage={spec!r}: {exc}") from exc
    elif kind == "url":
        storage = RemoteFileSystem(basepath=spec)
    elif kind == "path":
        storage = LocalFileSystem(basepath=os.fspath(spec))
    else:
        storage = spec
    return storage, getattr(storage, "_block_document_id", None)


def serializer_resolve(spec: Any) -> Any:
    """A serializer from an instance, a type name ("json", "compressed/pickle") or a saved config's name."""
    from apps.results.serializers import UnknownSerializerError, serializer_from

    if spec is None:
        spec = _settings().RESULTS_DEFAULT_SERIALIZER or "pickle"
    try:
        return serializer_from(spec)
    except UnknownSerializerError:
        if not isinstance(spec, str):
            raise
        from apps.results.serializer_configs import SerializerConfigNotFoundError, serializer_config_get

        try:
            return serializer_config_get(spec)
        except SerializerConfigNotFoundError:
            raise ConfigurationError(
                f"result_serializer={spec!r} is neither a serializer type (pickle, json, compressed/pickle, "
                "compressed/json, compressed) nor the name of a saved serializer config"
            ) from None


_shared_targets: dict[Any, tuple[float, ResultTarget]] = {}
_shared_targets_guard = threading.Lock()
SHARED_TARGET_SECONDS = 30.0


def target_shared(*, storage_spec: Any, serializer_spec: Any) -> ResultTarget:
    """A target reused across runs of this process for named specs (None, slugs, paths, type names).

    A worker runs thousands of small flows; resolving a block slug costs a query each time. A block
    edited in the dashboard is picked up within SHARED_TARGET_SECONDS.
    """
    if not all(spec is None or isinstance(spec, str) for spec in (storage_spec, serializer_spec)):
        return target_build(storage_spec=storage_spec, serializer_spec=serializer_spec)
    settings = _settings()
    key = (
        storage_spec,
        serializer_spec,
        settings.RESULTS_DEFAULT_STORAGE_BLOCK,
        settings.RESULTS_LOCAL_STORAGE_PATH,
        settings.RESULTS_DEFAULT_SERIALIZER,
        os.getcwd(),
    )
    now = time.monotonic()
    with _shared_targets_guard:
        cached = _shared_targets.get(key)
    if cached is not None and now - cached[0] < SHARED_TARGET_SECONDS:
        return cached[1]
    target = target_build(storage_spec=storage_spec, serializer_spec=serializer_spec)
    with _shared_targets_guard:
        _shared_targets[key] = (now, target)
    return target


def target_build(*, storage_spec: Any, serializer_spec: Any) -> ResultTarget:
    from apps.results.store import ResultStore

    storage, block_id = storage_resolve(storage_spec)
    serializer = serializer_resolve(serializer_spec)
    store = ResultStore(
        result_storage=storage,
        serializer=serializer,
        storage_key_fn=storage_key_random,
        storage_block_id=None if block_id is None else str(block_id),
        # The engine keeps values in memory itself; the store's cache would only duplicate them.
        cache_result_in_memory=False,
    )
    return ResultTarget(storage=storage, block_id=block_id, store=store)


# --------------------------------------------------------------------------------------------------
# Recording


class RunRecorder:
    """Buffers finished task runs and their result references; writes them in bulk."""

    def __init__(self, flow_run: Any) -> None:
        self.flow_run = flow_run
        self.owner_thread = threading.get_ident()
        self._pending: list[tuple[Any, Any]] = []
        self._guard = threading.Lock()
        self._last_flush = time.monotonic()

    def task_run_done(self, run: Any, reference: Any) -> None:
        with self._guard:
            self._pending.append((run, reference))
        self.maybe_flush()

    def maybe_flush(self) -> None:
        if threading.get_ident() != self.owner_thread:
            return
        with self._guard:
            due = len(self._pending) >= RECORD_FLUSH_EVERY or (
                self._pending and time.monotonic() - self._last_flush >= RECORD_FLUSH_SECONDS
            )
        if due:
            self.flush()

    def flush(self, *, flow_run_fields: list[str] | None = None, flow_reference: Any = None) -> None:
        from django.db import connections, router, transaction

        from apps.flows.bulk import rows_insert, single_statement_supported
        from apps.flows.models import FlowRun, TaskRun
        from apps.results.retention import references_retention_apply

        with self._guard:
            pending, self._pending = self._pending, []
            self._last_flush = time.monotonic()
        pending = [(run, reference_resolve(run, reference)) for run, reference in pending]
        references = [ref for _, ref in pending if ref is not None]
        if flow_reference is not None:
            references.append(flow_reference)
        references_retention_apply(references=references, flow_name=self.flow_run.flow_name)
        flow_run_values = None
        if flow_run_fields:
            if flow_reference is not None:
                flow_run_fields = [*flow_run_fields, "result"]
            flow_run_values = lambda: {  # noqa: E731 - read after the references have their ids
                name: getattr(self.flow_run, name) for name in _field_attnames(flow_run_fields)
            }
        connection = connections[router.db_for_write(TaskRun)]
        if single_statement_supported(connection) and all(map(_insertable_as_is, references)):
            records_write_as_one(
                pending=pending,
                references=references,
                flow_run=self.flow_run if flow_run_values else None,
                flow_reference=flow_reference,
                flow_run_values=flow_run_values,
                connection=connection,
            )
            return
        with transaction.atomic():
            references_save(references)
            runs = []
            for run, reference in pending:
                if reference is not None:
                    run.result_id = reference.pk
                runs.append(run)
            if runs:
                rows_insert(TaskRun, runs)
            if flow_run_values:
                if flow_reference is not None:
                    self.flow_run.result_id = flow_reference.pk
                FlowRun.objects.filter(pk=self.flow_run.pk).update(**flow_run_values())


def _insertable_as_is(reference: Any) -> bool:
    """Saved already, or new under a fresh key (or a literal): nothing to look up before inserting."""
    return reference.pk is not None or reference.is_literal or getattr(reference, "_fresh_key", False)


def records_write_as_one(
    *,
    pending: list[tuple[Any, Any]],
    references: list[Any],
    flow_run: Any,
    flow_reference: Any,
    flow_run_values: Callable[[], dict[str, Any]] | None,
    connection: Any,
) -> None:
    """References, task runs and the flow run's new state in one atomic statement (one round trip)."""
    from apps.flows.bulk import ids_reserve, insert_statement, statements_run_as_one, update_statement
    from apps.flows.models import FlowRun, TaskRun
    from apps.results.models import ResultReference

    new_references, seen = [], set()
    for ref in references:
        if ref.pk is None and id(ref) not in seen:
            seen.add(id(ref))
            new_references.append(ref)
    for ref, pk in zip(
        new_references, ids_reserve(ResultReference, len(new_references), connection=connection), strict=True
    ):
        ref.pk = pk
    runs = []
    for run, reference in pending:
        if reference is not None:
            run.result_id = reference.pk
        runs.append(run)
    statements = []
    if new_references:
        statements.append(insert_statement(ResultReference, new_references, connection=connection))
    if runs:
        statements.append(insert_statement(TaskRun, runs, connection=connection))
    if flow_run is not None:
        if flow_reference is not None:
            flow_run.result_id = flow_reference.pk
        statements.append(update_statement(FlowRun, flow_run.pk, flow_run_values(), connection=connection))
    statements_run_as_one(statements, connection=connection)
    for obj in (*new_references, *runs):
        obj._state.adding = False
        obj._state.db = connection.alias


def reference_resolve(run: Any, reference: Any) -> Any:
    """The reference of a result written on a writer thread; its run ends Failed if the write failed."""
    if not isinstance(reference, Future):
        return reference
    try:
        return reference.result()
    except Exception as exc:
        _history_add(
            run,
            State(
                StateType.FAILED, message=f"the result could not be persisted: {type(exc).__name__}: {exc}"
            ),
        )
        return None


def _field_attnames(names: list[str]) -> list[str]:
    return [
        f"{name}_id" if name in ("result", "parent_flow_run", "parent_task_run") else name for name in names
    ]


def references_save(references: list[Any]) -> None:
    """Insert new references; a key written again (a cache key, a fixed storage key) updates its row."""
    from apps.flows.bulk import rows_insert
    from apps.results.models import ResultReference

    if not references:
        return
    # A freshly generated key cannot have a row yet; only named keys (cache keys, templates) are looked up.
    stored = [
        ref
        for ref in references
        if not ref.is_literal and ref.pk is None and not getattr(ref, "_fresh_key", False)
    ]
    existing: dict[tuple[str, str], Any] = {}
    if stored:
        keys = {ref.key for ref in stored}
        for row in ResultReference.objects.filter(key__in=keys, is_literal=False):
            existing[(row.storage_location, row.key)] = row
    to_create, seen = [], {}
    for ref in references:
        if ref.pk is not None:
            continue
        if ref.is_literal:
            to_create.append(ref)
            continue
        identity = (ref.storage_location, ref.key)
        row = existing.get(identity) or seen.get(identity)
        if row is None:
            to_create.append(ref)
            seen[identity] = ref
            continue
        if not getattr(ref, "_reused", False):
            for name in (
                "block_id",
                "layout",
                "serializer_type",
                "serializer_config",
                "value_type",
                "size_bytes",
                "cache_key",
                "expiration",
                "created",
                "prefect_version",
            ):
                setattr(row, name, getattr(ref, name))
            row.purged_at = None
            if row.pk is not None:
                row.save()
        ref.pk = ref.id = row.pk
        ref._row = row
    rows_insert(ResultReference, to_create)
    for ref in references:
        row = getattr(ref, "_row", None)
        if row is not None:
            ref.pk = ref.id = row.pk


def _history_add(run: Any, state: State) -> None:
    run.state_history.append(
        {
            "state": state.type.value,
            "name": state.name,
            "message": state.message,
            "timestamp": state.timestamp.isoformat(),
        }
    )
    run.state = state.type.value
    run.state_message = state.message


# --------------------------------------------------------------------------------------------------
# Contexts


@dataclass
class ReusableResult:
    """A completed task's persisted result, kept so a retried flow does not run the task again."""

    value: Any
    reference: Any
    key: str


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

    @property
    def flow_target_specs(self) -> tuple[Any, Any]:
        return self.flow.result_storage, self.flow.result_serializer

    def target_for(self, *, storage_spec: Any, serializer_spec: Any) -> ResultTarget:
        """The target for a task: its own storage/serializer, else the flow's, else the defaults."""
        flow_storage, flow_serializer = self.flow_target_specs
        storage_spec = storage_spec if storage_spec is not None else flow_storage
        serializer_spec = serializer_spec if serializer_spec is not None else flow_serializer
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


def _spec_identity(spec: Any) -> Any:
    return spec if spec is None or isinstance(spec, str) else ("id", id(spec))


@dataclass
class TaskRunContext:
    """What a cache_key_fn receives as its first argument."""

    task: Any
    task_run: Any
    flow_run: Any
    parameters: dict[str, Any]


_flow_context: contextvars.ContextVar[FlowRunContext | None] = contextvars.ContextVar(
    "resultdeck_flow_run", default=None
)
_task_context: contextvars.ContextVar[TaskRunContext | None] = contextvars.ContextVar(
    "resultdeck_task_run", default=None
)


def flow_run_context_current() -> FlowRunContext | None:
    return _flow_context.get()


# --------------------------------------------------------------------------------------------------
# Futures


class TaskFuture:
    """A task submitted to the flow's thread pool: ``.result()``, ``.wait()``, ``.state``."""

    def __init__(self, future: Future, *, task_name: str) -> None:
        self._future = future
        self.task_name = task_name

    def wait(self, timeout: float | None = None) -> State | None:
        try:
            return self._future.result(timeout=timeout)
        except FutureTimeoutError:
            return None

    @property
    def state(self) -> State:
        if not self._future.done():
            return State(StateType.RUNNING)
        return self._future.result()

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> Any:
        try:
            state = self._future.result(timeout=timeout)
        except FutureTimeoutError:
            raise TimeoutError(f"task {self.task_name!r} did not finish within {timeout} s") from None
        return state.result(raise_on_failure=raise_on_failure)

    def __repr__(self) -> str:
        return f"TaskFuture({self.task_name!r}, done={self._future.done()})"


class PrefectFutureList(list):
    """What ``task.map()`` returns: futures, with ``.result()`` and ``.wait()`` over all of them."""

    def wait(self, timeout: float | None = None) -> None:
        for future in self:
            future.wait(timeout)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> list[Any]:
        return [future.result(timeout=timeout, raise_on_failure=raise_on_failure) for future in self]


def _resolve_inputs(value: Any, depth: int = 0) -> Any:
    """Futures and states passed as arguments become their values (one container level deep)."""
    if isinstance(value, TaskFuture):
        return value.result()
    if isinstance(value, State):
        return value.result()
    if depth == 0:
        if type(value) is list:
            return [_resolve_inputs(item, 1) for item in value]
        if type(value) is tuple:
            return tuple(_resolve_inputs(item, 1) for item in value)
        if type(value) is dict:
            return {key: _resolve_inputs(item, 1) for key, item in value.items()}
    return value


# --------------------------------------------------------------------------------------------------
# Timeouts


def _call_with_thread_timeout(fn: Callable[[], Any], *, seconds: float, what: str, error: type) -> Any:
    outcome: dict[str, Any] = {}
    context = contextvars.copy_context()

    def target() -> None:
        try:
            outcome["value"] = context.run(fn)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=f"timeout-{what}", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise error(f"{what} timed out after {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@contextlib.contextmanager
def _alarm(seconds: float | None, *, what: str):
    """Raise FlowTimeoutError in the main thread after ``seconds`` (SIGALRM); elsewhere a no-op."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield False
        return

    def on_alarm(signum, frame):
        raise FlowTimeoutError(f"{what} timed out after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --------------------------------------------------------------------------------------------------
# Tasks


def task_call(
    task: Any, args: tuple, kwargs: dict, *, return_state: bool = False, wait_for: Any = None
) -> Any:
    """A task called like a function: runs now, in this thread."""
    flow_context = _flow_context.get()
    prepared = _task_prepare(task, args, kwargs, flow_context=flow_context, wait_for=wait_for)
    state = _task_execute(prepared)
    if flow_context is not None:
        flow_context.recorder.maybe_flush()
    else:
        _record_orphan_task(prepared)
    if return_state:
        return state
    return state.result()


def task_submit(task: Any, args: tuple, kwargs: dict, *, wait_for: Any = None) -> TaskFuture:
    """A task run on the flow's thread pool; outside a flow it runs at once and returns a done future."""
    flow_context = _flow_context.get()
    if flow_context is None:
        future: Future = Future()
        future.set_result(task_call(task, args, kwargs, return_state=True, wait_for=wait_for))
        return TaskFuture(future, task_name=task.name)
    prepared = _task_prepare(task, args, kwargs, flow_context=flow_context, wait_for=wait_for)
    future = flow_context.executor.submit(contextvars.copy_context().run, _task_execute, prepared)
    result = TaskFuture(future, task_name=task.name)
    flow_context.futures.append(result)
    return result


def task_map(task: Any, args: tuple, kwargs: dict, *, wait_for: Any = None) -> PrefectFutureList:
    """One submitted run per element of the iterable arguments; other arguments are passed as they are."""
    from apps.flows.decorators import unmapped

    names = list(task.signature.parameters)
    bound = task.signature.bind_partial(*args, **kwargs).arguments
    iterables: dict[str, list] = {}
    static: dict[str, Any] = {}
    for name, value in bound.items():
        if isinstance(value, unmapped):
            static[name] = value.value
        elif isinstance(value, Iterable) and not isinstance(value, str | bytes | dict):
            iterables[name] = list(value)
        else:
            static[name] = value
    if not iterables:
        raise ConfigurationError(f"task {task.name!r}.map() needs at least one iterable argument")
    lengths = {len(values) for values in iterables.values()}
    if len(lengths) > 1:
        raise ConfigurationError(
            f"task {task.name!r}.map() got iterables of different lengths: "
            + ", ".join(f"{name}={len(values)}" for name, values in iterables.items())
        )
    futures = PrefectFutureList()
    for index in range(lengths.pop()):
        call_kwargs = {**static, **{name: values[index] for name, values in iterables.items()}}
        ordered = {name: call_kwargs[name] for name in names if name in call_kwargs}
        futures.append(task_submit(task, (), ordered, wait_for=wait_for))
    return futures


@dataclass
class PreparedTask:
    task: Any
    args: tuple
    kwargs: dict
    flow_context: FlowRunContext | None
    wait_for: Any
    run: Any
    task_key: str
    persist: bool
    target: ResultTarget | None
    reusable: ReusableResult | None
    reference: Any = None


def _task_prepare(
    task: Any, args: tuple, kwargs: dict, *, flow_context: FlowRunContext | None, wait_for: Any
):
    django_ensure()
    from apps.flows.models import TaskRun
    from apps.results.references import model_instance_new

    settings = _settings()
    task_key = flow_context.next_task_key(task.name) if flow_context else f"{task.name}-0"
    persist = task_should_persist(
        persist_result=task.persist_result,
        has_cache_key_fn=task.cache_key_fn is not None,
        retries=task.retries,
        flow_persist_result=flow_context.flow.persist_result if flow_context else None,
        persist_by_default=settings.RESULTS_PERSIST_BY_DEFAULT,
    )
    needs_target = persist or task.cache_key_fn is not None
    target = None
    if needs_target and task.persist_result is not False:
        if flow_context is not None:
            target = flow_context.target_for(
                storage_spec=task.result_storage, serializer_spec=task.result_serializer
            )
        else:
            target = target_build(storage_spec=task.result_storage, serializer_spec=task.result_serializer)
    run_id = fast_uuid4()
    run = model_instance_new(
        TaskRun,
        id=run_id,
        flow_run_id=flow_context.flow_run.pk if flow_context else None,
        name=f"{task.name}-{run_id.hex[:8]}",
        task_name=task.name,
        task_key=task_key,
        state=StateType.PENDING.value,
        state_history=[],
        created=_now(),
    )
    reusable = flow_context.reusable.get(task_key) if flow_context else None
    return PreparedTask(
        task=task,
        args=args,
        kwargs=kwargs,
        flow_context=flow_context,
        wait_for=wait_for,
        run=run,
        task_key=task_key,
        persist=persist,
        target=target,
        reusable=reusable,
    )


def _task_execute(prepared: PreparedTask) -> State:
    task, run = prepared.task, prepared.run
    try:
        state = _task_execute_inner(prepared)
    except BaseException as exc:  # an engine error still ends the run with a recorded state
        state = State(StateType.CRASHED, message=f"{type(exc).__name__}: {exc}", exception=exc)
        _history_add(run, state)
        if not isinstance(exc, Exception):
            raise
    run.end_time = _now()
    if run.start_time is None:
        run.start_time = run.end_time
    if prepared.flow_context is not None:
        prepared.flow_context.recorder.task_run_done(run, prepared.reference)
        if state.is_completed() and prepared.reference is not None:
            prepared.flow_context.completed[prepared.task_key] = ReusableResult(
                value=state.data, reference=prepared.reference, key=""
            )
    logger.debug("task %s ended %s", task.name, state.type.value)
    return state


def _task_execute_inner(prepared: PreparedTask) -> State:
    task, run = prepared.task, prepared.run
    if prepared.wait_for:
        for upstream in (
            prepared.wait_for if isinstance(prepared.wait_for, list | tuple) else [prepared.wait_for]
        ):
            if isinstance(upstream, TaskFuture):
                upstream.wait()
    args = tuple(_resolve_inputs(arg) for arg in prepared.args)
    kwargs = {name: _resolve_inputs(value) for name, value in prepared.kwargs.items()}
    bound = task.signature.bind(*args, **kwargs)
    bound.apply_defaults()
    parameters = dict(bound.arguments)
    run.parameters = parameters_jsonable(parameters)
    run.start_time = _now()

    if prepared.reusable is not None:
        return _task_reuse(prepared)

    cache_key = None
    if task.cache_key_fn is not None:
        context = TaskRunContext(
            task=task,
            task_run=run,
            flow_run=prepared.flow_context.flow_run if prepared.flow_context else None,
            parameters=parameters,
        )
        cache_key = task.cache_key_fn(context, parameters)
        if cache_key is not None:
            if task.persist_result is False:
                raise_state = _fail(
                    run,
                    PersistenceDisabledError(
                        f"task {task.name!r} has a cache key ({cache_key!r}) but persist_result=False: "
                        "a cached result must be stored to be reused; remove persist_result=False or the "
                        "cache_key_fn"
                    ),
                )
                return raise_state
            cache_key = str(cache_key)
            run.cache_key = cache_key[:256]

    if cache_key is None:
        return _task_attempts(prepared, bound, key=_storage_key_for(prepared, parameters), cache_key="")

    store = prepared.target.locking_store
    if not task.refresh_cache:
        cached = _cache_lookup(prepared, cache_key)
        if cached is not None:
            return cached
    holder = f"{worker_identity()}:{run.id.hex}"
    acquired = store.lock_manager is not None and store.lock_manager.acquire_lock(
        cache_key, holder, acquire_timeout=CACHE_LOCK_ACQUIRE_SECONDS, hold_timeout=CACHE_LOCK_HOLD_SECONDS
    )
    try:
        if not task.refresh_cache:
            # Whoever held the lock may have just computed it.
            cached = _cache_lookup(prepared, cache_key, holder=holder if acquired else None)
            if cached is not None:
                return cached
        return _task_attempts(
            prepared, bound, key=cache_key, cache_key=cache_key, holder=holder if acquired else None
        )
    finally:
        if acquired and store.lock_manager.is_lock_holder(cache_key, holder):
            store.lock_manager.release_lock(cache_key, holder)


def _storage_key_for(prepared: PreparedTask, parameters: dict[str, Any]) -> str | None:
    template = prepared.task.result_storage_key
    if not template:
        return None
    flow_context = prepared.flow_context
    try:
        return template.format(
            parameters=parameters,
            task_run=prepared.run,
            flow_run=flow_context.flow_run if flow_context else None,
            **parameters,
        )
    except (KeyError, AttributeError, IndexError) as exc:
        raise ConfigurationError(
            f"result_storage_key {template!r} of task {prepared.task.name!r} could not be formatted: {exc}"
        ) from exc


def _cache_lookup(prepared: PreparedTask, cache_key: str, holder: str | None = None) -> State | None:
    from apps.results.references import reference_from_record

    store = prepared.target.locking_store
    if not store.exists(cache_key):
        return None
    try:
        # The lock's holder reads without waiting for its own lock.
        record = store.read(cache_key, holder=holder) if holder else store.read(cache_key)
    except Exception as exc:  # a record that vanished or broke since exists(): compute instead
        logger.warning("cached result %r could not be read (%s); running the task", cache_key, exc)
        return None
    value = record.result
    reference = reference_from_record(
        record=record,
        storage=prepared.target.storage,
        block=prepared.target.block_id,
        value=value,
        cache_key=cache_key,
    )
    reference._reused = True
    prepared.reference = reference
    state = State(StateType.CACHED, data=value, message="result reused from the cache")
    _history_add(prepared.run, state)
    return state


def _task_reuse(prepared: PreparedTask) -> State:
    reusable = prepared.reusable
    if isinstance(reusable.reference, Future):
        reusable.reference = reusable.reference.result()
    value = reusable.value
    if value is UNSET:
        reference = reusable.reference
        if reference.is_literal:
            value = reference.literal_value
        else:
            value = prepared.target.store.read(reusable.key).result
    prepared.reference = reusable.reference
    prepared.reference._reused = True
    state = State(
        StateType.COMPLETED, data=value, message="result reused from an earlier attempt of the flow"
    )
    _history_add(prepared.run, state)
    return state


def _fail(run: Any, exc: BaseException) -> State:
    state = State(StateType.FAILED, message=f"{type(exc).__name__}: {exc}", exception=exc)
    _history_add(run, state)
    return state


def _task_attempts(
    prepared: PreparedTask,
    bound: inspect.BoundArguments,
    *,
    key: str | None,
    cache_key: str,
    holder: str | None = None,
) -> State:
    task, run = prepared.task, prepared.run
    attempt = 0
    while True:
        attempt += 1
        run.run_count = attempt
        _history_add(run, State(StateType.RUNNING))
        token = _task_context.set(TaskRunContext(task=task, task_run=run, flow_run=None, parameters={}))
        try:
            if task.timeout_seconds:
                value = _call_with_thread_timeout(
                    lambda: task.fn(*bound.args, **bound.kwargs),
                    seconds=task.timeout_seconds,
                    what=f"task {task.name!r}",
                    error=TaskTimeoutError,
                )
            else:
                value = task.fn(*bound.args, **bound.kwargs)
        except Exception as exc:
            if attempt <= task.retries:
                if task.persist_result is False:
                    return _fail(
                        run,
                        PersistenceDisabledError(
                            f"task {task.name!r} failed ({type(exc).__name__}: {exc}) and cannot be retried: "
                            "it has "
                            f"retries={task.retries} but persist_result=False, and a retry needs its result "
                            "persisted; remove persist_result=False or the retries"
                        ),
                    )
                delay = retry_delay_for(retry_delay_seconds=task.retry_delay_seconds, attempt=attempt)
                _history_add(
                    run,
                    State(
                        StateType.SCHEDULED,
                        name="AwaitingRetry",
                        message=f"retry {attempt} of {task.retries} in {delay:g} s after "
                        f"{type(exc).__name__}: {exc}",
                    ),
                )
                if delay:
                    time.sleep(delay)
                continue
            message = "timed out" if isinstance(exc, TimeoutError) else ""
            state = State(
                StateType.FAILED,
                message=f"{message + ': ' if message else ''}{type(exc).__name__}: {exc}",
                exception=exc,
            )
            _history_add(run, state)
            return state
        finally:
            _task_context.reset(token)
        break
    returned_state = value if isinstance(value, State) else None
    if returned_state is not None:
        if not returned_state.is_completed():
            _history_add(run, returned_state)
            return returned_state
        value = returned_state.data if returned_state.data is not UNSET else None
    if prepared.persist:
        expiration = _now() + task.cache_expiration if task.cache_expiration is not None else None
        flow_context = prepared.flow_context
        if flow_context is not None and not cache_key:
            # Written on the flow's writer threads: file I/O overlaps the next tasks. The flow waits
            # for every write before it ends, and a failed write fails the task run and the flow.
            prepared.reference = flow_context.writer.submit(
                result_persist, value, target=prepared.target, key=key, expiration=expiration
            )
        else:
            prepared.reference = result_persist(
                value,
                target=prepared.target,
                key=key,
                expiration=expiration,
                cache_key=cache_key,
                holder=holder,
            )
    state = State(StateType.COMPLETED, data=value, message=returned_state.message if returned_state else "")
    _history_add(run, state)
    return state


def result_persist(
    value: Any,
    *,
    target: ResultTarget,
    key: str | None,
    expiration: dt.datetime | None = None,
    cache_key: str = "",
    holder: str | None = None,
) -> Any:
    """Write ``value`` (or keep it as a literal) and return its unsaved ResultReference."""
    from apps.results.references import reference_from_record, reference_literal, value_is_literal

    if value_is_literal(value) and not cache_key and not key:
        return reference_literal(value)
    store = target.locking_store if cache_key else target.store
    # A fresh key is a plain hex name: it is its own storage-relative key, no resolving needed.
    relative_key = None if key else storage_key_random()
    record = store.write(value, key=key or relative_key, expiration=expiration, holder=holder)
    relative_key = relative_key or target.relative_key(record.metadata.storage_key)
    size = None
    try:
        size = target.size_of(relative_key)
    except Exception:  # the size is informative; a storage that cannot stat still holds the result
        logger.debug("could not read the size of %s", relative_key)
    reference = reference_from_record(
        record=record,
        storage=target.storage,
        block=target.block_id,
        value=value,
        size_bytes=size,
        cache_key=cache_key,
        key=relative_key,
        serializer_config=target.serializer_config,
    )
    reference._fresh_key = not key
    return reference


def _record_orphan_task(prepared: PreparedTask) -> None:
    """A task called outside any flow is recorded on its own, at once."""
    from django.db import transaction

    with transaction.atomic():
        if prepared.reference is not None:
            references_save([prepared.reference])
            prepared.run.result_id = prepared.reference.pk
        prepared.run.save(force_insert=True)


# --------------------------------------------------------------------------------------------------
# Flows


class FlowRunFailed(Exception):
    """Raised by a flow call when the flow returned a failed state without an exception of its own."""


def _engine_imports_warm() -> None:
    """Import what every run needs once, before the first flow's body, so tasks do not pay for it."""
    import apps.flows.bulk
    import apps.flows.models
    import apps.results.defaults
    import apps.results.references
    import apps.results.store  # noqa: F401


def flow_call(
    flow: Any, args: tuple, kwargs: dict, *, return_state: bool = False, flow_run: Any = None
) -> Any:
    django_ensure()
    _engine_imports_warm()
    bound = flow.signature.bind(*args, **kwargs)
    bound.apply_defaults()
    state = flow_run_execute(flow, dict(bound.arguments), flow_run=flow_run)
    if return_state:
        return state
    return state.result()


def flow_run_create(
    flow: Any, parameters: dict[str, Any], *, parent: FlowRunContext | None, state: StateType
):
    from apps.flows.models import FlowRun
    from apps.results.references import model_instance_new

    run_id = fast_uuid4()
    return model_instance_new(
        FlowRun,
        id=run_id,
        name=f"{flow.name}-{run_id.hex[:8]}",
        flow_name=flow.name,
        parameters=parameters_jsonable(parameters),
        state=state.value,
        state_history=[],
        created=_now(),
        parent_flow_run_id=parent.flow_run.pk if parent else None,
        worker_host=worker_identity(),
    )


def flow_run_execute(
    flow: Any,
    parameters: dict[str, Any],
    *,
    flow_run: Any = None,
    reusable: dict[str, ReusableResult] | None = None,
    attempt_offset: int = 0,
) -> State:
    """Run ``flow`` with ``parameters``, recording it in ``flow_run`` (created when not given)."""
    from django.db import DatabaseError

    settings = _settings()
    parent = _flow_context.get()
    if flow_run is None:
        flow_run = flow_run_create(flow, parameters, parent=parent, state=StateType.RUNNING)
        flow_run.start_time = _now()
        _history_add(flow_run, State(StateType.RUNNING))
        try:
            flow_run.save(force_insert=True)
        except DatabaseError as exc:
            raise RunDatabaseError(
                f"cannot record the flow run in the database ({exc}); if the tables are missing, run "
                "`python manage.py migrate`"
            ) from exc
    else:
        flow_run.start_time = flow_run.start_time or _now()
        flow_run.worker_host = worker_identity()
    persist = flow_should_persist(
        persist_result=flow.persist_result,
        retries=flow.retries,
        result_storage=flow.result_storage,
        result_serializer=flow.result_serializer,
        persist_by_default=settings.RESULTS_PERSIST_BY_DEFAULT,
    )
    recorder = RunRecorder(flow_run)
    context = FlowRunContext(
        flow=flow,
        flow_run=flow_run,
        parameters=parameters,
        persist=persist,
        recorder=recorder,
        parent=parent,
        reusable=dict(reusable or {}),
    )
    attempt = attempt_offset
    flow_reference = None
    while True:
        attempt += 1
        flow_run.run_count = attempt
        if attempt > attempt_offset + 1 or flow_run.state != StateType.RUNNING.value:
            _history_add(flow_run, State(StateType.RUNNING))
        context.task_counters = {}
        token = _flow_context.set(context)
        try:
            value = _flow_body_run(flow, parameters, context)
            error = None
        except Exception as exc:
            value, error = None, exc
        finally:
            _flow_context.reset(token)
        if error is not None and attempt - attempt_offset <= flow.retries:
            if flow.persist_result is False:
                error = PersistenceDisabledError(
                    f"flow {flow.name!r} failed ({type(error).__name__}: {error}) and cannot be retried: "
                    "it has "
                    f"retries={flow.retries} but persist_result=False, and a retry needs results persisted; "
                    "remove persist_result=False or the retries"
                )
            else:
                delay = retry_delay_for(
                    retry_delay_seconds=flow.retry_delay_seconds, attempt=attempt - attempt_offset
                )
                _history_add(
                    flow_run,
                    State(
                        StateType.SCHEDULED,
                        name="AwaitingRetry",
                        message=f"retry {attempt - attempt_offset} of {flow.retries} in {delay:g} s after "
                        f"{type(error).__name__}: {error}",
                    ),
                )
                context.reusable = dict(context.reusable)
                context.reusable.update(context.completed)
                if delay:
                    time.sleep(delay)
                continue
        break
    context.shutdown()
    write_error = _first_failed_write(context)
    if error is None and write_error is not None:
        error = write_error
    if error is not None:
        timed_out = isinstance(error, FlowTimeoutError)
        message = f"timed out: {error}" if timed_out else f"{type(error).__name__}: {error}"
        state = State(StateType.FAILED, message=message, exception=error)
    elif isinstance(value, State):
        state = value
        if state.is_completed() and state.data is UNSET:
            state.data = None
        if state.is_failed() and state.exception is None:
            state.exception = FlowRunFailed(state.message or f"flow {flow.name!r} returned a Failed state")
    else:
        state = State(StateType.COMPLETED, data=value)
    state = State(
        state.type, data=state.data, message=state.message, exception=state.exception, name=state.name
    )
    if state.is_completed() and persist:
        try:
            target = context.target_for(storage_spec=None, serializer_spec=None)
            flow_reference = result_persist(state.data, target=target, key=None)
        except Exception as exc:
            state = State(
                StateType.FAILED, message=f"the flow's result could not be persisted: {exc}", exception=exc
            )
    _history_add(flow_run, state)
    flow_run.end_time = _now()
    recorder.flush(
        flow_run_fields=[
            "state",
            "state_message",
            "state_history",
            "start_time",
            "end_time",
            "run_count",
            "worker_host",
        ],
        flow_reference=flow_reference,
    )
    if flow_reference is not None:
        state.reference_id = flow_reference.pk
    return state


def _first_failed_write(context: FlowRunContext) -> BaseException | None:
    with context.recorder._guard:
        pending = list(context.recorder._pending)
    for run, reference in pending:
        if isinstance(reference, Future) and reference.exception() is not None:
            exc = reference.exception()
            return RuntimeError(
                f"the result of task run {run.name} could not be persisted: {type(exc).__name__}: {exc}"
            )
    return None


def _flow_body_run(flow: Any, parameters: dict[str, Any], context: FlowRunContext) -> Any:
    def body() -> Any:
        value = flow.fn(**parameters)
        # Tasks still running when the body returns are part of the run: wait for them.
        for future in list(context.futures):
            future.wait()
        if isinstance(value, TaskFuture):
            return value.result()
        return value

    if flow.timeout_seconds:
        with _alarm(flow.timeout_seconds, what=f"flow {flow.name!r}") as armed:
            if armed:
                return _with_stdout(flow, body)
        return _call_with_thread_timeout(
            lambda: _with_stdout(flow, body),
            seconds=flow.timeout_seconds,
            what=f"flow {flow.name!r}",
            error=FlowTimeoutError,
        )
    return _with_stdout(flow, body)


def _with_stdout(flow: Any, body: Callable[[], Any]) -> Any:
    if not flow.log_prints:
        return body()
    import builtins

    original_print = builtins.print
    flow_logger = logging.getLogger(f"apps.flows.run.{flow.name}")

    def print_to_log(*args, sep=" ", end="\n", file=None, flush=False):
        if file is None:
            flow_logger.info(sep.join(str(arg) for arg in args))
        else:
            original_print(*args, sep=sep, end=end, file=file, flush=flush)

    builtins.print = print_to_log
    try:
        return body()
    finally:
        builtins.print = original_print
