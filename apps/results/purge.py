"""Purging results: delete their stored objects, then mark their references purged.

Objects go first, in batches through the filesystem's ``delete_many``; an object already gone
counts as purged. Only references whose object is gone are marked (``purged_at``/``purged_by``),
so a failed batch leaves its references live and the purge can simply be run again. The run
history keeps every reference.

``expired_purge`` and ``selected_purge`` claim one batch at a time in a transaction
(``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL), re-checking expiration in the claiming
query, delete the batch's objects, mark its references and add its counts to the audit entry in
that same transaction. A purge killed mid-batch therefore leaves that batch's references live; the
next run finds their objects gone (counted as missing) and marks them. Nothing that has not
expired at claim time is ever deleted by ``expired_purge``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q, QuerySet, Sum
from django.utils import timezone

from apps.blocks.filesystems import (
    S3,
    AccessDeniedError,
    BucketNotFoundError,
    EndpointUnreachableError,
    LocalFileSystem,
    StorageError,
    WritableFileSystem,
)
from apps.blocks.models import StorageBlock

from .expiration import reference_metadata_filesystem
from .models import CleanupJob, PurgeAuditEntry, ResultReference
from .references import reference_filesystem_or_error

logger = logging.getLogger(__name__)


@dataclass
class PurgeReport:
    """What a purge did. ``errors`` maps reference ids to the reason their object stays."""

    deleted: int = 0
    missing: int = 0
    errors: dict[int, str] = field(default_factory=dict)
    bytes_freed: int = 0
    purged: int = 0
    skipped: int = 0  # selected but kept: live cache entries that have not expired
    batches: int = 0
    audit_id: int | None = None

    def merge(self, other: PurgeReport) -> None:
        self.deleted += other.deleted
        self.missing += other.missing
        self.errors.update(other.errors)
        self.bytes_freed += other.bytes_freed
        self.purged += other.purged
        self.skipped += other.skipped
        self.batches += other.batches

    def summary(self) -> str:
        """The counts a purge logs when it ends."""
        return (
            f"{self.purged} purged, {self.deleted} object(s) deleted, {self.missing} already gone, "
            f"{len(self.errors)} error(s), {self.bytes_freed} bytes freed"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "purged": self.purged,
            "deleted": self.deleted,
            "missing": self.missing,
            "bytes_freed": self.bytes_freed,
            "skipped": self.skipped,
            "errors": len(self.errors),
            "batches": self.batches,
        }


_FIELDS = ("id", "block_id", "storage_location", "key", "metadata_location", "is_literal", "size_bytes")


def references_purge(
    *,
    references: QuerySet[ResultReference] | Iterable[ResultReference],
    user: Any = None,
    batch_size: int = 1000,
    source: str = "code",
    reason: str = "selected",
) -> PurgeReport:
    """Delete the stored objects of ``references`` and mark them purged; already purged ones are skipped."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    report = PurgeReport()
    audit = audit_entry_start(user=user, source=source, reason=reason)
    report.audit_id = audit.pk
    filesystems: dict[tuple[Any, str], WritableFileSystem | StorageError] = {}
    # Grouped by where the objects live, so each batch goes to one filesystem.
    for batch in _batches(_live_references(references), batch_size):
        groups: dict[tuple[Any, str], list[ResultReference]] = {}
        for reference in batch:
            groups.setdefault((reference.block_id, reference.storage_location), []).append(reference)
        batch_report = PurgeReport(batches=1)
        for group_key, group in groups.items():
            batch_report.merge(_purge_group(group, filesystems, group_key, user=user, batch_size=batch_size))
        audit_entry_add(audit=audit, report=batch_report, blocks={reference.block_id for reference in batch})
        report.merge(batch_report)
    logger.info("purge: %s", report.summary())
    return report


def _live_references(references) -> Iterator[ResultReference]:
    if isinstance(references, QuerySet):
        queryset = references.filter(purged_at__isnull=True).order_by("block_id", "storage_location", "id")
        yield from queryset.only(*_FIELDS).iterator(chunk_size=2000)
        return
    for reference in references:
        if reference.purged_at is None:
            yield reference


