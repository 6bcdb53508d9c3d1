"""Storage errors, and the translation of botocore, s3fs/aiohttp and OS errors into them."""

from __future__ import annotations

from collections.abc import Iterator


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


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def client_error_code(exc: BaseException) -> tuple[str, str] | None:
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

    for cause in exception_chain(exc):
        if isinstance(cause, StorageError):
            return cause
        if isinstance(cause, botocore_errors.ConnectTimeoutError | botocore_errors.ReadTimeoutError):
            return EndpointUnreachableError(f"could not reach {endpoint}: {timed_out_text(timeout)}")
        if isinstance(cause, botocore_errors.EndpointConnectionError):
            return EndpointUnreachableError(f"could not reach {endpoint}: the connection failed ({cause})")
        if isinstance(cause, botocore_errors.NoCredentialsError):
            return AccessDeniedError(
                "access denied: no credentials were found (give an access key and secret, or configure "
                "credentials in the environment)"
            )
        code_and_message = client_error_code(cause)
        if code_and_message is not None:
            code, message = code_and_message
            if code in _ACCESS_DENIED_CODES:
                return AccessDeniedError(
                    f"{ACCESS_DENIED_MESSAGE}; {endpoint} answered {code} for {location}"
                )
            if code == "NoSuchBucket":
                return BucketNotFoundError(bucket_missing_message(bucket, endpoint))
            if code in _NOT_FOUND_CODES:
                return ObjectNotFoundError(f"no stored object at {location}")
            return StorageError(f"storage request for {location} failed: {code}: {message}")
    for cause in exception_chain(exc):
        if isinstance(cause, ConnectionRefusedError):
            return EndpointUnreachableError(f"could not reach {endpoint}: connection refused")
        if isinstance(cause, TimeoutError) or type(cause).__name__ in {
            "FSTimeoutError",
            "ServerTimeoutError",
        }:
            return EndpointUnreachableError(f"could not reach {endpoint}: {timed_out_text(timeout)}")
        if type(cause).__name__ in {"ClientConnectorError", "ClientConnectionError"}:
            return EndpointUnreachableError(f"could not reach {endpoint}: {cause}")
    if isinstance(exc, PermissionError):
        return AccessDeniedError(f"{ACCESS_DENIED_MESSAGE}; {endpoint} refused access to {location}")
    if isinstance(exc, FileNotFoundError):
        if "bucket does not exist" in str(exc).lower():
            return BucketNotFoundError(bucket_missing_message(bucket, endpoint))
        return ObjectNotFoundError(f"no stored object at {location}")
    if isinstance(exc, IsADirectoryError):
        return StorageError(f"{location} is a directory, not a stored object")
    return StorageError(f"storage request for {location} failed: {type(exc).__name__}: {exc}")


def bucket_missing_message(bucket: str | None, endpoint: str) -> str:
    return f"bucket {bucket or '?'!r} does not exist at {endpoint}: create it or fix the bucket name"


def timed_out_text(timeout: float | None) -> str:
    return f"timed out after {timeout:g} s" if timeout is not None else "timed out"
