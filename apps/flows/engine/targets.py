"""Where results go: the resolved storage and serializer of a run (a target), and writing to it."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from apps.flows.engine.ids import storage_key_random
from apps.flows.rules import ConfigurationError, storage_spec_kind
from apps.results.references import (
    PendingReference,
    reference_from_record,
    reference_literal,
    storage_relative_key,
    value_is_literal,
)
from apps.results.resolve import ResultTargetError, lock_manager_default, serializer_resolve, storage_resolve
from apps.results.store import ResultStore

logger = logging.getLogger("apps.flows")

SHARED_TARGET_SECONDS = 30.0
# storage_spec_kind's answer -> the argument of storage_resolve that takes such a value.
STORAGE_ARGUMENTS = {"block-slug": "block_slug", "url": "url", "path": "path", "filesystem": "filesystem"}


@dataclass
class ResultTarget:
    """A resolved storage and serializer, with the store that writes to them.

    ``store`` has no lock manager: a fresh random key needs no lock, and asking one on every write
    would cost a round trip. ``locking_store`` (same storage) serves cache keys, which do.
    """

    storage: Any
    block_id: Any
    store: Any

    @functools.cached_property
    def serializer_config(self) -> dict:
        return self.store.serializer.to_config()

    def relative_key(self, key: str) -> str:
        return storage_relative_key(self.storage, key)

    @functools.cached_property
    def local_root(self) -> str | None:
        """The directory of a local storage (its results are stat'ed directly), else None."""
        return str(self.storage.root) if type(self.storage).__name__ == "LocalFileSystem" else None

    def size_of(self, relative_key: str) -> int:
        if self.local_root is not None:
            # A fresh key was checked by the store's write; stat it directly.
            return os.stat(os.path.join(self.local_root, relative_key)).st_size
        return self.storage.size(relative_key)

    @functools.cached_property
    def locking_store(self) -> Any:
        return ResultStore(
            result_storage=self.storage,
            serializer=self.store.serializer,
            lock_manager=lock_manager_default(),
            storage_block_id=self.store.storage_block_id,
            cache_result_in_memory=False,
        )


def target_build(*, storage_spec: Any, serializer_spec: Any) -> ResultTarget:
    """The target for a ``result_storage`` and ``result_serializer`` value (None: the defaults)."""
    kind = storage_spec_kind(storage_spec)
    arguments = {} if kind == "none" else {STORAGE_ARGUMENTS[kind]: storage_spec}
    try:
        storage, block_id = storage_resolve(**arguments)
    except ResultTargetError as exc:
        raise ConfigurationError(f"result_storage={storage_spec!r}: {exc}") from exc
    try:
        serializer = serializer_resolve(spec=serializer_spec)
    except ResultTargetError as exc:
        raise ConfigurationError(f"result_serializer={exc}") from None
    store = ResultStore(
        result_storage=storage,
        serializer=serializer,
        storage_key_fn=storage_key_random,
        storage_block_id=None if block_id is None else str(block_id),
        # The engine keeps values in memory itself; the store's cache would only duplicate them.
        cache_result_in_memory=False,
    )
    return ResultTarget(storage=storage, block_id=block_id, store=store)


_shared_targets: dict[Any, tuple[float, ResultTarget]] = {}
_shared_targets_guard = threading.Lock()


def target_shared(*, storage_spec: Any, serializer_spec: Any) -> ResultTarget:
    """A target reused across runs of this process for named specs (None, slugs, paths, type names).

    A worker runs thousands of small flows; resolving a block slug costs a query each time. A block
    edited in the dashboard is picked up within SHARED_TARGET_SECONDS.
    """
    if not all(spec is None or isinstance(spec, str) for spec in (storage_spec, serializer_spec)):
        return target_build(storage_spec=storage_spec, serializer_spec=serializer_spec)
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


def targets_shared_clear() -> None:
    """Forget the shared targets (the settings they were resolved with have changed)."""
    with _shared_targets_guard:
        _shared_targets.clear()


def result_persist(
    value: Any,
    *,
    target: ResultTarget,
    key: str | None,
    expiration: dt.datetime | None = None,
    cache_key: str = "",
    holder: str | None = None,
) -> PendingReference:
    """Write ``value`` (or keep it as a literal); returns its reference, not saved yet."""
    if value_is_literal(value) and not cache_key and not key:
        return PendingReference(reference_literal(value))
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
    return PendingReference(reference, fresh_key=not key)