def _batches(items: Iterator[ResultReference], size: int) -> Iterator[list[ResultReference]]:
    batch: list[ResultReference] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _purge_group(
    group: list[ResultReference],
    filesystems: dict[tuple[Any, str], WritableFileSystem | StorageError],
    group_key: tuple[Any, str],
    *,
    user: Any,
    batch_size: int,
    verify_missing: bool = True,
) -> PurgeReport:
    report = PurgeReport()
    literals = [reference for reference in group if reference.is_literal or not reference.key]
    stored = [reference for reference in group if reference not in literals]
    gone: list[ResultReference] = list(literals)  # literals live in the database: nothing to delete
    if stored:
        if group_key not in filesystems:
            filesystems[group_key] = reference_filesystem_or_error(stored[0])
        filesystem = filesystems[group_key]
        if isinstance(filesystem, StorageError):
            report.errors.update({reference.id: str(filesystem) for reference in stored})
        else:
            by_key = {reference.key: reference for reference in stored}
            try:
                outcome = _delete_many(
                    filesystem, list(by_key), batch_size=batch_size, verify_missing=verify_missing
                )
            except (AccessDeniedError, BucketNotFoundError, EndpointUnreachableError) as exc:
                # The whole storage refuses: later batches would fail the same way.
                filesystems[group_key] = exc
                report.errors.update({reference.id: str(exc) for reference in stored})
            else:
                for key in outcome.deleted:
                    report.deleted += 1
                    report.bytes_freed += by_key[key].size_bytes or 0
                    gone.append(by_key[key])
                for key in outcome.missing:
                    report.missing += 1
                    gone.append(by_key[key])
                for key, message in outcome.errors.items():
                    report.errors[by_key[key].id] = message
                gone = _metadata_files_delete(gone, filesystem, report)
    if gone:
        report.purged = ResultReference.objects.filter(
            id__in=[reference.id for reference in gone], purged_at__isnull=True
        ).update(
            purged_at=timezone.now(), purged_by=user if getattr(user, "is_authenticated", False) else None
        )
    return report


def _metadata_files_delete(
    gone: list[ResultReference], filesystem: WritableFileSystem, report: PurgeReport
) -> list[ResultReference]:
    """Delete the split metadata files of references whose payload is gone; returns the references
    that are now entirely gone. One whose metadata file stays keeps its reference live (with the
    reason in ``report.errors``), so the next purge deletes it."""
    done = []
    for reference in gone:
        metadata = (
            reference_metadata_filesystem(reference, filesystem) if reference.metadata_location else None
        )
        if metadata is not None:
            metadata_filesystem, metadata_key = metadata
            try:
                metadata_filesystem.delete(metadata_key)
            except StorageError as exc:
                report.errors[reference.id] = f"metadata file {reference.metadata_location}: {exc}"
                continue
        done.append(reference)
    return done


def _delete_many(filesystem: WritableFileSystem, keys: list[str], *, batch_size: int, verify_missing: bool):
    if not isinstance(filesystem, S3):
        return filesystem.delete_many(keys, batch_size=batch_size)
    if not verify_missing:
        # S3 reports a missing key as deleted; without the check missing objects count as deleted.
        return filesystem.delete_many(keys, batch_size=batch_size, report_missing=False)
    present = _s3_present_keys(filesystem, keys)
    if present is None:
        return filesystem.delete_many(keys, batch_size=batch_size)
    # Only what the listing showed is deleted; what it did not show was already gone.
    report = filesystem.delete_many(
        [key for key in keys if key in present], batch_size=batch_size, report_missing=False
    )
    report.missing.extend(key for key in keys if key not in present and key not in report.errors)
    return report


S3_LIST_PAGE = 1000


def _s3_present_keys(filesystem: S3, keys: list[str]) -> set[str] | None:
    """Which of ``keys`` exist, from listing the key range they span (1 request per 1000 keys).

    S3's DeleteObjects reports a missing key as deleted, so presence must be checked to count
    missing objects. A HEAD per key costs a request each; a batch claimed in key order spans a
    narrow range, which a few list pages cover. If the range holds many other objects (more than a
    few pages' worth), this gives up (None) and the caller checks each key instead.
    """
    by_object_key: dict[str, str] = {}
    for key in keys:
        try:
            by_object_key[filesystem.object_key(key)] = key
        except StorageError:
            return None
    ordered = sorted(by_object_key)
    low, high = ordered[0], ordered[-1]
    prefix = os.path.commonprefix(ordered)  # noqa: RUF071 - S3 prefixes are character prefixes
    budget = 3 + 2 * len(ordered) // S3_LIST_PAGE
    present: set[str] = set()
    request: dict[str, Any] = {"Bucket": filesystem.bucket, "Prefix": prefix, "StartAfter": low[:-1]}
    for _ in range(budget):
        try:
            page = filesystem.client.list_objects_v2(**request, MaxKeys=S3_LIST_PAGE)
        except Exception:
            return None
        contents = page.get("Contents", [])
        for entry in contents:
            if entry["Key"] in by_object_key:
                present.add(by_object_key[entry["Key"]])
        if not page.get("IsTruncated") or (contents and contents[-1]["Key"] >= high):
            return present
        request["ContinuationToken"] = page["NextContinuationToken"]
        request.pop("StartAfter", None)
    return None


# --------------------------------------------------------------------------------------------------
# Audit


