"""The interface every filesystem implements, the data it returns, and the persistence hook."""

from __future__ import annotations

import contextlib
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    SerializationInfo,
    ValidationError,
    model_serializer,
    model_validator,
)

from .errors import (
    AccessDeniedError,
    BucketNotFoundError,
    EndpointUnreachableError,
    InvalidSettingsError,
    NotWritableError,
    ObjectNotFoundError,
    StorageError,
    UnsafeKeyError,
    storage_error_from_exception,
    timed_out_text,
)

SECRET_MASK = "**********"  # noqa: S105 - the placeholder shown instead of a secret
PROBE_KEY_PREFIX = ".resultdeck-probe-"


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


def secret_mask_leaves(value: Any) -> Any:
    """``value`` with every leaf replaced by ``SECRET_MASK``: what is set shows, never a value."""
    if isinstance(value, dict):
        return {name: secret_mask_leaves(item) for name, item in value.items()}
    return SECRET_MASK


# --------------------------------------------------------------------------------------------------
# The common interface


class WritableFileSystem(BaseModel, ABC):
    """A place that stores bytes under keys. Subclasses: ``LocalFileSystem``, ``RemoteFileSystem``, ``S3``.

    Pydantic models, as Prefect's blocks are: the fields are the settings, extra fields are refused,
    ``model_dump`` adds ``block_type_slug`` (as Prefect's blocks do) and masks secrets unless
    ``context={"include_secrets": True}``. What an instance works out from its settings (clients,
    resolved paths) lives in ``__slots__``, out of the fields, and is made again after a copy.
    """

    model_config = ConfigDict(extra="forbid")

    block_type_slug: ClassVar[str]
    secret_fields: ClassVar[tuple[str, ...]] = ()

    # Identity of a saved configuration, set by the database layer when it loads or saves one
    # (Prefect's attribute names, which code written for Prefect may read).
    __slots__ = ("_block_document_id", "_block_document_name")

    def model_post_init(self, context: Any, /) -> None:
        self._block_document_id = None
        self._block_document_name = None

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self.model_post_init(None)

    def __copy__(self):
        clone = super().__copy__()
        clone.model_post_init(None)
        return clone

    def __deepcopy__(self, memo: dict[int, Any] | None = None):
        clone = super().__deepcopy__(memo)
        clone.model_post_init(None)
        return clone

    @classmethod
    def get_block_type_slug(cls) -> str:
        return cls.block_type_slug

    @model_validator(mode="before")
    @classmethod
    def _slug_drop(cls, data: Any) -> Any:
        # What model_dump adds is accepted back, as Prefect's blocks accept it.
        if isinstance(data, dict) and "block_type_slug" in data:
            data = dict(data)
            slug = data.pop("block_type_slug")
            if slug != getattr(cls, "block_type_slug", slug):
                raise ValueError(f"block_type_slug {slug!r} is not {cls.block_type_slug!r}")
        return data

    @model_serializer(mode="wrap")
    def _dump_with_slug(self, handler, info: SerializationInfo) -> Any:
        data = handler(self)
        if not (info.context or {}).get("include_secrets"):
            for name in self.secret_fields:
                if data.get(name) is not None:
                    data[name] = secret_mask_leaves(data[name])
        return {**data, "block_type_slug": self.block_type_slug}

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

    def range_is_empty(self, path: str, start: int, end: int) -> bool:
        """Whether a valid range asks for no bytes; a missing object is still reported then."""
        read_range_check(start, end)
        if start != end:
            return False
        self.size(path)
        return True

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
            raise EndpointUnreachableError(f"could not reach {self.location}: {timed_out_text(timeout)}")
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
    def block_settings(self, *, include_secrets: bool = False) -> dict[str, Any]:
        """The fields, as the constructor takes them; secrets replaced by ``SECRET_MASK`` unless asked for."""
        data = self.model_dump(context={"include_secrets": include_secrets})
        del data["block_type_slug"]
        return data

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> WritableFileSystem:
        """Rebuild from ``block_settings(include_secrets=True)``: bad ones are ``InvalidSettingsError``."""
        try:
            return cls(**settings)
        except ValidationError as exc:
            unknown = [str(error["loc"][0]) for error in exc.errors() if error["type"] == "extra_forbidden"]
            if unknown:
                raise TypeError(f"{cls.__name__} got unexpected settings: {', '.join(unknown)}") from None
            raise InvalidSettingsError(validation_error_text(exc)) from None

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.block_settings().items())
        return f"{type(self).__name__}({shown})"

    def dict(self) -> dict[str, Any]:  # type: ignore[override]
        """Prefect-style view of the configuration, secrets masked."""
        return self.model_dump()

    def save(self, name: str, overwrite: bool = False):
        """Save these settings as a storage block named `name`; code then uses "TYPE/name"."""
        return block_persistence().save(self, name, overwrite)

    @classmethod
    def load(cls, name: str) -> WritableFileSystem:
        """A saved block by name (on a concrete class) or by slug ("s3/demo", on Block)."""
        return block_persistence().load(None if cls is WritableFileSystem else cls, name)


# Prefect's name for the base class: `Block.load("s3/demo")`.
Block = WritableFileSystem


def validation_error_text(exc: ValidationError) -> str:
    """What a person needs from a ValidationError: each problem's own message."""
    messages = []
    for error in exc.errors():
        cause = (error.get("ctx") or {}).get("error")
        messages.append(str(cause) if cause is not None else error["msg"])
    return "; ".join(messages)


def read_range_check(start: int, end: int) -> None:
    if start < 0 or end < start:
        raise ValueError(f"a range read needs 0 <= start <= end, got start={start} end={end}")


# --------------------------------------------------------------------------------------------------
# Persistence: saved blocks live in the database, which this package knows nothing about. The
# database layer registers how to save and load them; until it has, save() and load() say so.


class BlockPersistenceUnavailableError(RuntimeError):
    """``save()``/``load()`` were called where no database layer has registered itself."""


@dataclass(frozen=True)
class BlockPersistence:
    save: Callable[[WritableFileSystem, str, bool], Any]
    load: Callable[[type | None, str], WritableFileSystem]


_persistence: BlockPersistence | None = None


def block_persistence_register(*, save: Callable[..., Any], load: Callable[..., WritableFileSystem]) -> None:
    """Make ``save(name)`` and ``load(name)`` of every filesystem class go to ``save`` and ``load``."""
    global _persistence
    _persistence = BlockPersistence(save=save, load=load)


def block_persistence() -> BlockPersistence:
    if _persistence is None:
        raise BlockPersistenceUnavailableError(
            "saving and loading storage blocks needs the database, and no database layer is registered: "
            "the apps.blocks package registers one (block_persistence_register) when it is imported"
        )
    return _persistence
