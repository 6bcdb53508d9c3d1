"""Storage filesystems: where result bytes live.

The classes carry the names of Prefect's storage blocks (``LocalFileSystem``, ``RemoteFileSystem``,
``S3``) and their core methods (``read_path``, ``write_path``, ``basepath``/``bucket_path``), so code
written against Prefect works unchanged. On top of that they offer what a result browser needs:
streaming reads and writes, range reads for previews, listing, batched deletion for purges, a
connection probe, and errors a user can act on.

This module is pure: it imports nothing from Django. Persisting a configured filesystem (Prefect's
``.save(name)`` / ``.load(name)``) belongs to the database layer; it can rebuild an instance from
``settings(include_secrets=True)`` through ``filesystem_from_settings``.

Keys are relative to the filesystem's base path. A key may also be an absolute path (local) or a
URL (remote, S3) as long as it points inside the base path; anything that would escape it is
refused with ``UnsafeKeyError`` before any I/O happens.
"""

from __future__ import annotations

import contextlib
import errno
import io
import itertools
import os
import re
import threading
import urllib.parse
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

SECRET_MASK = "**********"  # noqa: S105 - the placeholder shown instead of a secret
PROBE_KEY_PREFIX = ".resultdeck-probe-"
# Temporary files of in-flight local writes carry this suffix so listings skip them and a
# sweeper can recognise leftovers of a process that was killed mid-write.
TEMP_FILE_SUFFIX = ".resultdeck-tmp"
S3_MAX_DELETE_BATCH = 1000
S3_MULTIPART_PART_SIZE = 8 * 1024 * 1024  # S3 parts must be >= 5 MiB except the last one


# --------------------------------------------------------------------------------------------------
# Errors


class StorageError(Exception):
    """A storage operation failed; the message says what to check."""


class UnsafeKeyError(StorageError, ValueError):
    """The key would reach outside the filesystem's base path (or is malformed)."""


class ObjectNotFoundError(StorageError, FileNotFoundError):
    """No object is stored under the key."""


class AccessDeniedError(StorageError):
    """The storage rejected the credentials or forbids the operation."""


class BucketNotFoundError(StorageError):
    """The bucket named in the settings does not exist."""


class EndpointUnreachableError(StorageError):
    """The storage endpoint could not be reached (refused, timed out, DNS failure)."""


class NotWritableError(StorageError):
    """The base path cannot be written to."""


class InvalidSettingsError(StorageError, ValueError):
    """The filesystem's settings are unusable (bad bucket name, missing credentials, bad URL)."""


