"""Objects in an S3 bucket (or on an S3-compatible server) through one boto3 client per instance."""

from __future__ import annotations

import contextlib
import io
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from typing import Any, BinaryIO, ClassVar

from pydantic import field_validator, model_validator

from .base import DeleteReport, ObjectInfo, WritableFileSystem
from .errors import (
    AccessDeniedError,
    BucketNotFoundError,
    EndpointUnreachableError,
    InvalidSettingsError,
    ObjectNotFoundError,
    StorageError,
    UnsafeKeyError,
    bucket_missing_message,
    client_error_code,
    storage_error_from_exception,
)
from .keys import (
    key_normalize,
    key_prefix_normalize,
    remote_key_is_irregular,
    remote_key_normalize,
    url_key_relative,
    url_key_split,
)
from .redaction import aws_log_redaction_install

S3_MAX_DELETE_BATCH = 1000
STORAGE_UNREACHABLE = "storage unreachable"
S3_MULTIPART_PART_SIZE = 8 * 1024 * 1024  # S3 parts must be >= 5 MiB except the last one
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

    bucket_path: str
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    endpoint_url: str | None = None
    region_name: str | None = None
    use_environment_credentials: bool | None = None
    connect_timeout: float = 5
    read_timeout: float = 30

    __slots__ = ("_bucket", "_client", "_client_lock", "_prefix")

    @field_validator(
        "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "endpoint_url", "region_name"
    )
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("bucket_path")
    @classmethod
    def _bucket_path_check(cls, bucket_path: str) -> str:
        bucket_path_split(bucket_path)
        return bucket_path

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint_url_check(cls, endpoint_url: str | None) -> str | None:
        if endpoint_url is not None and urllib.parse.urlsplit(endpoint_url).scheme not in ("http", "https"):
            raise InvalidSettingsError(f"endpoint URL {endpoint_url!r} must start with http:// or https://")
        return endpoint_url

    @model_validator(mode="after")
    def _credentials_check(self) -> S3:
        if bool(self.aws_access_key_id) != bool(self.aws_secret_access_key):
            raise InvalidSettingsError("give both the access key ID and the secret access key, or neither")
        if self.use_environment_credentials is None:
            # As in Prefect: no keys means the environment's (or the instance role's) credentials.
            self.use_environment_credentials = not self.aws_access_key_id
        if not self.aws_access_key_id and not self.use_environment_credentials:
            raise InvalidSettingsError(
                "no credentials: give an access key ID and secret access key, or allow credentials from "
                "the environment (use_environment_credentials=True)"
            )
        return self

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        self._bucket, self._prefix = bucket_path_split(self.bucket_path)
        self._client: Any = None
        self._client_lock = threading.Lock()

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def prefix(self) -> str:
        return self._prefix

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

        aws_log_redaction_install()

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
        split = url_key_split(path)
        if split is None:
            return remote_key_normalize(path)
        scheme, netloc, urlpath = split
        if scheme not in ("s3", "s3a"):
            raise UnsafeKeyError(f"{path!r} uses {scheme}://, but this storage is {self.basepath}")
        if netloc != self.bucket:
            raise UnsafeKeyError(
                f"{path!r} is in bucket {netloc!r}, outside the storage base path {self.basepath}"
            )
        relative = url_key_relative(urlpath, base_prefix=self.prefix)
        if relative is None:
            raise UnsafeKeyError(f"{path!r} is outside the storage base path {self.basepath}")
        return relative

    def object_key(self, path: str) -> str:
        """The S3 object key for ``path`` (prefix included)."""
        relative = self.relative_key(path)
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def resolve_path(self, path: str) -> str:
        return f"s3://{self.bucket}/{self.object_key(path)}"

    def _error_from(self, exc: BaseException, *, location: str, timeout: float | None = None) -> StorageError:
        error = storage_error_from_exception(
            exc,
            location=location,
            endpoint=self.location,
            bucket=self.bucket,
            timeout=timeout if timeout is not None else self.connect_timeout,
        )
        if isinstance(error, EndpointUnreachableError) and not str(error).startswith(STORAGE_UNREACHABLE):
            # Said first, so a page showing the error (a result's preview) says what is wrong at once.
            error = EndpointUnreachableError(f"{STORAGE_UNREACHABLE}: {error}")
        return error

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
        object_key = self.object_key(path)
        if self.range_is_empty(path, start, end):
            return b""
        try:
            response = self.client.get_object(
                Bucket=self.bucket, Key=object_key, Range=f"bytes={start}-{end - 1}"
            )
        except Exception as exc:
            if (client_error_code(exc) or ("", ""))[0] == "InvalidRange":
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
                if remote_key_is_irregular(key):
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
                raise BucketNotFoundError(bucket_missing_message(self.bucket, self.location)) from exc
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
