"""Indexing a storage block: adopt result files that Prefect 2.x/3.x (or this project) wrote there.

Every object under the block is listed; only a bounded head of each is read (a range read), which
is enough to tell its layout, serializer, expiration and writer. Prefect 3 metadata files
(``metadata_storage``) are not results themselves: they describe the raw payload stored under
their ``storage_key`` and are attached to it as its ``metadata_location``. Lock files, our
temporary and probe files, and files that are no result at all are skipped. A second run adds
only files that have no reference yet.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from apps.blocks.filesystems import (
    PROBE_KEY_PREFIX,
    TEMP_FILE_SUFFIX,
    ObjectInfo,
    StorageError,
    WritableFileSystem,
)

from .format.layout import LAYOUT_HEAD_BYTES, Layout, head_read
from .format.records import RecordFormatError, expiration_parse
from .models import ExpirationSource, ResultReference
from .references import serializer_label, storage_location_of

logger = logging.getLogger(__name__)

INDEX_HEAD_BYTES = LAYOUT_HEAD_BYTES
LOCK_SUFFIX = ".lock"
_INSERT_BATCH = 1000


@dataclass
class FileClassification:
    """What the head of one stored object says about it."""

    info: ObjectInfo
    layout: Layout
    serializer_config: dict | None = None
    expiration: dt.datetime | None = None
    prefect_version: str = ""
    storage_key: str | None = None  # of a metadata file: the payload it describes
    problem: str = ""


@dataclass
class IndexReport:
    listed: int = 0
    added: int = 0
    already_known: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    metadata_files: int = 0
    errors: dict[str, str] = field(default_factory=dict)  # key -> message
    by_layout: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "listed": self.listed,
            "added": self.added,
            "already_known": self.already_known,
            "skipped": dict(self.skipped),
            "metadata_files": self.metadata_files,
            "errors": dict(list(self.errors.items())[:20]),
            "error_count": len(self.errors),
            "by_layout": dict(self.by_layout),
        }


def key_is_ignored(key: str) -> str:
    """Why a listed key is not a result candidate ("" when it is one)."""
    name = key.rsplit("/", 1)[-1]
    if name.endswith(LOCK_SUFFIX):
        return "lock file"
    if name.endswith(TEMP_FILE_SUFFIX):
        return "temporary file"
    if name.startswith(PROBE_KEY_PREFIX):
        return "connection probe"
    return ""


def file_classify(*, info: ObjectInfo, head: bytes) -> FileClassification:
    """Layout, serializer, expiration and writer of a stored object, from its first bytes."""
    result_head = head_read(head[: info.size], size=info.size)
    found = FileClassification(info=info, layout=result_head.layout, serializer_config=result_head.serializer)
    if result_head.layout in (Layout.V3_RECORD, Layout.V2_BLOB, Layout.V3_METADATA):
        metadata = result_head.metadata
        if metadata is None:
            found.problem = "the head does not hold the file's metadata"
            return found
        found.prefect_version = str(metadata.get("prefect_version") or "")
        try:
            found.expiration = expiration_parse(metadata.get("expiration"))
        except RecordFormatError as exc:
            found.problem = str(exc)
        storage_key = metadata.get("storage_key")
        found.storage_key = storage_key if isinstance(storage_key, str) else None
    return found


def _key_matches(candidate: str, storage_key: str) -> bool:
    candidate, storage_key = candidate.strip("/"), storage_key.strip("/")
    return (
        candidate == storage_key
        or storage_key.endswith("/" + candidate)
        or candidate.endswith("/" + storage_key)
    )


def _pair_metadata(
    payloads: dict[str, FileClassification], metadata_files: list[FileClassification]
) -> dict[str, FileClassification]:
    """Payload key -> the metadata file that describes it."""
    by_name: dict[str, list[str]] = {}
    for key in payloads:
        by_name.setdefault(key.rsplit("/", 1)[-1], []).append(key)
    pairs: dict[str, FileClassification] = {}
    for metadata in metadata_files:
        if not metadata.storage_key:
            continue
        name = metadata.storage_key.rstrip("/").rsplit("/", 1)[-1]
        matches = [key for key in by_name.get(name, []) if _key_matches(key, metadata.storage_key)]
        if not matches:
            # Prefect writes metadata_storage/<key> beside result_storage/<key>: same relative key.
            matches = by_name.get(name, []) if len(by_name.get(name, [])) == 1 else []
        if matches:
            pairs[max(matches, key=len)] = metadata
    return pairs


ProgressCallback = Callable[[int, int], None]


def filesystem_index(
    *,
    filesystem: WritableFileSystem,
    block: Any = None,
    prefix: str = "",
    progress: ProgressCallback | None = None,
    workers: int = 16,
) -> IndexReport:
    """Create a reference for every result file under ``prefix`` that has none yet."""
    from .retention import retention_expiration_for

    report = IndexReport()
    location = storage_location_of(filesystem)
    known_keys = set(ResultReference.objects.filter(storage_location=location).values_list("key", flat=True))
    known_keys |= set(
        ResultReference.objects.filter(storage_location=location)
        .exclude(metadata_location="")
        .values_list("metadata_location", flat=True)
    )
    candidates: list[ObjectInfo] = []
    for info in filesystem.list(prefix):
        report.listed += 1
        reason = key_is_ignored(info.key)
        if reason:
            report.skip(reason)
        elif info.key in known_keys:
            report.already_known += 1
        else:
            candidates.append(info)
    total = len(candidates)
    if progress:
        progress(0, total)

    def read_head(info: ObjectInfo) -> FileClassification:
        try:
            head = filesystem.read_range(info.key, 0, INDEX_HEAD_BYTES) if info.size else b""
        except StorageError as exc:
            return FileClassification(info=info, layout=Layout.UNKNOWN, problem=f"unreadable: {exc}")
        return file_classify(info=info, head=head)

    classified: list[FileClassification] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for done, found in enumerate(pool.map(read_head, candidates), start=1):
            classified.append(found)
            if progress and (done % 200 == 0 or done == total):
                progress(done, total)

    payloads: dict[str, FileClassification] = {}
    metadata_files: list[FileClassification] = []
    for found in classified:
        if found.problem.startswith("unreadable"):
            report.errors[found.info.key] = found.problem
        elif found.layout == Layout.UNKNOWN:
            report.skip("not a result file")
        elif found.layout == Layout.V3_METADATA:
            metadata_files.append(found)
        else:
            payloads[found.info.key] = found
    report.metadata_files = len(metadata_files)
    pairs = _pair_metadata(payloads, metadata_files)
    paired_metadata = {id(metadata) for metadata in pairs.values()}
    # Metadata whose payload is not in this block still names a result: keep it as metadata-only.
    for metadata in metadata_files:
        if id(metadata) not in paired_metadata:
            payloads[metadata.info.key] = metadata

    block_id = getattr(block, "pk", block)
    new_references: list[ResultReference] = []
    for key, found in payloads.items():
        metadata = pairs.get(key)
        described = metadata or found
        serializer_config = described.serializer_config or found.serializer_config
        created = found.info.modified or dt.datetime.now(dt.UTC)
        expiration, source = described.expiration, ExpirationSource.RECORD if described.expiration else ""
        if expiration is None:
            expiration = retention_expiration_for(block=block_id, flow_name=None, created=created)
            source = ExpirationSource.POLICY if expiration else ""
        new_references.append(
            ResultReference(
                block_id=block_id,
                storage_location=location,
                key=key,
                metadata_location=metadata.info.key if metadata else "",
                layout=found.layout.value,
                serializer_type=serializer_label(serializer_config),
                serializer_config=serializer_config,
                size_bytes=found.info.size,
                prefect_version=described.prefect_version,
                expiration=expiration,
                expiration_source=source,
                created=created,
            )
        )
        report.by_layout[found.layout.value] = report.by_layout.get(found.layout.value, 0) + 1
    for start in range(0, len(new_references), _INSERT_BATCH):
        # ignore_conflicts: a concurrent index run (or the engine) may have added the same key.
        created_rows = ResultReference.objects.bulk_create(
            new_references[start : start + _INSERT_BATCH], ignore_conflicts=True
        )
        report.added += len(created_rows)
    if block_id is not None:
        from .retention import retention_policy_for

        policy = retention_policy_for(block=block_id, flow_name=None)
        if policy is not None:
            ResultReference.objects.filter(
                storage_location=location,
                expiration_source=ExpirationSource.POLICY,
                retention_policy__isnull=True,
            ).update(retention_policy=policy)
    logger.info("indexed %s: %s", location, report.as_dict())
    return report


def block_index(*, block: Any, prefix: str = "", progress: ProgressCallback | None = None) -> IndexReport:
    """Index a saved storage block (a StorageBlock row)."""
    from apps.blocks.services import block_filesystem

    return filesystem_index(filesystem=block_filesystem(block), block=block, prefix=prefix, progress=progress)
