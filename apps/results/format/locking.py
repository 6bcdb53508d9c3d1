"""Lock managers for result records, after Prefect 3's ``prefect.locking``.

A lock is named by a record key and held by a holder string (``default_holder()``: host, process,
thread). Only one holder at a time may write a record; others wait for it or give up.

- ``MemoryLockManager``: threads of one process (a per-process singleton, as in Prefect).
- ``FileSystemLockManager``: processes sharing a directory. Lock files are Prefect's own format,
  ``<lock dir>/<key>.lock`` holding ``{"holder":"...","expiration":"<UTC datetime>"|null}``, so
  Resultdeck and Prefect processes see each other's locks.
- ``RedisLockManager``: processes on any machine reaching one Redis.

``hold_timeout`` bounds how long a lock lives without being released: after it, another holder may
take the lock over. ``acquire_timeout`` bounds the wait; ``None`` waits indefinitely and ``0`` tries
once. This module is pure: it imports nothing from Django.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import socket
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

POLL_INTERVAL_SECONDS = 0.05
# A lock file is created empty and then filled; an empty one older than this belongs to a process
# that died in between and may be taken over.
EMPTY_LOCK_FILE_GRACE_SECONDS = 5.0


class LockError(ValueError):
    """A lock operation was refused (releasing a lock one does not hold, an unusable key)."""


def default_holder() -> str:
    """Prefect's default holder: ``host:pid:thread-id:thread-name``, unique per thread."""
    thread = threading.current_thread()
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}:{thread.name}"


def _deadline_from(timeout: float | None) -> float | None:
    if timeout is not None and timeout < 0:
        raise LockError(f"a timeout cannot be negative (got {timeout})")
    return None if timeout is None else time.monotonic() + timeout


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _hold_timeout_check(hold_timeout: float | None) -> None:
    if hold_timeout is not None and hold_timeout <= 0:
        raise LockError(f"hold_timeout must be positive (got {hold_timeout})")


class _Tries:
    """Tries ``attempt`` until it succeeds or the deadline passes; iterating gives the pauses between
    tries, which the sync and the async waits sleep each their own way."""

    def __init__(
        self,
        attempt: Callable[[], bool],
        *,
        deadline: float | None,
        sleep_time: Callable[[float | None], float],
    ) -> None:
        self.attempt, self.deadline, self.sleep_time = attempt, deadline, sleep_time
        self.succeeded = False

    def __iter__(self) -> Iterator[float]:
        while not self.attempt():
            remaining = _remaining(self.deadline)
            if remaining == 0:
                return
            yield self.sleep_time(remaining)
        self.succeeded = True


