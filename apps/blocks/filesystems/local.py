"""Files under a local directory."""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from pydantic import field_validator

from .base import ObjectInfo, WritableFileSystem, read_range_check
from .errors import AccessDeniedError, NotWritableError, ObjectNotFoundError, StorageError, UnsafeKeyError
from .keys import key_normalize, key_prefix_normalize

# Temporary files of in-flight local writes carry this suffix so listings skip them and a
# sweeper can recognise leftovers of a process that was killed mid-write.
TEMP_FILE_SUFFIX = ".resultdeck-tmp"

_TEMP_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_UNNAMED_TEMP_FLAGS = (
    os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC
    if hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd")
    else None
)
# open(O_TMPFILE) fails with these where the kernel or the filesystem lacks unnamed temp files.
_NO_UNNAMED_TEMP_ERRNOS = frozenset({errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOTSUP})
# A write refused for want of space (a full disk, a quota, a file-size limit).
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)})
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

    basepath: str | None = None

    __slots__ = ("_known_directories", "_root_cache", "_root_text_cache", "_unnamed_temp_files")

    @field_validator("basepath", mode="before")
    @classmethod
    def _basepath_text(cls, value: Any) -> Any:
        return os.fspath(value) if isinstance(value, os.PathLike) else value

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
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
    # -- confinement --
    # A key cannot name '..', but a symbolic link planted under the base path could still lead
    # outside it: every read checks where the opened file really is, every write and delete where
    # its folder really is, and listings do not follow links.

    def _confined(self, real_path: str, path: str | Path) -> None:
        if _path_relative_to_any(real_path, [self._root_text()]) is None:
            raise UnsafeKeyError(
                f"storage key {os.fspath(path)!r} leads outside the storage base path {self._root_text()} "
                "through a symbolic link"
            )

    def _open_confined(self, path: str | Path) -> BinaryIO:
        file_path = self._file_path_text(path)
        try:
            stream = open(file_path, "rb")  # noqa: SIM115 - open_read hands the stream to the caller
        except OSError as exc:
            raise self._local_error(exc, Path(file_path)) from exc
        try:
            self._confined(_opened_real_path(stream.fileno(), file_path), path)
        except BaseException:
            stream.close()
            raise
        return stream  # type: ignore[return-value]

    def _folder_confined(self, file_path: str, path: str | Path) -> None:
        self._confined(os.path.realpath(os.path.dirname(file_path)), path)

    # -- reading --
    def read_path(self, path: str) -> bytes:
        with self._open_confined(path) as stream:
            try:
                return stream.read()
            except OSError as exc:
                raise self._local_error(exc, Path(self._file_path_text(path))) from exc

    def open_read(self, path: str) -> BinaryIO:
        return self._open_confined(path)

    def read_range(self, path: str, start: int, end: int) -> bytes:
        read_range_check(start, end)
        with self._open_confined(path) as stream:
            try:
                stream.seek(start)
                return stream.read(end - start)
            except OSError as exc:
                raise self._local_error(exc, Path(self._file_path_text(path))) from exc

    def exists(self, path: str) -> bool:
        file_path = self._file_path_text(path)
        if not os.path.isfile(file_path):
            return False
        self._confined(os.path.realpath(file_path), path)
        return True

    def size(self, path: str) -> int:
        file_path = self._file_path(path)
        self._confined(os.path.realpath(file_path), path)
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
        except BaseException as exc:
            if descriptor >= 0:
                os.close(descriptor)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_path)
            self._full_raise(exc)
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
            try:
                _descriptor_write_all(descriptor, content)
            except OSError as exc:
                self._full_raise(exc)
                raise
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
        except BaseException as exc:
            with contextlib.suppress(OSError):
                stream.close()  # flushing what is buffered fails again on a full disk
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_path)
            self._full_raise(exc)
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
        # Checked before makedirs, which would otherwise create folders wherever a link points.
        self._confined(os.path.realpath(directory), directory)
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            raise self._not_writable(exc, Path(directory)) from exc
        self._known_directories.add(directory)

    def _full_raise(self, exc: BaseException) -> None:
        """Raise a clear storage error for a write refused for want of space (the temp file is gone)."""
        if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
            raise NotWritableError(
                f"storage path {self.root} is full: {exc.strerror or exc}; nothing was written"
            ) from exc

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
        # A planted link itself may go (unlink removes the link), but not a file behind a linked folder.
        self._folder_confined(str(file_path), path)
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
        if (
            start_key
            and _path_relative_to_any(os.path.realpath(start_directory), [self._root_text()]) is None
        ):
            return  # the prefix goes through a link out of the base path: nothing is stored there
        yield from _local_walk(start_directory, start_key, normalized_prefix)

    def temp_files_sweep(self, *, older_than_seconds: float, now: float | None = None) -> list[str]:
        """Delete the temporary files of writes that never finished (their process was killed)
        last modified more than ``older_than_seconds`` ago; a write in flight is far younger.
        Returns the paths deleted, relative to the base path."""
        cutoff = (time.time() if now is None else now) - older_than_seconds
        root = self._root_text()
        swept = []
        for directory, _folders, names in os.walk(root):  # links to folders are not followed
            for name in names:
                if not name.endswith(TEMP_FILE_SUFFIX):
                    continue
                path = os.path.join(directory, name)
                try:
                    stat = os.lstat(path)
                    if stat.st_mtime >= cutoff:
                        continue
                    os.unlink(path)
                except FileNotFoundError:
                    continue  # published or swept by someone else meanwhile
                except OSError as exc:
                    raise self._local_error(exc, Path(path)) from exc
                swept.append(os.path.relpath(path, root))
        return swept

    def _local_error(self, exc: OSError, file_path: Path) -> StorageError:
        if isinstance(exc, FileNotFoundError | NotADirectoryError):
            return ObjectNotFoundError(f"no stored object at {file_path}")
        if isinstance(exc, IsADirectoryError):
            return StorageError(f"{file_path} is a directory, not a stored object")
        if isinstance(exc, PermissionError):
            return AccessDeniedError(f"access denied: {file_path} cannot be read by this process")
        return StorageError(f"could not read {file_path}: {exc.strerror or exc}")


def _path_relative_to_any(candidate: str, bases: list[str]) -> str | None:
    for base in bases:
        if candidate == base:
            return ""
        base_with_separator = base if base.endswith(os.sep) else base + os.sep
        if candidate.startswith(base_with_separator):
            return candidate[len(base_with_separator) :]
    return None


def _opened_real_path(descriptor: int, file_path: str) -> str:
    """Where an open file really is: one readlink on Linux, without the race of resolving the path again."""
    try:
        return os.readlink(f"/proc/self/fd/{descriptor}")
    except OSError:
        return os.path.realpath(file_path)


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
        if entry.is_symlink():
            continue  # where a link leads is outside what the store wrote; reads refuse it too
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
