"""Expiration of results: show it, set it, extend it, clear it, one result or many.

The database is authoritative for purges. For Prefect 3 records, whose files carry their own
expiration (Prefect's ``ResultStore.exists()`` reads it), a change is also written into the
file's metadata, in place: only the metadata object is replaced; the payload is copied through
as a stream, never decoded. Split metadata files (``metadata_location``) are rewritten the same
way. Prefect 2 blobs and raw payloads hold no expiration; for them the database alone changes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pydantic_core
from django.db import transaction
from django.db.models import QuerySet, Sum
from django.utils import timezone

from apps.blocks.filesystems import LocalFileSystem, StorageError, WritableFileSystem
from apps.core.db import COUNT_LIMIT, BoundedCount, bounded_count

from .format.layout import LAYOUT_HEAD_BYTES, Layout, head_read
from .models import ExpirationSource, ResultReference

logger = logging.getLogger(__name__)

EXPIRING_SOON_DEFAULT = dt.timedelta(days=7)
_COPY_CHUNK = 1024 * 1024
ACTIONS = ("set", "extend", "clear")


class ExpirationError(ValueError):
    """An expiration change that makes no sense (unknown action, missing or bad value)."""


class RecordRewriteError(StorageError):
    """The file's metadata could not be rewritten (not a record, metadata not found in its head)."""


@dataclass
class ExpirationInfo:
    expiration: dt.datetime | None
    is_expired: bool
    source: str
    source_label: str
    policy: Any = None


def expiration_info(
    reference: ResultReference, *, flow_name: str | None, now: dt.datetime | None = None
) -> ExpirationInfo:
    """What a page shows: when, whether it has passed, and where the expiration came from."""
    now = now or timezone.now()
    source = reference.expiration_source or ""
    labels = dict(ExpirationSource.choices)
    label = labels.get(source, "")
    if reference.expiration is None:
        label = "never expires"
    elif not label:
        label = "from the result file" if reference.layout == ResultReference.Layout.V3_RECORD else "recorded"
    from .retention import reference_effective_policy

    return ExpirationInfo(
        expiration=reference.expiration,
        is_expired=reference.expiration is not None and reference.expiration <= now,
        source=source,
        source_label=label,
        policy=reference_effective_policy(reference, flow_name=flow_name),
    )


def expiration_compute(
    *,
    action: str,
    current: dt.datetime | None,
    at: dt.datetime | None = None,
    by: dt.timedelta | None = None,
    now: dt.datetime | None = None,
) -> dt.datetime | None:
    """The new expiration: ``set`` to ``at``; ``extend`` by ``by`` (from now if past or unset); ``clear``."""
    now = now or timezone.now()
    if action == "clear":
        return None
    if action == "set":
        if at is None:
            raise ExpirationError("setting an expiration needs a date and time")
        return at if at.tzinfo else at.replace(tzinfo=dt.UTC)
    if action == "extend":
        if by is None or by <= dt.timedelta(0):
            raise ExpirationError("extending an expiration needs a positive duration, e.g. 7d")
        base = current if current is not None and current > now else now
        return base + by
    raise ExpirationError(f"unknown expiration action {action!r}: use one of {', '.join(ACTIONS)}")


# --------------------------------------------------------------------------------------------------
# Rewriting the file's metadata


def _expiration_json_value(expiration: dt.datetime | None) -> Any:
    return None if expiration is None else expiration.astimezone(dt.UTC)


def record_expiration_rewrite(
    *, filesystem: WritableFileSystem, key: str, expiration: dt.datetime | None
) -> None:
    """Replace ``metadata.expiration`` inside the record at ``key``, streaming the payload through."""
    head = filesystem.read_range(key, 0, LAYOUT_HEAD_BYTES)
    result_head = head_read(head)
    span = result_head.spans.get("metadata") if result_head.layout is Layout.V3_RECORD else None
    if span is None:
        raise RecordRewriteError(f"{filesystem.uri(key)} does not start with a record's metadata")
    start, end = span
    metadata = dict(result_head.fields["metadata"])
    metadata["expiration"] = _expiration_json_value(expiration)
    new_prefix = head[:start] + pydantic_core.to_json(metadata)
    source = filesystem.open_read(key)
    try:
        source.seek(end)
        with filesystem.open_write(key) as target:
            target.write(new_prefix)
            while chunk := source.read(_COPY_CHUNK):
                target.write(chunk)
    finally:
        source.close()