class LockManager(ABC):
    """The lock manager protocol (method names as in Prefect)."""

    poll_interval: float = POLL_INTERVAL_SECONDS

    @abstractmethod
    def _try_acquire(self, key: str, holder: str, hold_timeout: float | None) -> bool:
        """Take the lock if it is free, expired, or already ours (then refresh its expiry)."""

    @abstractmethod
    def release_lock(self, key: str, holder: str) -> None:
        """Release the lock; ``LockError`` if ``holder`` does not hold it."""

    @abstractmethod
    def is_locked(self, key: str) -> bool:
        """Whether some holder holds an unexpired lock on ``key``."""

    @abstractmethod
    def is_lock_holder(self, key: str, holder: str) -> bool:
        """Whether ``holder`` holds an unexpired lock on ``key``."""

    def _sleep_time(self, remaining: float | None) -> float:
        return self.poll_interval if remaining is None else min(self.poll_interval, remaining)

    def acquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        """Take the lock, waiting up to ``acquire_timeout`` seconds; True if it is now held by ``holder``.

        Acquiring a lock one already holds succeeds and restarts its ``hold_timeout``.
        """
        _hold_timeout_check(hold_timeout)
        tries = self._tries(lambda: self._try_acquire(key, holder, hold_timeout), acquire_timeout)
        for pause in tries:
            time.sleep(pause)
        return tries.succeeded

    async def aacquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        _hold_timeout_check(hold_timeout)
        tries = self._tries(lambda: self._try_acquire(key, holder, hold_timeout), acquire_timeout)
        for pause in tries:
            await asyncio.sleep(pause)
        return tries.succeeded

    def _tries(self, attempt: Callable[[], bool], timeout: float | None) -> _Tries:
        return _Tries(attempt, deadline=_deadline_from(timeout), sleep_time=self._sleep_time)

    def wait_for_lock(self, key: str, timeout: float | None = None) -> bool:
        """Wait until ``key`` is free (released or expired); False if ``timeout`` passes first."""
        tries = self._tries(lambda: not self.is_locked(key), timeout)
        for pause in tries:
            time.sleep(pause)
        return tries.succeeded

    async def await_for_lock(self, key: str, timeout: float | None = None) -> bool:
        tries = self._tries(lambda: not self.is_locked(key), timeout)
        for pause in tries:
            await asyncio.sleep(pause)
        return tries.succeeded

    @contextlib.contextmanager
    def lock(
        self,
        key: str,
        holder: str | None = None,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> Iterator[str]:
        """Hold the lock for the duration of a ``with`` block; ``LockError`` if it cannot be had in time."""
        holder = holder or default_holder()
        if not self.acquire_lock(key, holder, acquire_timeout=acquire_timeout, hold_timeout=hold_timeout):
            raise LockError(f"could not acquire the lock on {key!r} within {acquire_timeout} s")
        try:
            yield holder
        finally:
            if self.is_lock_holder(key, holder):
                self.release_lock(key, holder)

    @contextlib.asynccontextmanager
    async def alock(
        self,
        key: str,
        holder: str | None = None,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> AsyncIterator[str]:
        holder = holder or default_holder()
        acquired = await self.aacquire_lock(
            key, holder, acquire_timeout=acquire_timeout, hold_timeout=hold_timeout
        )
        if not acquired:
            raise LockError(f"could not acquire the lock on {key!r} within {acquire_timeout} s")
        try:
            yield holder
        finally:
            if self.is_lock_holder(key, holder):
                self.release_lock(key, holder)


def _release_refusal(key: str, holder: str, current_holder: str | None) -> LockError:
    if current_holder is None:
        return LockError(f"cannot release the lock on {key!r}: no one holds it (it may have expired)")
    return LockError(f"cannot release the lock on {key!r}: it is held by {current_holder!r}, not {holder!r}")


# --------------------------------------------------------------------------------------------------
# Threads of one process


@dataclass
class _HeldLock:
    holder: str
    expires_at: float | None  # time.monotonic() deadline


class MemoryLockManager(LockManager):
    """Locks between the threads of one process. Every instantiation returns the same manager."""

    _instance: MemoryLockManager | None = None
    _instance_lock = threading.Lock()

    def __new__(cls) -> MemoryLockManager:
        with cls._instance_lock:
            if cls._instance is None:
                instance = super().__new__(cls)
                instance._condition = threading.Condition()
                instance._locks = {}
                cls._instance = instance
        return cls._instance

    _condition: threading.Condition
    _locks: dict[str, _HeldLock]

    def _current(self, key: str) -> _HeldLock | None:
        held = self._locks.get(key)
        if held is not None and held.expires_at is not None and held.expires_at <= time.monotonic():
            del self._locks[key]
            self._condition.notify_all()
            return None
        return held

    def _try_acquire(self, key: str, holder: str, hold_timeout: float | None) -> bool:
        with self._condition:
            held = self._current(key)
            if held is not None and held.holder != holder:
                return False
            expires_at = None if hold_timeout is None else time.monotonic() + hold_timeout
            self._locks[key] = _HeldLock(holder=holder, expires_at=expires_at)
            return True

    def acquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        _hold_timeout_check(hold_timeout)
        deadline = _deadline_from(acquire_timeout)
        with self._condition:
            while not self._try_acquire(key, holder, hold_timeout):
                remaining = _remaining(deadline)
                if remaining == 0:
                    return False
                self._condition.wait(self._wait_time(key, remaining))
            return True

    def _wait_time(self, key: str, remaining: float | None) -> float | None:
        # Wake up when the current lock expires even if nobody releases it.
        held = self._locks.get(key)
        until_expiry = None if held is None or held.expires_at is None else held.expires_at - time.monotonic()
        candidates = [value for value in (remaining, until_expiry) if value is not None]
        return max(0.0, min(candidates)) if candidates else None

    def release_lock(self, key: str, holder: str) -> None:
        with self._condition:
            held = self._current(key)
            if held is None or held.holder != holder:
                raise _release_refusal(key, holder, held.holder if held else None)
            del self._locks[key]
            self._condition.notify_all()

    def is_locked(self, key: str) -> bool:
        with self._condition:
            return self._current(key) is not None

    def is_lock_holder(self, key: str, holder: str) -> bool:
        with self._condition:
            held = self._current(key)
            return held is not None and held.holder == holder

    def wait_for_lock(self, key: str, timeout: float | None = None) -> bool:
        deadline = _deadline_from(timeout)
        with self._condition:
            while self._current(key) is not None:
                remaining = _remaining(deadline)
                if remaining == 0:
                    return False
                self._condition.wait(self._wait_time(key, remaining))
            return True


# --------------------------------------------------------------------------------------------------
# Processes sharing a directory


@dataclass(frozen=True)
class LockFileInfo:
    holder: str | None  # None while the creating process has not written the file yet
    expiration: datetime | None
    path: Path

    def is_expired(self, now: datetime) -> bool:
        return self.expiration is not None and self.expiration < now


def lock_file_content(*, holder: str, expiration: datetime | None) -> bytes:
    """The bytes Prefect writes: compact JSON, expiration as ``str()`` of an aware UTC datetime."""
    document = {"holder": holder, "expiration": str(expiration) if expiration is not None else None}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def lock_file_expiration_parse(value: Any) -> datetime | None:
    """Read an expiration as Prefect writes it (``2024-05-01 12:00:00.5+00:00`` or ISO ``T``/``Z`` forms)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"expiration must be a string or null, not {type(value).__name__}")
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


class FileSystemLockManager(LockManager):
    """Locks shared by processes through files in ``lock_files_directory`` (Prefect's format).

    A lock is taken by creating its file with ``O_CREAT | O_EXCL``, which exactly one process can
    do. Taking over an expired lock, refreshing and releasing happen under an advisory ``flock`` on
    one guard file, so two processes never remove each other's fresh lock.
    """

    guard_file_name = ".resultdeck-locks.guard"

    def __init__(self, lock_files_directory: Path | str) -> None:
        self.lock_files_directory = Path(lock_files_directory).expanduser().resolve()

    def lock_path(self, key: str) -> Path:
        """The lock file for ``key``, named as Prefect names it: ``<dir>/<key>`` with suffix ``.lock``."""
        if not isinstance(key, str) or not key or "\x00" in key:
            raise LockError(f"lock key {key!r} is not a usable name")
        parts = key.split("/")
        if key.startswith("/") or any(part in ("", ".", "..") for part in parts):
            raise LockError(f"lock key {key!r} would place its lock file outside {self.lock_files_directory}")
        try:
            return self.lock_files_directory.joinpath(key).with_suffix(".lock")
        except ValueError as exc:
            raise LockError(f"lock key {key!r} is not a usable file name: {exc}") from exc

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        import fcntl

        self.lock_files_directory.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.lock_files_directory / self.guard_file_name, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # closing releases the flock

    def read_lock_file(self, key: str) -> LockFileInfo | None:
        """The lock file's content, or None if there is no lock file."""
        path = self.lock_path(key)
        try:
            content = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not content.strip():
            modified = _file_modified(path)
            if modified is None:
                return None
            # Being written right now: held until the grace period has passed, then expired.
            expiration = modified + timedelta(seconds=EMPTY_LOCK_FILE_GRACE_SECONDS)
            return LockFileInfo(holder=None, expiration=expiration, path=path)
        try:
            document = json.loads(content)
            holder = document["holder"]
            expiration = lock_file_expiration_parse(document.get("expiration"))
        except (ValueError, KeyError, TypeError) as exc:
            raise LockError(
                f"lock file {path} is not a valid lock file ({exc}); remove it if no one holds it"
            ) from exc
        return LockFileInfo(holder=str(holder), expiration=expiration, path=path)

    def _live_lock(self, key: str) -> LockFileInfo | None:
        info = self.read_lock_file(key)
        if info is None or info.is_expired(datetime.now(UTC)):
            return None
        return info

    def _try_acquire(self, key: str, holder: str, hold_timeout: float | None) -> bool:
        path = self.lock_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        info = self.read_lock_file(key)
        if info is not None:
            if info.holder == holder and not info.is_expired(datetime.now(UTC)):
                with self._guard():
                    if self.read_lock_file(key) == info:
                        self._lock_file_replace(path, holder, hold_timeout)
                        return True
                return False
            if not info.is_expired(datetime.now(UTC)):
                return False
            with self._guard():
                # Another process may have taken it over meanwhile: remove only the expired lock we saw.
                if self.read_lock_file(key) == info:
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
        content = lock_file_content(holder=holder, expiration=_expiration_after(hold_timeout))
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            return False
        try:
            os.write(descriptor, content)
        finally:
            os.close(descriptor)
        return True

    def _lock_file_replace(self, path: Path, holder: str, hold_timeout: float | None) -> None:
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
        temporary.write_bytes(lock_file_content(holder=holder, expiration=_expiration_after(hold_timeout)))
        os.replace(temporary, path)

    def release_lock(self, key: str, holder: str) -> None:
        path = self.lock_path(key)
        with self._guard():
            info = self._live_lock(key)
            if info is None or info.holder != holder:
                raise _release_refusal(key, holder, info.holder if info else None)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def is_locked(self, key: str) -> bool:
        return self._live_lock(key) is not None

    def is_lock_holder(self, key: str, holder: str) -> bool:
        info = self._live_lock(key)
        return info is not None and info.holder == holder


def _expiration_after(hold_timeout: float | None) -> datetime | None:
    return None if hold_timeout is None else datetime.now(UTC) + timedelta(seconds=hold_timeout)


def _file_modified(path: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise


# --------------------------------------------------------------------------------------------------
# Processes sharing a Redis

_REFRESH_IF_HOLDER = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return 0
end
if ARGV[2] == '' then
    redis.call('PERSIST', KEYS[1])
else
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
"""

_DELETE_IF_HOLDER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLockManager(LockManager):
    """Locks shared through Redis: ``SET key holder NX PX <ms>``; release is a compare-and-delete in Lua."""

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = "resultdeck:lock:",
        socket_timeout: float = 5.0,
        client: Any = None,
    ) -> None:
        import redis

        self.url = url
        self.key_prefix = key_prefix
        self.client = client or redis.Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout, decode_responses=True
        )
        self._refresh_if_holder = self.client.register_script(_REFRESH_IF_HOLDER)
        self._delete_if_holder = self.client.register_script(_DELETE_IF_HOLDER)

    def _redis_key(self, key: str) -> str:
        if not isinstance(key, str) or not key:
            raise LockError(f"lock key {key!r} is not a usable name")
        return self.key_prefix + key

    def _try_acquire(self, key: str, holder: str, hold_timeout: float | None) -> bool:
        redis_key = self._redis_key(key)
        milliseconds = None if hold_timeout is None else max(1, round(hold_timeout * 1000))
        if self.client.set(redis_key, holder, nx=True, px=milliseconds):
            return True
        refreshed = self._refresh_if_holder(keys=[redis_key], args=[holder, milliseconds or ""])
        return bool(refreshed)

    def release_lock(self, key: str, holder: str) -> None:
        redis_key = self._redis_key(key)
        if not self._delete_if_holder(keys=[redis_key], args=[holder]):
            raise _release_refusal(key, holder, self.client.get(redis_key))

    def is_locked(self, key: str) -> bool:
        return bool(self.client.exists(self._redis_key(key)))

    def is_lock_holder(self, key: str, holder: str) -> bool:
        return self.client.get(self._redis_key(key)) == holder

    def close(self) -> None:
        self.client.close()


__all__ = [
    "EMPTY_LOCK_FILE_GRACE_SECONDS",
    "POLL_INTERVAL_SECONDS",
    "FileSystemLockManager",
    "LockError",
    "LockFileInfo",
    "LockManager",
    "MemoryLockManager",
    "RedisLockManager",
    "default_holder",
    "lock_file_content",
    "lock_file_expiration_parse",
]