# --------------------------------------------------------------------------------------------------
# Data returned by the filesystems


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object, as listed. ``key`` is relative to the base path and can be read back."""

    key: str
    size: int
    modified: datetime | None


@dataclass
class DeleteReport:
    """Outcome of a batched delete, keyed by the paths the caller passed in."""

    deleted: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# Keys


# Already canonical: segments separated by single slashes, none empty, '.', '..' or holding NUL.
_CANONICAL_KEY = re.compile(r"(?!\.\.?(?:/|\Z))[^/\x00]+(?:/(?!\.\.?(?:/|\Z))[^/\x00]+)*")


def key_normalize(key: str) -> str:
    """The canonical relative form of ``key``: ``/``-separated, no empty or ``.`` segments.

    Refuses ``..`` segments, NUL bytes and keys that name nothing. A key returned by ``list()`` is
    already canonical, so it round-trips unchanged.
    """
    if type(key) is str and _CANONICAL_KEY.fullmatch(key):
        return key
    if not isinstance(key, str):
        raise UnsafeKeyError(f"a storage key must be a string, not {type(key).__name__}")
    if "\x00" in key:
        raise UnsafeKeyError(f"storage key {key!r} contains a NUL byte")
    parts = [part for part in key.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeKeyError(f"storage key {key!r} contains '..', which could reach outside the base path")
    if not parts:
        raise UnsafeKeyError(f"storage key {key!r} is empty: it names no object")
    return "/".join(parts)


def key_prefix_normalize(prefix: str) -> str:
    """Like ``key_normalize`` for listing prefixes: empty is allowed, a trailing ``/`` is kept."""
    if prefix in ("", "/", "."):
        return ""
    trailing_slash = prefix.endswith("/")
    normalized = key_normalize(prefix)
    return normalized + "/" if trailing_slash else normalized


def secret_mask_leaves(value: Any) -> Any:
    """``value`` with every leaf replaced by ``SECRET_MASK``: what is set shows, never a value."""
    if isinstance(value, dict):
        return {name: secret_mask_leaves(item) for name, item in value.items()}
    return SECRET_MASK


# --------------------------------------------------------------------------------------------------
# Mapping backend errors to StorageError

_ACCESS_DENIED_CODES = {
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "AccessDenied",
    "InvalidToken",
    "ExpiredToken",
    "InvalidClientTokenId",
    "AllAccessDisabled",
    "403",
    "Forbidden",
}
_NOT_FOUND_CODES = {"NoSuchKey", "404", "NotFound", "NoSuchUpload"}
ACCESS_DENIED_MESSAGE = "access denied: the credentials were rejected (check the access key and secret)"


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _client_error_code(exc: BaseException) -> tuple[str, str] | None:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict) or "Error" not in response:
        return None
    error = response.get("Error") or {}
    return str(error.get("Code", "")), str(error.get("Message", ""))


def storage_error_from_exception(
    exc: BaseException,
    *,
    location: str,
    endpoint: str,
    bucket: str | None = None,
    timeout: float | None = None,
) -> StorageError:
    """Translate a botocore, s3fs/aiohttp or OS error into the matching ``StorageError``.

    ``location`` names the object (for "not found"), ``endpoint`` the server (for "unreachable").
    """
    from botocore import exceptions as botocore_errors

    for cause in _exception_chain(exc):
        if isinstance(cause, StorageError):
            return cause
        if isinstance(cause, botocore_errors.ConnectTimeoutError | botocore_errors.ReadTimeoutError):
            return EndpointUnreachableError(f"could not reach {endpoint}: {_timed_out(timeout)}")
        if isinstance(cause, botocore_errors.EndpointConnectionError):
            return EndpointUnreachableError(f"could not reach {endpoint}: the connection failed ({cause})")
        if isinstance(cause, botocore_errors.NoCredentialsError):
            return AccessDeniedError(
                "access denied: no credentials were found (give an access key and secret, or configure "
                "credentials in the environment)"
            )
        code_and_message = _client_error_code(cause)
        if code_and_message is not None:
            code, message = code_and_message
            if code in _ACCESS_DENIED_CODES:
                return AccessDeniedError(
                    f"{ACCESS_DENIED_MESSAGE}; {endpoint} answered {code} for {location}"
                )
            if code == "NoSuchBucket":
                return BucketNotFoundError(_bucket_missing_message(bucket, endpoint))
            if code in _NOT_FOUND_CODES:
                return ObjectNotFoundError(f"no stored object at {location}")
            return StorageError(f"storage request for {location} failed: {code}: {message}")
    for cause in _exception_chain(exc):
        if isinstance(cause, ConnectionRefusedError):
            return EndpointUnreachableError(f"could not reach {endpoint}: connection refused")
        if isinstance(cause, TimeoutError) or type(cause).__name__ in {
            "FSTimeoutError",
            "ServerTimeoutError",
        }:
            return EndpointUnreachableError(f"could not reach {endpoint}: {_timed_out(timeout)}")
        if type(cause).__name__ in {"ClientConnectorError", "ClientConnectionError"}:
            return EndpointUnreachableError(f"could not reach {endpoint}: {cause}")
    if isinstance(exc, PermissionError):
        return AccessDeniedError(f"{ACCESS_DENIED_MESSAGE}; {endpoint} refused access to {location}")
    if isinstance(exc, FileNotFoundError):
        if "bucket does not exist" in str(exc).lower():
            return BucketNotFoundError(_bucket_missing_message(bucket, endpoint))
        return ObjectNotFoundError(f"no stored object at {location}")
    if isinstance(exc, IsADirectoryError):
        return StorageError(f"{location} is a directory, not a stored object")
    return StorageError(f"storage request for {location} failed: {type(exc).__name__}: {exc}")


def _bucket_missing_message(bucket: str | None, endpoint: str) -> str:
    return f"bucket {bucket or '?'!r} does not exist at {endpoint}: create it or fix the bucket name"


def _timed_out(timeout: float | None) -> str:
    return f"timed out after {timeout:g} s" if timeout is not None else "timed out"


# --------------------------------------------------------------------------------------------------
# The common interface


class WritableFileSystem(ABC):
    """A place that stores bytes under keys. Subclasses: ``LocalFileSystem``, ``RemoteFileSystem``, ``S3``."""

    block_type_slug: ClassVar[str]
    secret_fields: ClassVar[tuple[str, ...]] = ()

    # Identity of a saved configuration, set by the database layer when it loads or saves one.
    _block_document_id: Any = None
    _block_document_name: str | None = None

    # -- core, Prefect-compatible --
    @abstractmethod
    def read_path(self, path: str) -> bytes:
        """The whole object at ``path``; ``ObjectNotFoundError`` if there is none."""

    @abstractmethod
    def write_path(self, path: str, content: bytes) -> str:
        """Store ``content`` at ``path`` (replacing any object there); returns the resolved path/URI."""

    # -- streaming --
    @abstractmethod
    def open_read(self, path: str) -> BinaryIO:
        """A binary file positioned at 0; seekable where the backend allows. Close it after use."""

    @abstractmethod
    def open_write(self, path: str) -> contextlib.AbstractContextManager[BinaryIO]:
        """A context manager yielding a binary file; the object appears only when the block exits cleanly."""

    @abstractmethod
    def read_range(self, path: str, start: int, end: int) -> bytes:
        """Bytes ``start`` up to (not including) ``end``; shorter if the object ends first."""

    # -- inspection and deletion --
    @abstractmethod
    def exists(self, path: str) -> bool: ...

    @abstractmethod
    def size(self, path: str) -> int: ...

    @abstractmethod
    def delete(self, path: str) -> bool:
        """Remove the object; False if it was already gone."""

    def delete_many(self, paths: Iterable[str], *, batch_size: int = 1000) -> DeleteReport:
        """Remove many objects, tolerating ones already gone; per-key problems land in ``errors``."""
        report = DeleteReport()
        for path in paths:
            try:
                if self.delete(path):
                    report.deleted.append(path)
                else:
                    report.missing.append(path)
            except (UnsafeKeyError, ObjectNotFoundError, NotWritableError) as exc:
                report.errors[path] = str(exc)
            except StorageError as exc:
                if isinstance(exc, AccessDeniedError | EndpointUnreachableError | BucketNotFoundError):
                    raise
                report.errors[path] = str(exc)
        return report

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, recursively, produced as it is found."""

    # -- naming --
    @abstractmethod
    def resolve_path(self, path: str) -> str:
        """The absolute local path or full URI of the object at ``path`` (validated, not touched)."""

    def uri(self, path: str) -> str:
        """How to show the object's location to a person."""
        return self.resolve_path(path)

    @property
    @abstractmethod
    def location(self) -> str:
        """The base path or URL, for messages."""

    # -- health --
    def test_connection(self, *, timeout: float = 5.0) -> None:
        """Write, read back and delete a probe object; raise the matching ``StorageError`` if that fails."""
        probe_key = f"{PROBE_KEY_PREFIX}{uuid.uuid4().hex}"
        outcome: dict[str, BaseException | None] = {}

        def run_probe() -> None:
            try:
                self._probe(probe_key, timeout=timeout)
                outcome["error"] = None
            except BaseException as exc:
                outcome["error"] = exc

        # A thread bounds the whole probe by the timeout even where the backend has no timeout of its own.
        worker = threading.Thread(target=run_probe, name="storage-probe", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            raise EndpointUnreachableError(f"could not reach {self.location}: {_timed_out(timeout)}")
        error = outcome.get("error")
        if error is None:
            return
        if isinstance(error, StorageError):
            raise error
        raise self._error_from(error, location=self.uri(probe_key), timeout=timeout) from error

    def _probe(self, probe_key: str, *, timeout: float) -> None:
        payload = b"resultdeck storage probe " + probe_key.encode()
        self.write_path(probe_key, payload)
        try:
            if self.read_path(probe_key) != payload:
                raise StorageError(
                    f"the probe object written to {self.uri(probe_key)} read back different bytes"
                )
        finally:
            self.delete(probe_key)

    def _error_from(self, exc: BaseException, *, location: str, timeout: float | None = None) -> StorageError:
        return storage_error_from_exception(exc, location=location, endpoint=self.location, timeout=timeout)

    # -- configuration --
    @abstractmethod
    def settings(self, *, include_secrets: bool = False) -> dict[str, Any]:
        """Constructor arguments; secrets replaced by ``SECRET_MASK`` unless asked for."""

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> WritableFileSystem:
        return cls(**settings)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.settings().items())
        return f"{type(self).__name__}({shown})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.settings(include_secrets=True) == other.settings(include_secrets=True)  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    def dict(self) -> dict[str, Any]:
        """Prefect-style view of the configuration, secrets masked."""
        return {**self.settings(include_secrets=False), "block_type_slug": self.block_type_slug}

    def save(self, name: str, overwrite: bool = False):
        """Save these settings as a storage block named `name`; code then uses "TYPE/name"."""
        from apps.blocks.sdk import filesystem_save

        return filesystem_save(self, name, overwrite)

    @classmethod
    def load(cls, name: str) -> WritableFileSystem:
        """A saved block by name (on a concrete class) or by slug ("s3/demo", on Block)."""
        from apps.blocks.sdk import filesystem_load

        return filesystem_load(None if cls is WritableFileSystem else cls, name)