def metadata_file_expiration_rewrite(
    *, filesystem: WritableFileSystem, key: str, expiration: dt.datetime | None
) -> None:
    """Rewrite a split metadata file (a small JSON object) with the new expiration."""
    document = json.loads(filesystem.read_range(key, 0, LAYOUT_HEAD_BYTES))
    if not isinstance(document, dict) or "serializer" not in document:
        raise RecordRewriteError(f"{filesystem.uri(key)} is not a result metadata file")
    document["expiration"] = _expiration_json_value(expiration)
    filesystem.write_path(key, pydantic_core.to_json(document))


def reference_metadata_filesystem(
    reference: ResultReference, filesystem: WritableFileSystem
) -> tuple[Any, str] | None:
    """(The filesystem, the key) of the reference's split metadata file, given the filesystem of its
    payload; None when it has none or it lives where no filesystem can be made from its location."""
    location = reference.metadata_location
    if not location:
        return None
    if "://" not in location and not os.path.isabs(location):
        return filesystem, location
    if os.path.isabs(location):
        return LocalFileSystem(basepath=os.path.dirname(location)), os.path.basename(location)
    base = reference.storage_location.rstrip("/") + "/"
    if location.startswith(base):
        return filesystem, location[len(base) :]
    return None


def reference_file_expiration_write(
    reference: ResultReference, *, filesystem: WritableFileSystem | None = None
) -> str:
    """Write the reference's expiration into its stored file(s); returns what was done, for messages."""
    if reference.is_literal or reference.purged_at is not None or not reference.key:
        return "nothing stored"
    if filesystem is None:
        from .references import reference_filesystem_or_error

        filesystem = reference_filesystem_or_error(reference)
        if isinstance(filesystem, StorageError):
            raise filesystem
    metadata = reference_metadata_filesystem(reference, filesystem)
    if metadata is not None:
        metadata_fs, metadata_key = metadata
        metadata_file_expiration_rewrite(
            filesystem=metadata_fs, key=metadata_key, expiration=reference.expiration
        )
        return "metadata file rewritten"
    if reference.layout == ResultReference.Layout.V3_RECORD:
        record_expiration_rewrite(filesystem=filesystem, key=reference.key, expiration=reference.expiration)
        return "record rewritten"
    return "file holds no expiration"


@dataclass
class ExpirationChange:
    reference: ResultReference
    previous: dt.datetime | None
    file_note: str = ""
    file_error: str = ""


def reference_expiration_set(
    *, reference: ResultReference, expiration: dt.datetime | None, user: Any = None, write_file: bool = True
) -> ExpirationChange:
    """Set one result's expiration (None: never) in the database, then in its file where it has one."""
    if reference.purged_at is not None:
        raise ExpirationError(f"result {reference.pk} was purged; its expiration no longer matters")
    change = ExpirationChange(reference=reference, previous=reference.expiration)
    reference.expiration = expiration
    reference.expiration_source = ExpirationSource.MANUAL if expiration else ""
    reference.retention_policy = None
    reference.save(update_fields=["expiration", "expiration_source", "retention_policy"])
    if write_file:
        try:
            change.file_note = reference_file_expiration_write(reference)
        except (StorageError, OSError, ValueError) as exc:
            # The database stays authoritative for purges; the page says the file was not updated.
            change.file_error = str(exc)
            logger.warning("expiration of result %s not written to its file: %s", reference.pk, exc)
    logger.info(
        "expiration of result %s changed from %s to %s by %s",
        reference.pk,
        change.previous,
        expiration,
        user.get_username() if getattr(user, "is_authenticated", False) else "system",
    )
    return change


