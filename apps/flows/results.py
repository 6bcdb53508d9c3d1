"""Reading a recorded result back: literals from the database, the rest from storage."""

from __future__ import annotations

from typing import Any

from apps.results.records import ResultRecordMetadata
from apps.results.references import ResultUnreadableError, reference_filesystem
from apps.results.store import ResultStore


class ResultLoadError(RuntimeError):
    pass


def reference_value_load(reference: Any) -> Any:
    """The value a ResultReference stands for (this unpickles: workers and scripts only, never the web)."""
    if reference.is_literal:
        return reference.literal_value
    try:
        storage = reference_filesystem(reference)
    except ResultUnreadableError as exc:
        raise ResultLoadError(f"result {reference.pk}: {exc}") from exc
    store = ResultStore(
        result_storage=storage,
        serializer=reference.serializer_config or "pickle",
        storage_block_id=None if reference.block_id is None else str(reference.block_id),
        cache_result_in_memory=False,
    )
    return store.read(reference.key).result


def reference_metadata(reference: Any) -> ResultRecordMetadata:
    """The ResultRecordMetadata a stored ResultReference describes, as a state from Prefect's API holds it."""
    return ResultRecordMetadata.from_dict(
        {
            "storage_key": reference.key,
            "expiration": None if reference.expiration is None else reference.expiration.isoformat(),
            "serializer": reference.serializer_config or "pickle",
            "storage_block_id": None if reference.block_id is None else str(reference.block_id),
        }
    )