# Prefect's name for the base class: `Block.load("s3/demo")`.
Block = WritableFileSystem


def _read_range_check(start: int, end: int) -> None:
    if start < 0 or end < start:
        raise ValueError(f"a range read needs 0 <= start <= end, got start={start} end={end}")


# --------------------------------------------------------------------------------------------------
# Local files


_TEMP_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_UNNAMED_TEMP_FLAGS = (
    os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC
    if hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd")
    else None
)
# open(O_TMPFILE) fails with these where the kernel or the filesystem lacks unnamed temp files.
_NO_UNNAMED_TEMP_ERRNOS = frozenset({errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOTSUP})
_temp_counter = itertools.count()
_process_id = os.getpid()


def _process_id_refresh() -> None:
    global _process_id
    _process_id = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_process_id_refresh)


def _descriptor_write_all(descriptor: int, content: bytes) -> None:
    view = memoryview(content).cast("B")
    while view:
        view = view[os.write(descriptor, view) :]


def _temp_file_name(name: str) -> str:
    """A temporary name no other writer uses now: process, thread and a per-process counter."""
    return f".{name}.{_process_id}-{threading.get_ident()}-{next(_temp_counter)}{TEMP_FILE_SUFFIX}"


class LocalFileSystem(WritableFileSystem):
    """Files under a local directory (``basepath``; default: the current directory at each call)."""

    block_type_slug: ClassVar[str] = "local-file-system"

    def __init__(self, basepath: str | Path | None = None) -> None:
        self.basepath: str | None = str(basepath) if basepath is not None else None
        self._root_cache: Path | None = None
        self._root_text_cache: str | None = None
        # Directories this instance has created or found: a write into one skips mkdir. A directory
        # removed behind our back shows up as FileNotFoundError when the temp file is created.
        self._known_directories: set[str] = set()
        self._unnamed_temp_files = _UNNAMED_TEMP_FLAGS is not None

    @property
    def root(self) -> Path:
        """The resolved base directory."""
        if self.basepath is None:
            return Path.cwd().resolve()
        if self._root_cache is None:
            self._root_cache = Path(self.basepath).expanduser().resolve()
        return self._root_cache

    def _root_text(self) -> str:
        if self.basepath is None:
            return str(self.root)
        if self._root_text_cache is None:
            self._root_text_cache = str(self.root)
        return self._root_text_cache

    @property
    def location(self) -> str:
        return str(self.root)

    def relative_key(self, path: str | Path) -> str:
        """The canonical key for ``path``, which may be relative or an absolute path inside the base path."""
        path = os.fspath(path)
        root_text = self._root_text()
        if path.startswith(root_text) and path[len(root_text) : len(root_text) + 1] == os.sep:
            # A key this filesystem resolved itself: the rest is the key ('..' and NUL refused there).
            return key_normalize(path[len(root_text) + 1 :].replace(os.sep, "/"))
        if "\x00" in path:
            raise UnsafeKeyError(f"storage key {path!r} contains a NUL byte")
        expanded = os.path.expanduser(path) if path.startswith("~") else path
        if not os.path.isabs(expanded):
            return key_normalize(expanded)
        if ".." in expanded.split(os.sep):
            raise UnsafeKeyError(
                f"storage key {path!r} contains '..', which could reach outside the base path"
            )
        candidate = os.path.normpath(expanded)
        bases = [root_text]
        if self.basepath is not None:
            bases.append(os.path.normpath(os.path.abspath(os.path.expanduser(self.basepath))))
        relative = _path_relative_to_any(candidate, bases)
        if relative is None:
            # The key may reach the base path through a symlinked directory: compare real locations.
            real_parent = Path(candidate).parent.resolve()
            relative = _path_relative_to_any(str(real_parent / Path(candidate).name), bases)
        if relative is None:
            raise UnsafeKeyError(f"path {path!r} is outside the storage base path {root_text}")
        return key_normalize(relative.replace(os.sep, "/"))

    def _file_path(self, path: str | Path) -> Path:
        return self.root / self.relative_key(path)

    def _file_path_text(self, path: str | Path) -> str:
        return os.path.join(self._root_text(), self.relative_key(path))

    def resolve_path(self, path: str) -> str:
        return self._file_path_text(path)

    # -- reading --
    def read_path(self, path: str) -> bytes:
        file_path = self._file_path_text(path)
        try:
            with open(file_path, "rb") as stream:
                return stream.read()
        except OSError as exc:
            raise self._local_error(exc, Path(file_path)) from exc

    def open_read(self, path: str) -> BinaryIO:
        file_path = self._file_path_text(path)
        try:
            return open(file_path, "rb")
        except OSError as exc:
            raise self._local_error(exc, Path(file_path)) from exc

    def read_range(self, path: str, start: int, end: int) -> bytes:
        _read_range_check(start, end)
        file_path = self._file_path_text(path)
        try:
            with open(file_path, "rb") as stream:
                stream.seek(start)
                return stream.read(end - start)
        except OSError as exc:
            raise self._local_error(exc, Path(file_path)) from exc

    def exists(self, path: str) -> bool:
        return os.path.isfile(self._file_path_text(path))

    def size(self, path: str) -> int:
        file_path = self._file_path(path)
        try:
            stat = file_path.stat()
        except OSError as exc:
            raise self._local_error(exc, file_path) from exc
        if not file_path.is_file():
            raise StorageError(f"{file_path} is a directory, not a stored object")
        return stat.st_size

    # -- writing --
    # Every write goes to a temporary sibling that is renamed into place, so a reader (or a crash)
    # never sees half a value; os.replace is atomic on POSIX and Windows within one directory.

    def write_path(self, path: str, content: bytes) -> str:
        file_path = self._file_path_text(path)
        if self._unnamed_temp_files and self._write_unnamed(file_path, content):
            return file_path
        temp_path, descriptor = self._temp_create(file_path)
        try:
            _descriptor_write_all(descriptor, content)
            os.close(descriptor)
            descriptor = -1
            self._publish(temp_path, file_path)
        except BaseException:
            if descriptor >= 0:
                os.close(descriptor)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_path)
            raise
        return file_path

    def _write_unnamed(self, file_path: str, content: bytes) -> bool:
        """Write through an unnamed temporary file (Linux ``O_TMPFILE``) linked into place: one
        directory operation instead of create + rename, and a crash leaves nothing behind.
        False when the platform or filesystem cannot; the caller then uses a named temp file."""
        directory = os.path.dirname(file_path)
        if directory not in self._known_directories:
            self._directory_ensure(directory)
        try:
            descriptor = os.open(directory, _UNNAMED_TEMP_FLAGS, 0o666)
        except OSError as exc:
            if exc.errno in _NO_UNNAMED_TEMP_ERRNOS:
                self._unnamed_temp_files = False
            else:
                self._known_directories.discard(directory)
            return False
        try:
            _descriptor_write_all(descriptor, content)
            # The /proc link names the open file itself; the descriptor argument only forces
            # linkat with AT_SYMLINK_FOLLOW (the source path is absolute, so it is ignored).
            source = f"/proc/self/fd/{descriptor}"
            try:
                os.link(source, file_path, src_dir_fd=descriptor)
            except FileExistsError:
                # Replacing an object: give the data a temporary name, then rename it over.
                temp_path = os.path.join(directory, _temp_file_name(os.path.basename(file_path)))
                os.link(source, temp_path, src_dir_fd=descriptor)
                try:
                    self._publish(temp_path, file_path)
                except BaseException:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(temp_path)
                    raise
            except OSError:
                # /proc missing or a filesystem that cannot link: named temp files from now on.
                self._unnamed_temp_files = False
                return False
        finally:
            os.close(descriptor)
        return True

    @contextlib.contextmanager
    def open_write(self, path: str) -> Iterator[BinaryIO]:
        file_path = self._file_path_text(path)
        temp_path, descriptor = self._temp_create(file_path)
        stream = os.fdopen(descriptor, "wb")
        try:
            yield stream  # type: ignore[misc]
            stream.close()
            self._publish(temp_path, file_path)
        except BaseException:
            stream.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_path)
            raise

    def _temp_create(self, file_path: str) -> tuple[str, int]:
        """A new temporary sibling of ``file_path``, opened for writing: (its path, its descriptor)."""
        directory, name = os.path.split(file_path)
        if directory not in self._known_directories:
            self._directory_ensure(directory)
        for attempt in range(3):
            temp_path = os.path.join(directory, _temp_file_name(name))
            try:
                return temp_path, os.open(temp_path, _TEMP_OPEN_FLAGS, 0o666)
            except FileExistsError:
                continue  # a leftover of an earlier process that had our pid: take the next name
            except FileNotFoundError as exc:
                self._known_directories.discard(directory)
                if attempt:
                    raise self._not_writable(exc, Path(directory)) from exc
                self._directory_ensure(directory)
            except OSError as exc:
                raise self._not_writable(exc, Path(directory)) from exc
        raise NotWritableError(f"storage path {self._root_text()} is not writable: no free temporary name")

    def _publish(self, temp_path: str, file_path: str) -> None:
        try:
            os.replace(temp_path, file_path)
        except IsADirectoryError as exc:
            raise StorageError(f"cannot write {file_path}: a directory of that name exists") from exc
        except OSError as exc:
            raise self._not_writable(exc, Path(file_path).parent) from exc

    def _directory_ensure(self, directory: str) -> None:
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            raise self._not_writable(exc, Path(directory)) from exc
        self._known_directories.add(directory)

    def _not_writable(self, exc: OSError, directory: Path) -> NotWritableError:
        blocker = _existing_non_directory(directory)
        if blocker is not None:
            reason = f"{blocker} is a file, not a directory"
        elif isinstance(exc, PermissionError):
            reason = "permission denied"
        else:
            reason = exc.strerror or str(exc)
        return NotWritableError(f"storage path {self.root} is not writable: {reason}")

    # -- deleting and listing --
    def delete(self, path: str) -> bool:
        file_path = self._file_path(path)
        try:
            file_path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as exc:
            raise self._local_error(exc, file_path) from exc
        return True

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        normalized_prefix = key_prefix_normalize(prefix)
        start_key = normalized_prefix.rpartition("/")[0]
        root = self.root
        start_directory = root / start_key if start_key else root
        yield from _local_walk(start_directory, start_key, normalized_prefix)

    def _local_error(self, exc: OSError, file_path: Path) -> StorageError:
        if isinstance(exc, FileNotFoundError | NotADirectoryError):
            return ObjectNotFoundError(f"no stored object at {file_path}")
        if isinstance(exc, IsADirectoryError):
            return StorageError(f"{file_path} is a directory, not a stored object")
        if isinstance(exc, PermissionError):
            return AccessDeniedError(f"access denied: {file_path} cannot be read by this process")
        return StorageError(f"could not read {file_path}: {exc.strerror or exc}")

    def settings(self, *, include_secrets: bool = False) -> dict[str, Any]:
        return {"basepath": self.basepath}