def _username(user: Any) -> str:
    return user.get_username() if getattr(user, "is_authenticated", False) else ""


def audit_entry_start(
    *, user: Any = None, source: str, reason: str, job: CleanupJob | None = None
) -> PurgeAuditEntry:
    return PurgeAuditEntry.objects.create(
        job=job,
        source=source,
        reason=reason,
        user=user if getattr(user, "is_authenticated", False) else None,
        username=_username(user),
    )


def audit_entry_add(*, audit: PurgeAuditEntry, report: PurgeReport, blocks: set[Any]) -> None:
    """Add a batch's counts (and the slugs of the blocks it touched) to an audit entry."""
    slugs = set(audit.block_slugs)
    new_ids = [block_id for block_id in blocks if block_id is not None]
    if new_ids:
        slugs |= {block.slug for block in StorageBlock.objects.filter(pk__in=new_ids)}
    audit.block_slugs = sorted(slugs)
    PurgeAuditEntry.objects.filter(pk=audit.pk).update(
        batches=F("batches") + report.batches,
        purged=F("purged") + report.purged,
        deleted=F("deleted") + report.deleted,
        missing=F("missing") + report.missing,
        bytes_freed=F("bytes_freed") + report.bytes_freed,
        error_count=F("error_count") + len(report.errors),
        block_slugs=audit.block_slugs,
        updated_at=timezone.now(),
    )


# --------------------------------------------------------------------------------------------------
# Claimed batches: expired results, selected results


ProgressCallback = Callable[[PurgeReport], None]


def expired_candidates(
    *, now: dt.datetime | None = None, block: Any = None, older_than: dt.timedelta | None = None
) -> QuerySet[ResultReference]:
    """Live references whose expiration has passed (by more than ``older_than``), in ``block``."""
    cutoff = (now or timezone.now()) - (older_than or dt.timedelta(0))
    queryset = ResultReference.objects.live().filter(expiration__lte=cutoff)
    if block is not None:
        queryset = queryset.filter(block_id=getattr(block, "pk", block))
    return queryset


def selected_candidates(*, ids: Iterable[int], now: dt.datetime | None = None) -> QuerySet[ResultReference]:
    """The live references among ``ids`` that may go: a cache entry still valid stays until it expires."""
    now = now or timezone.now()
    still_cached = ~Q(cache_key="") & (Q(expiration__isnull=True) | Q(expiration__gt=now))
    return ResultReference.objects.live().filter(pk__in=list(ids)).exclude(still_cached)


@dataclass
class PurgePlan:
    """What a purge would do (a dry run): how many references, how many bytes, per storage."""

    count: int
    bytes: int
    by_storage: list[dict[str, Any]]


def purge_plan(queryset: QuerySet[ResultReference]) -> PurgePlan:
    rows = (
        queryset.values("block__block_type", "block__name", "storage_location")
        .annotate(total=Sum("size_bytes"), count=models_count())
        .order_by("block__block_type", "block__name", "storage_location")
    )
    by_storage = [
        {
            "storage": f"{row['block__block_type']}/{row['block__name']}"
            if row["block__name"]
            else row["storage_location"] or "database",
            "count": row["count"],
            "bytes": row["total"] or 0,
        }
        for row in rows
    ]
    return PurgePlan(
        count=sum(row["count"] for row in by_storage),
        bytes=sum(row["bytes"] for row in by_storage),
        by_storage=by_storage,
    )


def models_count():
    from django.db.models import Count

    return Count("id")


def expired_purge(
    *,
    user: Any = None,
    block: Any = None,
    older_than: dt.timedelta | None = None,
    batch_size: int = 1000,
    source: str = "code",
    job: CleanupJob | None = None,
    progress: ProgressCallback | None = None,
    verify_missing: bool = True,
) -> PurgeReport:
    """Purge every expired result (in ``block``, expired longer than ``older_than``), batch by batch."""
    return claimed_purge(
        candidates=lambda now: expired_candidates(now=now, block=block, older_than=older_than),
        user=user,
        batch_size=batch_size,
        source=source,
        reason="expired",
        job=job,
        progress=progress,
        verify_missing=verify_missing,
    )


def selected_purge(
    *,
    ids: Iterable[int],
    user: Any = None,
    batch_size: int = 1000,
    source: str = "code",
    job: CleanupJob | None = None,
    progress: ProgressCallback | None = None,
) -> PurgeReport:
    """Purge the results ``ids`` (already purged ones and still valid cache entries are skipped)."""
    ids = list(ids)
    now = timezone.now()
    report_skipped = (
        ResultReference.objects.live().filter(pk__in=ids).count()
        - selected_candidates(ids=ids, now=now).count()
    )
    report = claimed_purge(
        candidates=lambda moment: selected_candidates(ids=ids, now=moment),
        user=user,
        batch_size=batch_size,
        source=source,
        reason="selected",
        job=job,
        progress=progress,
    )
    report.skipped += report_skipped
    return report


