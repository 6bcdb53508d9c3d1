"""Reading a recorded result back: literals from the database, the rest from storage."""

from __future__ import annotations

from typing import Any


class ResultLoadError(RuntimeError):
    pass


def reference_storage(reference: Any) -> Any:
    """The filesystem a reference points into: its saved block, else its recorded local location."""
    from apps.blocks.filesystems import LocalFileSystem

    if reference.block_id is not None:
        from apps.blocks.services import block_filesystem

        return block_filesystem(reference.block)
    location = reference.storage_location
    if location.startswith("/"):
        return LocalFileSystem(basepath=location)
    raise ResultLoadError(
        f"result {reference.pk} is stored at {location!r} through a filesystem not saved as a block, "
        "so its credentials are unknown here; read it with the filesystem that wrote it"
    )


def reference_value_load(reference: Any) -> Any:
    """The value a ResultReference stands for (this unpickles: workers and scripts only, never the web)."""
    from apps.results.store import ResultStore

    if reference.is_literal:
        return reference.literal_value
    if reference.purged_at is not None:
        raise ResultLoadError(f"result {reference.pk} was purged on {reference.purged_at:%Y-%m-%d %H:%M}")
    storage = reference_storage(reference)
    store = ResultStore(
        result_storage=storage,
        serializer=reference.serializer_config or "pickle",
        storage_block_id=None if reference.block_id is None else str(reference.block_id),
        cache_result_in_memory=False,
    )
    return store.read(reference.key).result