def _path_relative_to_any(candidate: str, bases: list[str]) -> str | None:
    for base in bases:
        if candidate == base:
            return ""
        base_with_separator = base if base.endswith(os.sep) else base + os.sep
        if candidate.startswith(base_with_separator):
            return candidate[len(base_with_separator) :]
    return None


def _existing_non_directory(directory: Path) -> Path | None:
    for ancestor in [directory, *directory.parents]:
        if ancestor.exists():
            return None if ancestor.is_dir() else ancestor
    return None


def _local_walk(directory: Path, directory_key: str, prefix: str) -> Iterator[ObjectInfo]:
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        key = f"{directory_key}/{entry.name}" if directory_key else entry.name
        if entry.is_dir(follow_symlinks=False):
            key_as_directory = key + "/"
            if key_as_directory.startswith(prefix) or prefix.startswith(key_as_directory):
                yield from _local_walk(Path(entry.path), key, prefix)
            continue
        if not key.startswith(prefix) or entry.name.endswith(TEMP_FILE_SUFFIX):
            continue
        try:
            stat = entry.stat()
        except FileNotFoundError:
            continue  # deleted while listing
        yield ObjectInfo(key=key, size=stat.st_size, modified=datetime.fromtimestamp(stat.st_mtime, tz=UTC))


# --------------------------------------------------------------------------------------------------
# Any fsspec filesystem


