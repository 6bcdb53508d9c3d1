"""The result store: writes values as Prefect 3 result records and reads them back.

Mirrors ``prefect.results.ResultStore`` (same method names, the same on-disk layouts and the same
key semantics) so files written here are read by real Prefect 3 and the other way round:

* one file per result, ``result_storage/<key>``, holding ``{"metadata": ..., "result": ...}``
  (layout "v3-record"), or, when ``metadata_storage`` is set, the bare serializer output at
  ``result_storage/<key>`` ("v3-raw") and the metadata JSON at ``metadata_storage/<key>``;
* ``metadata.storage_key`` is the key as resolved by the storage (an absolute path for an unsaved
  local storage) unless the storage is a saved block (``storage_block_id`` set), in which case it is
  the key relative to the block's base path.

Values are streamed to and from storage, so a large value is never held as several byte copies.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO
from uuid import uuid4

from apps.blocks.filesystems import LocalFileSystem, ObjectNotFoundError, WritableFileSystem

from .layout import LAYOUT_HEAD_BYTES, Layout, head_read
from .locking import LockManager, default_holder
from .records import RecordFormatError, ResultRecord, ResultRecordMetadata, expiration_parse
from .serializers import Serializer, serializer_from

DEFAULT_LOCAL_STORAGE_DIRNAME = ".results"
# Enough of a record's head to hold its metadata: serializer configs are small.
# Values whose stored form stays under this are serialized in memory and written in one call;
# larger ones are streamed to storage as they are produced.
SPOOL_LIMIT_BYTES = 1024 * 1024


class IsolationLevel(enum.StrEnum):
    READ_COMMITTED = "READ_COMMITTED"
    SERIALIZABLE = "SERIALIZABLE"


class ResultStoreError(Exception):
    """Base class of the errors the result store raises."""


class ResultNotFoundError(ResultStoreError, LookupError):
    def __init__(self, key: str, storage: object, detail: str = "") -> None:
        self.key = key
        message = f"no result record at key {key!r} in {storage!r}"
        super().__init__(f"{message}: {detail}" if detail else message)


class LockedByAnotherHolderError(ResultStoreError, RuntimeError):
    """Raised when writing a record whose key another holder has locked (Prefect raises RuntimeError)."""

    def __init__(self, key: str, holder: str) -> None:
        self.key = key
        self.holder = holder
        super().__init__(
            f"cannot write the result record with key {key!r}: it is locked by another holder "
            f"(this writer is {holder!r}); acquire the lock first or wait for it to be released"
        )


class LockManagerRequiredError(ResultStoreError):
    def __init__(self, operation: str) -> None:
        super().__init__(
            f"{operation} needs a lock manager, and this result store has none: "
            "create it with lock_manager=MemoryLockManager() (one process), "
            "FileSystemLockManager(dir) or RedisLockManager(url) (several processes)"
        )


def local_storage_default() -> LocalFileSystem:
    """The storage used when none is given: $RESULTS_LOCAL_STORAGE_PATH, else .results/ in the cwd."""
    path = os.environ.get("RESULTS_LOCAL_STORAGE_PATH") or str(Path.cwd() / DEFAULT_LOCAL_STORAGE_DIRNAME)
    return LocalFileSystem(basepath=path)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _is_expired(expiration: dt.datetime | None, *, now: dt.datetime | None = None) -> bool:
    if expiration is None:
        return False
    if expiration.tzinfo is None:
        # Prefect writes UTC ("...Z"); a naive value can only have meant UTC too.
        expiration = expiration.replace(tzinfo=dt.UTC)
    return expiration <= (now or _utc_now())


class _SpoolingWriter:
    """A write-only file that keeps what it is given in memory up to ``spool_limit`` bytes and
    only then opens a streaming write; a value that stays small is stored with one ``write_path``."""

    def __init__(self, storage: WritableFileSystem, key: str, *, spool_limit: int) -> None:
        self._storage = storage
        self._key = key
        self._spool_limit = spool_limit
        self._parts: list[bytes] = []
        self._spooled = 0
        self._streaming: contextlib.ExitStack | None = None
        self._stream: BinaryIO | None = None

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self._stream is not None:
            return self._stream.write(data)
        part = bytes(data)  # the caller may reuse its buffer
        self._parts.append(part)
        self._spooled += len(part)
        if self._spooled > self._spool_limit:
            self._streaming = contextlib.ExitStack()
            self._stream = self._streaming.enter_context(self._storage.open_write(self._key))
            parts, self._parts = self._parts, []
            for part in parts:
                self._stream.write(part)
        return len(part)

    def flush(self) -> None:
        pass

    def finish(self) -> None:
        if self._streaming is None:
            self._storage.write_path(self._key, b"".join(self._parts))
            self._parts = []
        else:
            self._streaming.close()

    def abort(self, error: BaseException) -> None:
        self._parts = []
        if self._streaming is not None:
            # The storage's own context manager discards its partial object.
            self._streaming.__exit__(type(error), error, error.__traceback__)


@contextlib.contextmanager
def storage_write_spooled(
    storage: WritableFileSystem, key: str, *, spool_limit: int = SPOOL_LIMIT_BYTES
) -> Iterator[BinaryIO]:
    """Write an object of unknown size: small ones in one ``write_path``, large ones streamed."""
    writer = _SpoolingWriter(storage, key, spool_limit=spool_limit)
    try:
        yield writer  # type: ignore[misc]
    except BaseException as error:
        writer.abort(error)
        raise
    writer.finish()


def _default_storage_key() -> str:
    return uuid4().hex


class ResultStore:
    """Manages the storage and retrieval of result records (the API of ``prefect.results.ResultStore``)."""

    def __init__(
        self,
        result_storage: WritableFileSystem | None = None,
        metadata_storage: WritableFileSystem | None = None,
        serializer: Serializer | str | dict = "pickle",
        storage_key_fn: Callable[[], str] = _default_storage_key,
        cache_result_in_memory: bool = True,
        persist_result: bool | None = None,
        lock_manager: LockManager | None = None,
        cache_size: int = 1000,
        storage_block_id: str | None = None,
    ) -> None:
        self.result_storage: WritableFileSystem = (
            result_storage if result_storage is not None else local_storage_default()
        )
        self.metadata_storage = metadata_storage
        self.serializer: Serializer = serializer_from(serializer)
        self.storage_key_fn = storage_key_fn
        self.cache_result_in_memory = cache_result_in_memory
        self.persist_result = persist_result
        self.lock_manager = lock_manager
        self.cache_size = cache_size
        self.storage_block_id = None if storage_block_id is None else str(storage_block_id)
        self._cache: OrderedDict[str, ResultRecord] = OrderedDict()
        self._cache_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"ResultStore(result_storage={self.result_storage!r}, "
            f"metadata_storage={self.metadata_storage!r}, "
            f"serializer={self.serializer!r}, storage_block_id={self.storage_block_id!r})"
        )

    # -- keys --------------------------------------------------------------------------------------

    @property
    def result_storage_block_id(self) -> str | None:
        return self.storage_block_id

    def _resolved_key(self, key: str) -> str:
        """The key as written into the metadata: resolved by the storage unless it is a saved block."""
        if self.storage_block_id is not None:
            return key
        return str(self.result_storage.resolve_path(key))

    def _base_key(self, storage_key: str) -> str:
        """The storage-relative key (what locks and split metadata files are named by)."""
        if self.storage_block_id is not None:
            return storage_key
        relative_key = getattr(self.result_storage, "relative_key", None)
        return storage_key if relative_key is None else relative_key(storage_key)

    # -- cache -------------------------------------------------------------------------------------

    def _cache_get(self, resolved_key: str) -> ResultRecord | None:
        with self._cache_lock:
            record = self._cache.get(resolved_key)
            if record is None:
                return None
            if _is_expired(record.metadata.expiration):
                del self._cache[resolved_key]
                return None
            self._cache.move_to_end(resolved_key)
            return record

    def _cache_put(self, resolved_key: str, record: ResultRecord) -> None:
        if not self.cache_result_in_memory or self.cache_size <= 0:
            return
        with self._cache_lock:
            self._cache[resolved_key] = record
            self._cache.move_to_end(resolved_key)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def cache_clear(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    # -- records -----------------------------------------------------------------------------------

    def create_result_record(
        self, obj: Any, key: str | None = None, expiration: dt.datetime | None = None
    ) -> ResultRecord:
        """Build (without writing) the record for ``obj`` under ``key`` or a fresh key."""
        storage_key = self._resolved_key(key or self.storage_key_fn())
        metadata = ResultRecordMetadata(
            storage_key=storage_key,
            expiration=expiration,
            serializer=self.serializer,
            storage_block_id=self.storage_block_id,
        )
        return ResultRecord(metadata=metadata, result=obj)

    def persist_result_record(self, result_record: ResultRecord, holder: str | None = None) -> None:
        """Write ``result_record`` to storage; refuses when another holder has locked its key."""
        storage_key = result_record.metadata.storage_key
        if storage_key is None:
            raise ResultStoreError(
                "the result record has no storage_key; create it with create_result_record()"
            )
        # Only locks and split metadata need the relative key; plain writes skip resolving it.
        needs_base_key = self.lock_manager is not None or self.metadata_storage is not None
        base_key = self._base_key(storage_key) if needs_base_key else storage_key
        if self.lock_manager is not None and self.lock_manager.is_locked(base_key):
            holder = holder or default_holder()
            if not self.lock_manager.is_lock_holder(base_key, holder):
                raise LockedByAnotherHolderError(base_key, holder)
        if self.metadata_storage is not None:
            serializer = result_record.metadata.serializer
            with storage_write_spooled(self.result_storage, storage_key) as stream:
                serializer.dump_to(result_record.result, stream)
            self.metadata_storage.write_path(base_key, result_record.metadata.dump_bytes())
        else:
            with storage_write_spooled(self.result_storage, storage_key) as stream:
                result_record.serialize_to(stream)
        # storage_key is already in resolved form, which is what the cache is keyed by.
        self._cache_put(storage_key, result_record)

    def write(
        self,
        obj: Any,
        key: str | None = None,
        expiration: dt.datetime | None = None,
        holder: str | None = None,
    ) -> ResultRecord:
        """Create the record for ``obj`` and persist it; returns the record."""
        record = self.create_result_record(obj, key=key, expiration=expiration)
        self.persist_result_record(record, holder=holder)
        return record

    def _cache_key(self, key: str) -> str:
        if self.storage_block_id is not None:
            return key
        return self._resolved_key(key)

    def read(self, key: str, holder: str | None = None) -> ResultRecord:
        """Read the record at ``key`` (waiting for another holder's lock first, like Prefect)."""
        if self.lock_manager is not None:
            holder = holder or default_holder()
            if not self.lock_manager.is_lock_holder(key, holder):
                self.lock_manager.wait_for_lock(key)
        cache_key = self._cache_key(key) if self.cache_result_in_memory else key
        if self.cache_result_in_memory:
            cached = self._cache_get(cache_key)
            if cached is not None:
                return cached
        try:
            if self.metadata_storage is not None:
                record = self._read_split(key)
            else:
                with self.result_storage.open_read(key) as stream:
                    record = ResultRecord.deserialize_from(stream, backup_serializer=self.serializer)
        except ObjectNotFoundError as error:
            raise ResultNotFoundError(key, self.result_storage, str(error)) from error
        self._cache_put(cache_key, record)
        return record

    def _read_split(self, key: str) -> ResultRecord:
        metadata = ResultRecordMetadata.load_bytes(self.metadata_storage.read_path(key))
        if metadata.storage_key is None:
            raise ResultStoreError(f"the metadata at key {key!r} names no storage_key for the result")
        serializer = metadata.serializer or self.serializer
        with self.result_storage.open_read(metadata.storage_key) as stream:
            return ResultRecord(metadata=metadata, result=serializer.load_from(stream))

    def exists(self, key: str) -> bool:
        """True when a record is stored at ``key`` and has not expired (Prefect's semantics)."""
        try:
            if self.metadata_storage is not None:
                metadata = ResultRecordMetadata.load_bytes(self.metadata_storage.read_path(key))
                return not _is_expired(metadata.expiration)
            head = self.result_storage.read_range(key, 0, LAYOUT_HEAD_BYTES)
        except ObjectNotFoundError:
            return False
        is_record, expiration = _record_head_state(head)
        return is_record and not _is_expired(expiration)

    # -- async -------------------------------------------------------------------------------------

    async def awrite(
        self,
        obj: Any,
        key: str | None = None,
        expiration: dt.datetime | None = None,
        holder: str | None = None,
    ) -> ResultRecord:
        holder = holder or default_holder()
        return await asyncio.to_thread(self.write, obj, key, expiration, holder)

    async def aread(self, key: str, holder: str | None = None) -> ResultRecord:
        holder = holder or default_holder()
        return await asyncio.to_thread(self.read, key, holder)

    async def aexists(self, key: str) -> bool:
        return await asyncio.to_thread(self.exists, key)

    async def apersist_result_record(self, result_record: ResultRecord, holder: str | None = None) -> None:
        # The holder is fixed here: in the worker thread default_holder() would name another thread.
        holder = holder or default_holder()
        await asyncio.to_thread(self.persist_result_record, result_record, holder)

    # -- locks -------------------------------------------------------------------------------------

    def supports_isolation_level(self, level: IsolationLevel | str) -> bool:
        level = IsolationLevel(level)
        if level is IsolationLevel.READ_COMMITTED:
            return True
        return self.lock_manager is not None

    def _require_lock_manager(self, operation: str) -> LockManager:
        if self.lock_manager is None:
            raise LockManagerRequiredError(operation)
        return self.lock_manager

    def acquire_lock(self, key: str, holder: str | None = None, timeout: float | None = None) -> bool:
        manager = self._require_lock_manager("acquire_lock")
        return manager.acquire_lock(key, holder or default_holder(), acquire_timeout=timeout)

    async def aacquire_lock(self, key: str, holder: str | None = None, timeout: float | None = None) -> bool:
        holder = holder or default_holder()
        return await asyncio.to_thread(self.acquire_lock, key, holder, timeout)

    def release_lock(self, key: str, holder: str | None = None) -> None:
        manager = self._require_lock_manager("release_lock")
        manager.release_lock(key, holder or default_holder())

    def is_locked(self, key: str) -> bool:
        return self._require_lock_manager("is_locked").is_locked(key)

    def is_lock_holder(self, key: str, holder: str | None = None) -> bool:
        manager = self._require_lock_manager("is_lock_holder")
        return manager.is_lock_holder(key, holder or default_holder())

    def wait_for_lock(self, key: str, timeout: float | None = None) -> bool:
        return self._require_lock_manager("wait_for_lock").wait_for_lock(key, timeout=timeout)

    async def await_for_lock(self, key: str, timeout: float | None = None) -> bool:
        return await asyncio.to_thread(self.wait_for_lock, key, timeout)

    generate_default_holder = staticmethod(default_holder)


def _record_head_state(head: bytes) -> tuple[bool, dt.datetime | None]:
    """(is a record Prefect can read, its expiration) judged from the first bytes of a stored file.

    Like Prefect's ``exists``: a v3 record counts with its expiration, a Prefect 2 blob counts and
    never expires, anything else (a raw payload, a metadata file, garbage) is no record.
    """
    result_head = head_read(head)
    if result_head.layout is Layout.V2_BLOB:
        return True, None
    if result_head.layout is not Layout.V3_RECORD:
        return False, None
    try:
        return True, expiration_parse((result_head.metadata or {}).get("expiration"))
    except RecordFormatError:
        return False, None


__all__ = [
    "DEFAULT_LOCAL_STORAGE_DIRNAME",
    "SPOOL_LIMIT_BYTES",
    "IsolationLevel",
    "LockManagerRequiredError",
    "LockedByAnotherHolderError",
    "ResultNotFoundError",
    "ResultStore",
    "ResultStoreError",
    "local_storage_default",
    "storage_write_spooled",
]
