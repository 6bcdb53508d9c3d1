"""ResultReference rows for results the engine persisted, and for literals kept in the database.

The engine buffers references and saves them in bulk, so both builders return unsaved rows unless
``save=True``.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Any

from apps.blocks.filesystems import LocalFileSystem, StorageError, WritableFileSystem
from apps.blocks.services import block_filesystem
from apps.core.bulk import rows_insert
from apps.results.models import ResultReference

LITERAL_TYPES = (type(None), bool)
_NOT_GIVEN: Any = object()
_field_defaults: dict[Any, list[tuple[str, Any]]] = {}


def model_instance_new(model: Any, **values: Any) -> Any:
    """``model(**values)`` for concrete field values (by attname), built without ``Model.__init__``.

    The engine makes a run record and a reference for every task; ``Model.__init__`` checks each
    keyword against every field and sends init signals, which costs more than the rest of the
    record. Fields not given get their defaults, as with ``model()``.
    """
    from django.db.models.base import ModelState

    defaults = _field_defaults.get(model)
    if defaults is None:
        # Field._get_default is the callable Django itself uses for each field's default.
        defaults = _field_defaults[model] = [(f.attname, f._get_default) for f in model._meta.concrete_fields]
    instance = object.__new__(model)
    instance._state = ModelState()
    attributes = instance.__dict__
    for attname, default in defaults:
        attributes[attname] = values.pop(attname) if attname in values else default()
    if values:
        raise TypeError(f"{model.__name__} has no fields named {', '.join(sorted(values))}")
    return instance


def value_is_literal(value: Any) -> bool:
    """None, True and False are stored in the database, with no file (as the seed documents say)."""
    return type(value) in LITERAL_TYPES


def value_type_name(value: Any) -> str:
    cls = type(value)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def storage_location_of(storage: Any) -> str:
    """The storage's base location as a URI or absolute path (what ResultReference.storage_location holds)."""
    basepath = getattr(storage, "basepath", None)
    root = getattr(storage, "root", None)
    if root is not None and type(storage).__name__ == "LocalFileSystem":
        return str(root)
    if basepath:
        return str(basepath)
    return str(getattr(storage, "location", ""))


def storage_relative_key(storage: Any, key: str) -> str:
    relative_key = getattr(storage, "relative_key", None)
    return key if relative_key is None else relative_key(key)


def serializer_label(config: dict | None) -> str:
    if not config:
        return ""
    kind = str(config.get("type", ""))
    if kind == "compressed" and isinstance(config.get("serializer"), dict):
        return f"compressed/{config['serializer'].get('type', '')}"
    return kind


def reference_from_record(
    *,
    record: Any,
    storage: Any,
    block: Any = None,
    value: Any = _NOT_GIVEN,
    size_bytes: int | None = None,
    cache_key: str = "",
    key: str | None = None,
    serializer_config: dict | None = None,
    save: bool = False,
) -> ResultReference:
    """The reference to a record the store has written to ``storage`` (a saved ``block`` or none).

    ``key`` (the storage-relative key) and ``serializer_config`` may be given when the caller knows
    them, which saves resolving them again for every result.
    """
    metadata = record.metadata
    serializer = metadata.serializer
    config = serializer_config
    if config is None and serializer is not None and hasattr(serializer, "to_config"):
        config = serializer.to_config()
    if value is _NOT_GIVEN:
        value = record.result
    expiration = metadata.expiration
    if isinstance(expiration, dt.datetime) and expiration.tzinfo is None:
        expiration = expiration.replace(tzinfo=dt.UTC)
    reference = model_instance_new(
        ResultReference,
        storage_location=storage_location_of(storage),
        key=key if key is not None else storage_relative_key(storage, metadata.storage_key),
        layout=ResultReference.Layout.V3_RECORD,
        serializer_type=serializer_label(config),
        serializer_config=config,
        value_type=value_type_name(value),
        size_bytes=size_bytes,
        is_literal=False,
        cache_key=cache_key or "",
        expiration=expiration,
        prefect_version=str(getattr(metadata, "prefect_version", "") or ""),
    )
    if block is not None:
        # A StorageBlock row, or just its id (what a loaded filesystem carries).
        reference.block_id = getattr(block, "pk", block)
    if save:
        reference.save()
    return reference