class RemoteFileSystem(WritableFileSystem):
    """Objects under an fsspec URL (``s3://bucket/dir``, ``memory://area``, ``file:///srv/results``).

    ``settings`` go to ``fsspec.filesystem(scheme, **settings)``. The whole dict is secret: options
    carry credentials under any name (``headers.Authorization``, ``passwd``, ``connection_string``),
    so on display every entry is masked and only the names of the options show.
    """

    block_type_slug: ClassVar[str] = "remote-file-system"
    secret_fields: ClassVar[tuple[str, ...]] = ("settings",)

    def __init__(self, basepath: str = "s3://bucket/dir", settings: dict[str, Any] | None = None) -> None:
        scheme, netloc, urlpath, _, _ = urllib.parse.urlsplit(basepath)
        if not scheme or "://" not in basepath:
            raise InvalidSettingsError(
                f"base path {basepath!r} must be a URL with a scheme, such as s3://bucket/dir or memory://area"
            )
        if not netloc and scheme != "file":
            raise InvalidSettingsError(f"base path {basepath!r} must name a location after {scheme}://")
        self.basepath = basepath
        self.fsspec_settings: dict[str, Any] = dict(settings or {})
        self._scheme = scheme
        self._netloc = netloc
        self._base_parts = [part for part in urlpath.split("/") if part not in ("", ".")]
        if ".." in self._base_parts:
            raise InvalidSettingsError(f"base path {basepath!r} must not contain '..'")
        self._base_url = basepath.rstrip("/")
        self._filesystem: Any = None
        self._filesystem_lock = threading.Lock()

    @property
    def filesystem(self) -> Any:
        """The fsspec filesystem, created once per instance."""
        if self._filesystem is None:
            with self._filesystem_lock:
                if self._filesystem is None:
                    import fsspec

                    try:
                        self._filesystem = fsspec.filesystem(self._scheme, **self.fsspec_settings)
                    except (ImportError, ValueError) as exc:
                        raise InvalidSettingsError(
                            f"cannot open storage {self.basepath!r}: {exc} (is the package for "
                            f"{self._scheme}:// installed, and are the settings right?)"
                        ) from exc
        return self._filesystem

    @property
    def location(self) -> str:
        endpoint = (self.fsspec_settings.get("client_kwargs") or {}).get(
            "endpoint_url"
        ) or self.fsspec_settings.get("endpoint_url")
        return str(endpoint) if endpoint else self._base_url

    def relative_key(self, path: str) -> str:
        if not isinstance(path, str):
            raise UnsafeKeyError(f"a storage key must be a string, not {type(path).__name__}")
        if "\x00" in path:
            raise UnsafeKeyError(f"storage key {path!r} contains a NUL byte")
        if "://" not in path:
            return key_normalize(path)
        scheme, netloc, urlpath, _, _ = urllib.parse.urlsplit(path)
        if scheme != self._scheme:
            raise UnsafeKeyError(f"{path!r} uses {scheme}://, but this storage is {self.basepath}")
        parts = [part for part in urlpath.split("/") if part not in ("", ".")]
        if ".." in parts:
            raise UnsafeKeyError(
                f"storage key {path!r} contains '..', which could reach outside the base path"
            )
        if netloc != self._netloc or parts[: len(self._base_parts)] != self._base_parts:
            raise UnsafeKeyError(f"{path!r} is outside the storage base path {self.basepath}")
        return key_normalize("/".join(parts[len(self._base_parts) :]))

    def resolve_path(self, path: str) -> str:
        return f"{self._base_url}/{self.relative_key(path)}"

    def _call(self, location: str, operation: Callable[[], Any]) -> Any:
        try:
            return operation()
        except StorageError:
            raise
        except Exception as exc:
            raise self._error_from(exc, location=location) from exc

    def _error_from(self, exc: BaseException, *, location: str, timeout: float | None = None) -> StorageError:
        bucket = self._netloc if self._scheme in ("s3", "s3a", "gs", "gcs") else None
        return storage_error_from_exception(
            exc, location=location, endpoint=self.location, bucket=bucket, timeout=timeout
        )

    def read_path(self, path: str) -> bytes:
        url = self.resolve_path(path)
        return self._call(url, lambda: self.filesystem.cat_file(url))

    def read_range(self, path: str, start: int, end: int) -> bytes:
        _read_range_check(start, end)
        url = self.resolve_path(path)
        if start == end:
            self.size(path)  # still report a missing object
            return b""
        try:
            return self.filesystem.cat_file(url, start=start, end=end)
        except Exception as exc:
            if any(
                (_client_error_code(cause) or ("", ""))[0] == "InvalidRange"
                for cause in _exception_chain(exc)
            ):
                return b""  # the range starts past the end of the object
            raise self._error_from(exc, location=url) from exc

    def open_read(self, path: str) -> BinaryIO:
        url = self.resolve_path(path)
        return self._call(url, lambda: self.filesystem.open(url, "rb"))

    def write_path(self, path: str, content: bytes) -> str:
        url = self.resolve_path(path)
        filesystem = self.filesystem

        def write() -> None:
            filesystem.makedirs(url.rsplit("/", 1)[0], exist_ok=True)
            filesystem.pipe_file(url, bytes(content))

        self._call(url, write)
        return url

    @contextlib.contextmanager
    def open_write(self, path: str) -> Iterator[BinaryIO]:
        from fsspec.implementations.memory import MemoryFileSystem

        url = self.resolve_path(path)
        filesystem = self.filesystem
        self._call(url, lambda: filesystem.makedirs(url.rsplit("/", 1)[0], exist_ok=True))
        if isinstance(filesystem, MemoryFileSystem):
            # Memory files are visible from the moment they are opened: build the value aside.
            buffer = io.BytesIO()
            yield buffer  # type: ignore[misc]
            self._call(url, lambda: filesystem.pipe_file(url, buffer.getvalue()))
            return
        # Deferred commit: s3fs completes its multipart upload, and local files are renamed into
        # place, only on commit(); discard() throws the partial value away.
        stream = self._call(url, lambda: filesystem.open(url, "wb", autocommit=False))
        deferred = getattr(stream, "autocommit", True) is False
        try:
            yield stream
        except BaseException:
            _fsspec_stream_discard(stream, deferred=deferred)
            raise
        self._call(url, stream.close)
        if deferred:
            self._call(url, stream.commit)

    def exists(self, path: str) -> bool:
        url = self.resolve_path(path)
        filesystem = self.filesystem
        filesystem.invalidate_cache(url)
        return bool(self._call(url, lambda: filesystem.isfile(url)))

    def size(self, path: str) -> int:
        url = self.resolve_path(path)
        filesystem = self.filesystem
        filesystem.invalidate_cache(url)
        info = self._call(url, lambda: filesystem.info(url))
        if info.get("type") == "directory":
            raise StorageError(f"{url} is a directory, not a stored object")
        return int(info.get("size") or 0)

    def delete(self, path: str) -> bool:
        url = self.resolve_path(path)
        if not self.exists(path):
            return False
        try:
            self.filesystem.rm_file(url)
        except FileNotFoundError:
            return False
        except Exception as exc:
            raise self._error_from(exc, location=url) from exc
        return True

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        normalized_prefix = key_prefix_normalize(prefix)
        directory_key = normalized_prefix.rpartition("/")[0]
        filesystem = self.filesystem
        start_url = f"{self._base_url}/{directory_key}" if directory_key else self._base_url
        filesystem.invalidate_cache()
        found = self._call(start_url, lambda: filesystem.find(start_url, detail=True))
        root = filesystem._strip_protocol(self._base_url).rstrip("/")
        for stripped_path in sorted(found):
            info = found[stripped_path]
            if info.get("type") == "directory" or not stripped_path.startswith(root + "/"):
                continue
            key = stripped_path[len(root) + 1 :]
            if not key.startswith(normalized_prefix) or _key_is_irregular(key):
                continue
            yield ObjectInfo(key=key, size=int(info.get("size") or 0), modified=_fsspec_modified(info))

    def settings(self, *, include_secrets: bool = False) -> dict[str, Any]:
        options = dict(self.fsspec_settings) if include_secrets else secret_mask_leaves(self.fsspec_settings)
        return {"basepath": self.basepath, "settings": options}