def claimed_purge(
    *,
    candidates: Callable[[dt.datetime], QuerySet[ResultReference]],
    user: Any = None,
    batch_size: int = 1000,
    source: str = "code",
    reason: str = "expired",
    job: CleanupJob | None = None,
    progress: ProgressCallback | None = None,
    verify_missing: bool = True,
) -> PurgeReport:
    """Claim, delete and mark batch after batch of ``candidates(now)`` until none is left.

    Each batch is one transaction: the claim (locking the rows, skipping rows another purge holds),
    the deletion of their objects, the marking and the audit counts commit together.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    report = PurgeReport()
    audit = audit_entry_start(user=user, source=source, reason=reason, job=job)
    report.audit_id = audit.pk
    filesystems: dict[tuple[Any, str], WritableFileSystem | StorageError] = {}
    # References whose object could not be deleted stay live; this run does not retry them.
    failed: set[int] = set()
    supports_skip_locked = connection.features.has_select_for_update_skip_locked
    while True:
        with transaction.atomic():
            # Key order: a batch then spans a narrow key range, which S3 can list in a page or two.
            queryset = (
                candidates(timezone.now()).exclude(pk__in=failed).order_by("storage_location", "key", "id")
            )
            if supports_skip_locked:
                queryset = queryset.select_for_update(skip_locked=True, of=("self",))
            batch = list(queryset.only(*_FIELDS)[:batch_size])
            if not batch:
                break
            batch_report = PurgeReport(batches=1)
            groups: dict[tuple[Any, str], list[ResultReference]] = {}
            for reference in batch:
                groups.setdefault((reference.block_id, reference.storage_location), []).append(reference)
            for group_key, group in groups.items():
                batch_report.merge(
                    _purge_group(
                        group,
                        filesystems,
                        group_key,
                        user=user,
                        batch_size=batch_size,
                        verify_missing=verify_missing,
                    )
                )
            failed.update(batch_report.errors)
            audit_entry_add(
                audit=audit, report=batch_report, blocks={reference.block_id for reference in batch}
            )
            if job is not None:
                _job_add(job, batch_report, processed=len(batch))
        report.merge(batch_report)
        if progress is not None:
            progress(report)
    logger.info("%s purge (%s): %s", reason, source, report.summary())
    return report


def _job_add(job: CleanupJob, report: PurgeReport, *, processed: int) -> None:
    errors = list(report.errors.items())[:5]
    CleanupJob.objects.filter(pk=job.pk).update(
        processed=F("processed") + processed,
        deleted=F("deleted") + report.deleted,
        missing=F("missing") + report.missing,
        bytes_freed=F("bytes_freed") + report.bytes_freed,
        error_count=F("error_count") + len(report.errors),
        heartbeat_at=timezone.now(),
    )
    if errors:
        job.refresh_from_db(fields=["outcome"])
        messages = job.outcome.get("errors", [])
        job.outcome["errors"] = (messages + [f"result {ref_id}: {text}" for ref_id, text in errors])[:20]
        CleanupJob.objects.filter(pk=job.pk).update(outcome=job.outcome)


# A write in flight renames or removes its temporary file within seconds; one an hour old belongs
# to a process that was killed mid-write.
TEMP_FILE_MAX_AGE = dt.timedelta(hours=1)


def temp_files_sweep(*, older_than: dt.timedelta = TEMP_FILE_MAX_AGE) -> dict[str, list[str]]:
    """Delete leftover temporary files of killed writes on every local block and the default local
    storage path; returns the paths deleted per storage location. A storage that cannot be swept
    is logged and skipped (the next sweep tries again)."""
    from django.conf import settings

    filesystems: dict[str, LocalFileSystem] = {}
    for block in StorageBlock.objects.all():
        try:
            filesystem = block.filesystem()
        except StorageError:
            continue
        if isinstance(filesystem, LocalFileSystem):
            filesystems[filesystem.location] = filesystem
    default_path = getattr(settings, "RESULTS_LOCAL_STORAGE_PATH", "")
    if default_path:
        default = LocalFileSystem(basepath=default_path)
        filesystems.setdefault(default.location, default)
    swept: dict[str, list[str]] = {}
    for location, filesystem in filesystems.items():
        try:
            paths = filesystem.temp_files_sweep(older_than_seconds=older_than.total_seconds())
        except StorageError as exc:
            logger.warning("could not sweep temporary files under %s: %s", location, exc)
            continue
        if paths:
            logger.info("swept %d leftover temporary file(s) under %s", len(paths), location)
            swept[location] = paths
    return swept
