"""A small client of Prefect's REST API (2.x and 3.x servers, Prefect Cloud workspaces).

Pure: no Django. Every list is read in bounded pages; 429 and 5xx answers back off and retry; a
connection test names what went wrong in words an operator can act on.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TIMEOUT_SECONDS = 15.0
PAGE_SIZE = 200
MAX_PAGE_SIZE = 200  # Prefect's own default PREFECT_API_DEFAULT_LIMIT
RETRIES = 4
BACKOFF_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 10.0
SUPPORTED_MAJOR_VERSIONS = ("2", "3")
RESPONSE_MAX_BYTES = 64 * 1024 * 1024


class PrefectApiError(Exception):
    """A request to the Prefect API failed; ``kind`` says how, for the connection's status."""

    def __init__(self, message: str, *, kind: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


class ErrorKind:
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    UNAUTHORIZED = "unauthorized"
    NOT_PREFECT = "not-prefect"
    UNSUPPORTED_VERSION = "unsupported-version"
    NOT_FOUND = "not-found"
    SERVER = "server"


@dataclass(frozen=True)
class ConnectionTestOutcome:
    ok: bool
    message: str
    kind: str = ""
    version: str = ""


@dataclass
class PrefectClient:
    api_url: str
    auth_kind: str = "none"  # none | basic | api-key
    credential: str = ""
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    retries: int = RETRIES
    backoff: float = BACKOFF_SECONDS
    sleep: Callable[[float], None] = time.sleep
    requests_made: int = field(default=0, init=False)
    # A sync reads task runs on a second thread: the count is kept under a lock.
    counter_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if self.auth_kind == "basic" and self.credential:
            headers["Authorization"] = "Basic " + base64.b64encode(self.credential.encode()).decode()
        elif self.auth_kind == "api-key" and self.credential:
            headers["Authorization"] = f"Bearer {self.credential}"
        return headers

    def request(self, method: str, path: str, *, body: Any = None) -> Any:
        """The decoded JSON answer of ``method path``; retries 429/5xx and dropped connections."""
        url = self.api_url.rstrip("/") + "/" + path.lstrip("/")
        data = None if body is None else json.dumps(body).encode()
        attempt = 0
        while True:
            attempt += 1
            with self.counter_lock:
                self.requests_made += 1
            request = urllib.request.Request(url, data=data, method=method, headers=self.headers())  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    raw = response.read(RESPONSE_MAX_BYTES + 1)
                    content_type = response.headers.get("Content-Type", "")
            except urllib.error.HTTPError as error:
                retry_after = error.headers.get("Retry-After") if error.headers else None
                error.close()
                if (error.code == 429 or error.code >= 500) and attempt <= self.retries:
                    self.sleep(self.backoff_delay(attempt=attempt, retry_after=retry_after))
                    continue
                raise self.http_error(error.code, url=url) from None
            except TimeoutError:
                # Every call here reads (filters are POSTs, but change nothing), so a retry is safe.
                if attempt <= self.retries:
                    self.sleep(self.backoff_delay(attempt=attempt, retry_after=None))
                    continue
                raise PrefectApiError(
                    f"{url} did not answer within {self.timeout:g} s", kind=ErrorKind.TIMEOUT
                ) from None
            except urllib.error.URLError as error:
                if isinstance(error.reason, TimeoutError):
                    raise PrefectApiError(
                        f"{url} did not answer within {self.timeout:g} s", kind=ErrorKind.TIMEOUT
                    ) from None
                raise PrefectApiError(
                    f"cannot reach {self.api_url}: {error.reason}", kind=ErrorKind.UNREACHABLE
                ) from None
            except (ConnectionError, OSError) as error:
                message = f"cannot reach {self.api_url}: {error}"
                raise PrefectApiError(message, kind=ErrorKind.UNREACHABLE) from None
            if len(raw) > RESPONSE_MAX_BYTES:
                message = f"{url} answered more than {RESPONSE_MAX_BYTES:,} bytes"
                raise PrefectApiError(message, kind=ErrorKind.SERVER)
            if not raw:
                return None
            try:
                return json.loads(raw)
            except ValueError:
                raise PrefectApiError(
                    f"{url} answered {content_type or 'something'} that is not JSON: not a Prefect API",
                    kind=ErrorKind.NOT_PREFECT,
                ) from None

    def backoff_delay(self, *, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), BACKOFF_MAX_SECONDS)
            except ValueError:
                pass
        return min(self.backoff * 2 ** (attempt - 1), BACKOFF_MAX_SECONDS)

    def http_error(self, status: int, *, url: str) -> PrefectApiError:
        if status in (401, 403):
            return PrefectApiError(
                f"the server refused the credentials ({status}): check the auth string or API key",
                kind=ErrorKind.UNAUTHORIZED,
                status=status,
            )
        if status == 404:
            return PrefectApiError(f"{url} was not found (404)", kind=ErrorKind.NOT_FOUND, status=status)
        return PrefectApiError(f"{url} answered {status}", kind=ErrorKind.SERVER, status=status)

    # --- endpoints ------------------------------------------------------------------------------

    def version(self) -> str:
        answer = self.request("GET", "admin/version")
        if not isinstance(answer, str):
            raise PrefectApiError(
                "/admin/version did not answer a version string: not a Prefect API",
                kind=ErrorKind.NOT_PREFECT,
            )
        return answer

    def health(self) -> bool:
        return self.request("GET", "health") is True

    def paged(
        self, path: str, *, body: dict[str, Any] | None = None, page_size: int = PAGE_SIZE
    ) -> Iterator[dict[str, Any]]:
        """Every item of a ``/…/filter`` endpoint, ``page_size`` (at most 200) per request."""
        limit = max(1, min(page_size, MAX_PAGE_SIZE))
        offset = 0
        while True:
            page = self.request("POST", path, body={**(body or {}), "limit": limit, "offset": offset})
            if not isinstance(page, list):
                raise PrefectApiError(f"{path} did not answer a list", kind=ErrorKind.NOT_PREFECT)
            yield from page
            if len(page) < limit:
                return
            offset += len(page)

    def flows(self, **filters: Any) -> Iterator[dict[str, Any]]:
        return self.paged("flows/filter", body=filters)

    def deployments(self, **filters: Any) -> Iterator[dict[str, Any]]:
        return self.paged("deployments/filter", body=filters)

    def flow_runs(self, **filters: Any) -> Iterator[dict[str, Any]]:
        return self.paged("flow_runs/filter", body=filters)

    def task_runs(self, **filters: Any) -> Iterator[dict[str, Any]]:
        return self.paged("task_runs/filter", body=filters)

    def block_document(self, block_document_id: str) -> dict[str, Any]:
        return self.request("GET", f"block_documents/{block_document_id}?include_secrets=true")


def version_supported(version: str) -> bool:
    return version.split(".")[0] in SUPPORTED_MAJOR_VERSIONS


def connection_test(*, client: PrefectClient) -> ConnectionTestOutcome:
    """Reach the server, check it is a Prefect API of a supported version, and that the credentials
    work (the version endpoint answers without them on a self-hosted server, so a filter call
    follows). Never raises."""
    try:
        version = client.version()
        if not version_supported(version):
            return ConnectionTestOutcome(
                False,
                f"Prefect {version} is not supported: Resultdeck reads Prefect 2.x and 3.x servers.",
                ErrorKind.UNSUPPORTED_VERSION,
                version,
            )
        client.request("POST", "flows/filter", body={"limit": 1})
    except PrefectApiError as error:
        message = str(error)
        if error.kind == ErrorKind.NOT_FOUND:
            message = f"{client.api_url} has no /admin/version: not a Prefect API (is the URL missing /api?)"
            return ConnectionTestOutcome(False, message, ErrorKind.NOT_PREFECT)
        return ConnectionTestOutcome(False, message[:1].upper() + message[1:] + ".", error.kind)
    return ConnectionTestOutcome(True, f"Connected to Prefect {version}.", "", version)