@dataclass
class BulkExpirationReport:
    changed: int = 0
    files_written: int = 0
    file_errors: dict[int, str] = field(default_factory=dict)


def references_expiration_bulk(
    *,
    queryset: QuerySet[ResultReference],
    action: str,
    at: dt.datetime | None = None,
    by: dt.timedelta | None = None,
    user: Any = None,
    write_files: bool = True,
    batch_size: int = 500,
    progress: Callable[[BulkExpirationReport, int], None] | None = None,
) -> BulkExpirationReport:
    """Apply one change to every live, stored-or-literal reference of ``queryset``, batch by batch."""
    expiration_compute(action=action, current=None, at=at, by=by)  # validates before any change
    report = BulkExpirationReport()
    ids = list(queryset.filter(purged_at__isnull=True).order_by("id").values_list("id", flat=True))
    filesystems: dict[tuple[Any, str], Any] = {}
    for start in range(0, len(ids), batch_size):
        batch_ids = ids[start : start + batch_size]
        with transaction.atomic():
            batch = list(
                ResultReference.objects.filter(pk__in=batch_ids, purged_at__isnull=True).select_related(
                    "block"
                )
            )
            now = timezone.now()
            for reference in batch:
                reference.expiration = expiration_compute(
                    action=action, current=reference.expiration, at=at, by=by, now=now
                )
                reference.expiration_source = ExpirationSource.MANUAL if reference.expiration else ""
                reference.retention_policy = None
            ResultReference.objects.bulk_update(
                batch, ["expiration", "expiration_source", "retention_policy"]
            )
        report.changed += len(batch)
        if write_files:
            for reference in batch:
                if reference.is_literal or (
                    reference.layout != ResultReference.Layout.V3_RECORD and not reference.metadata_location
                ):
                    continue
                group = (reference.block_id, reference.storage_location)
                if group not in filesystems:
                    from .references import reference_filesystem_or_error

                    filesystems[group] = reference_filesystem_or_error(reference)
                filesystem = filesystems[group]
                try:
                    if isinstance(filesystem, StorageError):
                        raise filesystem
                    reference_file_expiration_write(reference, filesystem=filesystem)
                    report.files_written += 1
                except (StorageError, OSError, ValueError) as exc:
                    report.file_errors[reference.pk] = str(exc)
        if progress is not None:
            progress(report, len(batch))
    logger.info(
        "bulk expiration %s by %s: %d result(s) changed, %d file(s) rewritten, %d file error(s)",
        action,
        user.get_username() if getattr(user, "is_authenticated", False) else "system",
        report.changed,
        report.files_written,
        len(report.file_errors),
    )
    return report


def expiring_soon(
    *, within: dt.timedelta = EXPIRING_SOON_DEFAULT, now: dt.datetime | None = None
) -> QuerySet:
    """Live results that expire between now and ``within`` from now, soonest first."""
    now = now or timezone.now()
    return (
        ResultReference.objects.live()
        .filter(expiration__gt=now, expiration__lte=now + within)
        .select_related("block")
        .order_by("expiration", "id")
    )


@dataclass(frozen=True)
class ExpiringTotals:
    count: BoundedCount
    size_bytes: int

    @property
    def is_partial(self) -> bool:
        return self.count.more


def expiring_totals(*, queryset: QuerySet, limit: int = COUNT_LIMIT) -> ExpiringTotals:
    """How many results ``queryset`` (``expiring_soon``) holds and their bytes, over its first ``limit``.

    Both read at most ``limit + 1`` rows along the expiration index, so the page costs the same
    with a million results expiring as with ten; past the limit the totals are lower bounds.
    """
    count = bounded_count(queryset=queryset, limit=limit)
    size = queryset.values("size_bytes")[:limit].aggregate(total=Sum("size_bytes"))["total"] or 0
    return ExpiringTotals(count=count, size_bytes=size)