def _fsspec_stream_discard(stream: Any, *, deferred: bool) -> None:
    from fsspec.spec import AbstractBufferedFile

    with contextlib.suppress(Exception):
        if isinstance(stream, AbstractBufferedFile):
            # close() would flush the buffer as one more part: abort, then mark closed without flushing.
            if deferred:
                stream.discard()
            stream.closed = True
        else:
            stream.close()
            if deferred:
                stream.discard()


def _key_is_irregular(key: str) -> bool:
    # Objects written by other tools under names our keys cannot express are left out of listings,
    # so every listed key can be passed back to read_path.
    try:
        return key_normalize(key) != key
    except UnsafeKeyError:
        return True


def _fsspec_modified(info: dict[str, Any]) -> datetime | None:
    for name in ("LastModified", "last_modified", "mtime", "created", "updated", "modified"):
        value = info.get(name)
        if isinstance(value, datetime):
            return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, tz=UTC)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
                return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


# --------------------------------------------------------------------------------------------------
# S3 (and S3-compatible servers) through one boto3 client per instance

_BUCKET_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_ADDRESS_PATTERN = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def bucket_path_split(bucket_path: str) -> tuple[str, str]:
    """Split ``"bucket/some/prefix"`` into the validated bucket name and the normalised prefix."""
    if not isinstance(bucket_path, str) or not bucket_path.strip("/"):
        raise InvalidSettingsError(
            "the bucket path is empty: give a bucket name, optionally followed by /prefix"
        )
    path = bucket_path.removeprefix("s3://").strip("/")
    bucket, _, prefix = path.partition("/")
    if not _BUCKET_NAME_PATTERN.match(bucket) or ".." in bucket or _IP_ADDRESS_PATTERN.match(bucket):
        raise InvalidSettingsError(
            f"invalid bucket name {bucket!r}: S3 bucket names are 3-63 characters of lowercase letters, "
            "digits, dots and hyphens, start and end with a letter or digit, and are not IP addresses"
        )
    if prefix:
        try:
            prefix = key_normalize(prefix)
        except UnsafeKeyError as exc:
            raise InvalidSettingsError(f"invalid bucket path {bucket_path!r}: {exc}") from exc
    return bucket, prefix