def reference_literal(value: Any, *, save: bool = False) -> ResultReference:
    """A literal result (None, True, False): the value itself, in the database, with no file."""
    if not value_is_literal(value):
        raise ValueError(f"only None, True and False are stored as literals, not {value_type_name(value)}")
    reference = model_instance_new(
        ResultReference,
        layout=ResultReference.Layout.LITERAL,
        is_literal=True,
        literal_value=value,
        value_type=value_type_name(value),
        size_bytes=0,
    )
    if save:
        reference.save()
    return reference


@dataclass(slots=True)
class PendingReference:
    """A reference waiting to be saved, with what ``references_save`` must know of how it was made."""

    reference: ResultReference
    # Written under a freshly generated key: no row can have that key yet, so none is looked up.
    fresh_key: bool = False
    # Read back (a cache hit, an earlier attempt's result): a row it matches keeps its fields.
    reused: bool = False


# What a result written again under a key that has a row (a cache key, a fixed storage key) updates.
REWRITE_FIELDS = (
    "block_id",
    "layout",
    "serializer_type",
    "serializer_config",
    "value_type",
    "size_bytes",
    "cache_key",
    "expiration",
    "created",
    "prefect_version",
)


def references_save(*, pending: list[PendingReference]) -> None:
    """Insert new references; a key written again updates its row. Every reference gets its id."""
    if not pending:
        return
    # A freshly generated key cannot have a row yet; only named keys (cache keys, templates) are looked up.
    named = [
        item.reference.key
        for item in pending
        if not item.reference.is_literal and item.reference.pk is None and not item.fresh_key
    ]
    existing: dict[tuple[str, str], ResultReference] = {}
    if named:
        for row in ResultReference.objects.filter(key__in=set(named), is_literal=False):
            existing[(row.storage_location, row.key)] = row
    to_create: list[ResultReference] = []
    seen: dict[tuple[str, str], ResultReference] = {}
    # References that take the id of another row: known only once the new rows are inserted.
    matched: list[tuple[ResultReference, ResultReference]] = []
    for item in pending:
        ref = item.reference
        if ref.pk is not None:
            continue
        if ref.is_literal:
            to_create.append(ref)
            continue
        identity = (ref.storage_location, ref.key)
        row = existing.get(identity) or seen.get(identity)
        if row is None:
            to_create.append(ref)
            seen[identity] = ref
            continue
        if not item.reused:
            for name in REWRITE_FIELDS:
                setattr(row, name, getattr(ref, name))
            row.purged_at = None
            if row.pk is not None:
                row.save()
        matched.append((ref, row))
    rows_insert(ResultReference, to_create)
    for ref, row in matched:
        ref.pk = ref.id = row.pk


class ResultUnreadableError(StorageError):
    """The stored bytes of a result cannot be reached (purged, literal, unknown storage, missing)."""


def reference_uri(reference: ResultReference) -> str:
    if reference.is_literal:
        return ""
    location = reference.storage_location.rstrip("/")
    if not location and reference.block_id is not None:
        location = reference.block.points_to.rstrip("/")
    return f"{location}/{reference.key}" if location else reference.key


def reference_filesystem(reference: ResultReference) -> WritableFileSystem:
    """The filesystem holding a reference's file: its saved block, else its recorded local directory.

    Raises ResultUnreadableError when there is none: a literal, a purged result, a block that cannot
    be opened, or a remote location that was never saved as a block (its credentials are unknown).
    """
    if reference.is_literal:
        raise ResultUnreadableError("this result is a literal kept in the database; it has no stored file")
    if reference.purged_at is not None:
        raise ResultUnreadableError(f"this result was purged on {reference.purged_at:%Y-%m-%d %H:%M} UTC")
    if reference.block_id is not None:
        try:
            return block_filesystem(reference.block)
        except Exception as error:
            raise ResultUnreadableError(
                f"the storage block of result {reference.pk} cannot be opened: {error}"
            ) from error
    location = reference.storage_location.removeprefix("file://")
    if location and os.path.isabs(location):
        return LocalFileSystem(basepath=location)
    raise ResultUnreadableError(
        f"result {reference.pk} is stored at {location or 'an unknown location'!r} through a filesystem "
        "that was not saved as a block, so its credentials are unknown here"
    )


def reference_filesystem_or_error(reference: ResultReference) -> WritableFileSystem | ResultUnreadableError:
    """``reference_filesystem``, with the reason returned instead of raised, for bulk work that keeps
    one answer per storage and records failures per result."""
    try:
        return reference_filesystem(reference)
    except ResultUnreadableError as error:
        return error
