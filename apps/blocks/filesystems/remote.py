"""Objects under any fsspec URL."""

from __future__ import annotations

import contextlib
import io
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO, ClassVar

from pydantic import Field, field_validator

from .base import ObjectInfo, WritableFileSystem
from .errors import (
    InvalidSettingsError,
    StorageError,
    UnsafeKeyError,
    client_error_code,
    exception_chain,
    storage_error_from_exception,
)
from .keys import (
    key_prefix_normalize,
    remote_key_is_irregular,
    remote_key_normalize,
    url_key_relative,
    url_key_split,
)
from .redaction import aws_log_redaction_install


class RemoteFileSystem(WritableFileSystem):
    """Objects under an fsspec URL (``s3://bucket/dir``, ``memory://area``, ``file:///srv/results``).

    Saved as a block, it must not reach the server's own disk (``file://`` and wrappers): a
    ``LocalFileSystem`` block, with its base-path checks, is the block for that.

    ``settings`` go to ``fsspec.filesystem(scheme, **settings)``. The whole dict is secret: options
    carry credentials under any name (``headers.Authorization``, ``passwd``, ``connection_string``),
    so on display every entry is masked and only the names of the options show.
    """

    block_type_slug: ClassVar[str] = "remote-file-system"
    secret_fields: ClassVar[tuple[str, ...]] = ("settings",)

    basepath: str
    settings: dict[str, Any] = Field(default_factory=dict)

    __slots__ = ("_base_parts", "_base_url", "_filesystem", "_filesystem_lock", "_netloc", "_scheme")

    @field_validator("settings", mode="before")
    @classmethod
    def _settings_none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("basepath")
    @classmethod
    def _basepath_check(cls, basepath: str) -> str:
        scheme, netloc, urlpath, _, _ = urllib.parse.urlsplit(basepath)
        if not scheme or "://" not in basepath:
            raise InvalidSettingsError(
                f"base path {basepath!r} must be a URL with a scheme, such as s3://bucket/dir or memory://area"
            )
        if not netloc and scheme != "file":
            raise InvalidSettingsError(f"base path {basepath!r} must name a location after {scheme}://")
        if ".." in urlpath.split("/"):
            raise InvalidSettingsError(f"base path {basepath!r} must not contain '..'")
        return basepath

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        scheme, netloc, urlpath, _, _ = urllib.parse.urlsplit(self.basepath)
        self._scheme = scheme
        self._netloc = netloc
        self._base_parts = [part for part in urlpath.split("/") if part not in ("", ".")]
        self._base_url = self.basepath.rstrip("/")
        self._filesystem: Any = None
        self._filesystem_lock = threading.Lock()

    @property
    def filesystem(self) -> Any:
        """The fsspec filesystem, created once per instance."""
        if self._filesystem is None:
            with self._filesystem_lock:
                if self._filesystem is None:
                    import fsspec

                    aws_log_redaction_install()  # s3fs signs with botocore, which logs requests at DEBUG

                    try:
                        self._filesystem = fsspec.filesystem(self._scheme, **self.settings)
                    except (ImportError, ValueError) as exc:
                        raise InvalidSettingsError(
                            f"cannot open storage {self.basepath!r}: {exc} (is the package for "
                            f"{self._scheme}:// installed, and are the settings right?)"
                        ) from exc
        return self._filesystem

    @property
    def location(self) -> str:
        endpoint = (self.settings.get("client_kwargs") or {}).get("endpoint_url") or self.settings.get(
            "endpoint_url"
        )
        return str(endpoint) if endpoint else self._base_url

    def relative_key(self, path: str) -> str:
        split = url_key_split(path)
        if split is None:
            return remote_key_normalize(path)
        scheme, netloc, urlpath = split
        if scheme != self._scheme:
            raise UnsafeKeyError(f"{path!r} uses {scheme}://, but this storage is {self.basepath}")
        relative = url_key_relative(urlpath, base_prefix="/".join(self._base_parts))
        if netloc != self._netloc or relative is None:
            raise UnsafeKeyError(f"{path!r} is outside the storage base path {self.basepath}")
        return relative

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
        url = self.resolve_path(path)
        if self.range_is_empty(path, start, end):
            return b""
        try:
            return self.filesystem.cat_file(url, start=start, end=end)
        except Exception as exc:
            if any(
                (client_error_code(cause) or ("", ""))[0] == "InvalidRange" for cause in exception_chain(exc)
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
            if not key.startswith(normalized_prefix) or remote_key_is_irregular(key):
                continue
            yield ObjectInfo(key=key, size=int(info.get("size") or 0), modified=_fsspec_modified(info))


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