class S3(WritableFileSystem):
    """Objects in an S3 bucket, optionally under a prefix: ``bucket_path="bucket/prefix"``."""

    block_type_slug: ClassVar[str] = "s3"
    secret_fields: ClassVar[tuple[str, ...]] = ("aws_secret_access_key", "aws_session_token")

    def __init__(
        self,
        bucket_path: str,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        use_environment_credentials: bool | None = None,
        connect_timeout: float = 5,
        read_timeout: float = 30,
    ) -> None:
        self.bucket, self.prefix = bucket_path_split(bucket_path)
        self.bucket_path = bucket_path
        if bool(aws_access_key_id) != bool(aws_secret_access_key):
            raise InvalidSettingsError("give both the access key ID and the secret access key, or neither")
        if use_environment_credentials is None:
            # As in Prefect: no keys means the environment's (or the instance role's) credentials.
            use_environment_credentials = not aws_access_key_id
        if not aws_access_key_id and not use_environment_credentials:
            raise InvalidSettingsError(
                "no credentials: give an access key ID and secret access key, or allow credentials from "
                "the environment (use_environment_credentials=True)"
            )
        if endpoint_url is not None:
            scheme = urllib.parse.urlsplit(endpoint_url).scheme
            if scheme not in ("http", "https"):
                raise InvalidSettingsError(
                    f"endpoint URL {endpoint_url!r} must start with http:// or https://"
                )
        self.aws_access_key_id = aws_access_key_id or None
        self.aws_secret_access_key = aws_secret_access_key or None
        self.aws_session_token = aws_session_token or None
        self.endpoint_url = endpoint_url or None
        self.region_name = region_name or None
        self.use_environment_credentials = use_environment_credentials
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._client: Any = None
        self._client_lock = threading.Lock()

    @property
    def basepath(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    @property
    def location(self) -> str:
        if self.endpoint_url:
            return self.endpoint_url
        return (
            f"https://s3.{self.region_name}.amazonaws.com" if self.region_name else "https://s3.amazonaws.com"
        )

    @property
    def client(self) -> Any:
        """The boto3 client, created once, shared by all threads (boto3 clients are thread-safe)."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self._client_create(
                        connect_timeout=self.connect_timeout, read_timeout=self.read_timeout, max_attempts=3
                    )
        return self._client

    def _client_create(self, *, connect_timeout: float, read_timeout: float, max_attempts: int) -> Any:
        import boto3
        from botocore.config import Config

        session_arguments: dict[str, Any] = {}
        if self.aws_access_key_id:
            session_arguments = {
                "aws_access_key_id": self.aws_access_key_id,
                "aws_secret_access_key": self.aws_secret_access_key,
                "aws_session_token": self.aws_session_token,
            }
        session = boto3.session.Session(region_name=self.region_name, **session_arguments)
        config = Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            max_pool_connections=32,
            # S3-compatible servers commonly expect path-style addressing.
            s3={"addressing_style": "path"} if self.endpoint_url else None,
        )
        return session.client("s3", endpoint_url=self.endpoint_url, config=config)

    # -- keys --
    def relative_key(self, path: str) -> str:
        if not isinstance(path, str):
            raise UnsafeKeyError(f"a storage key must be a string, not {type(path).__name__}")
        if "\x00" in path:
            raise UnsafeKeyError(f"storage key {path!r} contains a NUL byte")
        if "://" not in path:
            return key_normalize(path)
        scheme, netloc, urlpath, _, _ = urllib.parse.urlsplit(path)
        if scheme not in ("s3", "s3a"):
            raise UnsafeKeyError(f"{path!r} uses {scheme}://, but this storage is {self.basepath}")
        if netloc != self.bucket:
            raise UnsafeKeyError(
                f"{path!r} is in bucket {netloc!r}, outside the storage base path {self.basepath}"
            )
        parts = [part for part in urlpath.split("/") if part not in ("", ".")]
        if ".." in parts:
            raise UnsafeKeyError(
                f"storage key {path!r} contains '..', which could reach outside the base path"
            )
        prefix_parts = self.prefix.split("/") if self.prefix else []
        if parts[: len(prefix_parts)] != prefix_parts:
            raise UnsafeKeyError(f"{path!r} is outside the storage base path {self.basepath}")
        return key_normalize("/".join(parts[len(prefix_parts) :]))

    def object_key(self, path: str) -> str:
        """The S3 object key for ``path`` (prefix included)."""
        relative = self.relative_key(path)
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def resolve_path(self, path: str) -> str:
        return f"s3://{self.bucket}/{self.object_key(path)}"

    def _error_from(self, exc: BaseException, *, location: str, timeout: float | None = None) -> StorageError:
        return storage_error_from_exception(
            exc,
            location=location,
            endpoint=self.location,
            bucket=self.bucket,
            timeout=timeout if timeout is not None else self.connect_timeout,
        )

    def _request(self, object_key: str, operation: Callable[[], Any]) -> Any:
        try:
            return operation()
        except Exception as exc:
            raise self._error_from(exc, location=f"s3://{self.bucket}/{object_key}") from exc

    # -- reading --
    def read_path(self, path: str) -> bytes:
        object_key = self.object_key(path)
        response = self._request(
            object_key, lambda: self.client.get_object(Bucket=self.bucket, Key=object_key)
        )
        return self._request(object_key, response["Body"].read)

    def read_range(self, path: str, start: int, end: int) -> bytes:
        _read_range_check(start, end)
        object_key = self.object_key(path)
        if start == end:
            self.size(path)  # still report a missing object
            return b""
        try:
            response = self.client.get_object(
                Bucket=self.bucket, Key=object_key, Range=f"bytes={start}-{end - 1}"
            )
        except Exception as exc:
            if (_client_error_code(exc) or ("", ""))[0] == "InvalidRange":
                return b""  # the range starts past the end of the object
            raise self._error_from(exc, location=f"s3://{self.bucket}/{object_key}") from exc
        return self._request(object_key, response["Body"].read)

    def open_read(self, path: str) -> BinaryIO:
        object_key = self.object_key(path)
        size = self._head(object_key)["ContentLength"]
        reader = _S3ObjectReader(self, object_key, size)
        return io.BufferedReader(reader, buffer_size=1024 * 1024)  # type: ignore[return-value]

    def _head(self, object_key: str) -> dict[str, Any]:
        return self._request(object_key, lambda: self.client.head_object(Bucket=self.bucket, Key=object_key))

    def exists(self, path: str) -> bool:
        try:
            self._head(self.object_key(path))
        except ObjectNotFoundError:
            return False
        return True

    def size(self, path: str) -> int:
        return int(self._head(self.object_key(path))["ContentLength"])

    # -- writing --
    def write_path(self, path: str, content: bytes) -> str:
        object_key = self.object_key(path)
        self._request(
            object_key,
            lambda: self.client.put_object(Bucket=self.bucket, Key=object_key, Body=bytes(content)),
        )
        return f"s3://{self.bucket}/{object_key}"

    @contextlib.contextmanager
    def open_write(self, path: str) -> Iterator[BinaryIO]:
        writer = _S3MultipartWriter(self, self.object_key(path))
        try:
            yield writer  # type: ignore[misc]
        except BaseException:
            writer.abort()
            raise
        writer.finish()

    # -- deleting and listing --
    def delete(self, path: str) -> bool:
        object_key = self.object_key(path)
        if not self.exists(path):
            return False
        self._request(object_key, lambda: self.client.delete_object(Bucket=self.bucket, Key=object_key))
        return True

    def delete_many(
        self, paths: Iterable[str], *, batch_size: int = 1000, report_missing: bool = True
    ) -> DeleteReport:
        """Delete in DeleteObjects batches of at most 1000 keys.

        S3 reports a missing key as deleted, so with ``report_missing`` each key is first checked
        with a HEAD (in parallel); without it, missing keys count as deleted and cost nothing extra.
        """
        batch_size = max(1, min(batch_size, S3_MAX_DELETE_BATCH))
        report = DeleteReport()
        batch: dict[str, list[str]] = {}
        for path in paths:
            try:
                object_key = self.object_key(path)
            except UnsafeKeyError as exc:
                report.errors[path] = str(exc)
                continue
            batch.setdefault(object_key, []).append(path)
            if len(batch) >= batch_size:
                self._delete_batch(batch, report, report_missing=report_missing)
                batch = {}
        if batch:
            self._delete_batch(batch, report, report_missing=report_missing)
        return report

    def _delete_batch(
        self, batch: dict[str, list[str]], report: DeleteReport, *, report_missing: bool
    ) -> None:
        to_delete = list(batch)
        if report_missing:
            with ThreadPoolExecutor(max_workers=16) as pool:
                present = list(pool.map(self._object_present, to_delete))
            for object_key, is_present in zip(to_delete, present, strict=True):
                if not is_present:
                    report.missing.extend(batch[object_key])
            to_delete = [key for key, is_present in zip(to_delete, present, strict=True) if is_present]
        if not to_delete:
            return
        response = self._request(
            to_delete[0],
            lambda: self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in to_delete], "Quiet": True}
            ),
        )
        failed = {
            error["Key"]: f"{error.get('Code')}: {error.get('Message')}"
            for error in response.get("Errors", [])
        }
        for object_key in to_delete:
            for path in batch[object_key]:
                if object_key in failed:
                    report.errors[path] = failed[object_key]
                else:
                    report.deleted.append(path)

    def _object_present(self, object_key: str) -> bool:
        try:
            self._head(object_key)
        except ObjectNotFoundError:
            return False
        return True

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        normalized_prefix = key_prefix_normalize(prefix)
        base = f"{self.prefix}/" if self.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=base + normalized_prefix)
        iterator = iter(pages)
        while True:
            try:
                page = next(iterator)
            except StopIteration:
                return
            except Exception as exc:
                raise self._error_from(exc, location=f"s3://{self.bucket}/{base}{normalized_prefix}") from exc
            for entry in page.get("Contents", []):
                key = entry["Key"][len(base) :]
                if _key_is_irregular(key):
                    continue
                modified = entry.get("LastModified")
                yield ObjectInfo(
                    key=key,
                    size=int(entry.get("Size", 0)),
                    modified=modified.astimezone(UTC) if modified else None,
                )

    # -- health --
    def _probe(self, probe_key: str, *, timeout: float) -> None:
        client = self._client_create(connect_timeout=timeout, read_timeout=timeout, max_attempts=1)
        object_key = self.object_key(probe_key)
        location = f"s3://{self.bucket}/{object_key}"
        try:
            client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            error = self._error_from(exc, location=f"s3://{self.bucket}", timeout=timeout)
            # A 404 on the bucket is unambiguous; a 403 may only mean no ListBucket permission, so
            # the write below decides.
            if isinstance(error, ObjectNotFoundError | BucketNotFoundError):
                raise BucketNotFoundError(_bucket_missing_message(self.bucket, self.location)) from exc
            if not isinstance(error, AccessDeniedError):
                raise error from exc
        payload = b"resultdeck storage probe " + probe_key.encode()
        try:
            client.put_object(Bucket=self.bucket, Key=object_key, Body=payload)
            try:
                read_back = client.get_object(Bucket=self.bucket, Key=object_key)["Body"].read()
            finally:
                client.delete_object(Bucket=self.bucket, Key=object_key)
        except Exception as exc:
            raise self._error_from(exc, location=location, timeout=timeout) from exc
        if read_back != payload:
            raise StorageError(f"the probe object written to {location} read back different bytes")

    def settings(self, *, include_secrets: bool = False) -> dict[str, Any]:
        def secret(value: str | None) -> str | None:
            return value if include_secrets or value is None else SECRET_MASK

        return {
            "bucket_path": self.bucket_path,
            "aws_access_key_id": self.aws_access_key_id,
            "aws_secret_access_key": secret(self.aws_secret_access_key),
            "aws_session_token": secret(self.aws_session_token),
            "endpoint_url": self.endpoint_url,
            "region_name": self.region_name,
            "use_environment_credentials": self.use_environment_credentials,
            "connect_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout,
        }


class _S3ObjectReader(io.RawIOBase):
    """Seekable reads of one S3 object: one streaming GET from the current position, reopened after a seek."""

    def __init__(self, filesystem: S3, object_key: str, size: int) -> None:
        super().__init__()
        self._filesystem = filesystem
        self._object_key = object_key
        self._size = size
        self._position = 0
        self._body: Any = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._position + offset
        elif whence == io.SEEK_END:
            target = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if target < 0:
            raise ValueError(f"cannot seek to a negative position ({target})")
        if target != self._position:
            self._body_close()
            self._position = target
        return self._position

    def readinto(self, buffer: Any) -> int:
        if self._position >= self._size or len(buffer) == 0:
            return 0
        if self._body is None:
            filesystem = self._filesystem
            response = filesystem._request(
                self._object_key,
                lambda: filesystem.client.get_object(
                    Bucket=filesystem.bucket, Key=self._object_key, Range=f"bytes={self._position}-"
                ),
            )
            self._body = response["Body"]
        wanted = min(len(buffer), self._size - self._position)
        data = self._filesystem._request(self._object_key, lambda: self._body.read(wanted))
        if not data:
            raise StorageError(
                f"s3://{self._filesystem.bucket}/{self._object_key} ended at byte {self._position} "
                f"of {self._size}: the object changed or the connection dropped"
            )
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def _body_close(self) -> None:
        if self._body is not None:
            with contextlib.suppress(Exception):
                self._body.close()
            self._body = None

    def close(self) -> None:
        self._body_close()
        super().close()


class _S3MultipartWriter(io.RawIOBase):
    """Buffers up to one part; small values go up in a single PUT, large ones as a multipart upload."""

    def __init__(self, filesystem: S3, object_key: str, part_size: int = S3_MULTIPART_PART_SIZE) -> None:
        super().__init__()
        self._filesystem = filesystem
        self._object_key = object_key
        self._part_size = part_size
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._written = 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._written

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("write to a closed storage stream")
        view = memoryview(data).cast("B")
        self._buffer += view
        self._written += len(view)
        while len(self._buffer) >= self._part_size:
            part = bytes(self._buffer[: self._part_size])
            del self._buffer[: self._part_size]
            self._part_upload(part)
        return len(view)

    def _part_upload(self, part: bytes) -> None:
        filesystem, client = self._filesystem, self._filesystem.client
        if self._upload_id is None:
            response = filesystem._request(
                self._object_key,
                lambda: client.create_multipart_upload(Bucket=filesystem.bucket, Key=self._object_key),
            )
            self._upload_id = response["UploadId"]
        part_number = len(self._parts) + 1
        response = filesystem._request(
            self._object_key,
            lambda: client.upload_part(
                Bucket=filesystem.bucket,
                Key=self._object_key,
                UploadId=self._upload_id,
                PartNumber=part_number,
                Body=part,
            ),
        )
        self._parts.append({"PartNumber": part_number, "ETag": response["ETag"]})

    def finish(self) -> None:
        filesystem, client = self._filesystem, self._filesystem.client
        try:
            if self._upload_id is None:
                body = bytes(self._buffer)
                filesystem._request(
                    self._object_key,
                    lambda: client.put_object(Bucket=filesystem.bucket, Key=self._object_key, Body=body),
                )
            else:
                if self._buffer:
                    self._part_upload(bytes(self._buffer))
                filesystem._request(
                    self._object_key,
                    lambda: client.complete_multipart_upload(
                        Bucket=filesystem.bucket,
                        Key=self._object_key,
                        UploadId=self._upload_id,
                        MultipartUpload={"Parts": self._parts},
                    ),
                )
        except BaseException:
            self.abort()
            raise
        self._buffer = bytearray()
        super().close()

    def abort(self) -> None:
        """Throw away what was written; nothing appears at the key."""
        self._buffer = bytearray()
        if self._upload_id is not None:
            filesystem = self._filesystem
            with contextlib.suppress(Exception):
                filesystem.client.abort_multipart_upload(
                    Bucket=filesystem.bucket, Key=self._object_key, UploadId=self._upload_id
                )
            self._upload_id = None
        super().close()

    def close(self) -> None:
        # Closing the stream inside the with-block must not publish a half value: finish() does that.
        pass


# --------------------------------------------------------------------------------------------------
# Registry

FILESYSTEM_CLASSES: dict[str, type[WritableFileSystem]] = {
    cls.block_type_slug: cls for cls in (LocalFileSystem, RemoteFileSystem, S3)
}


def filesystem_from_settings(*, block_type_slug: str, settings: dict[str, Any]) -> WritableFileSystem:
    """Rebuild a filesystem from its block type slug and ``settings(include_secrets=True)``."""
    try:
        cls = FILESYSTEM_CLASSES[block_type_slug]
    except KeyError:
        known = ", ".join(sorted(FILESYSTEM_CLASSES))
        raise InvalidSettingsError(
            f"unknown storage type {block_type_slug!r}; known types: {known}"
        ) from None
    return cls.from_settings(settings)
