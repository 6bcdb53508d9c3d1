"""The contents of a stored result: its size, its bytes streamed in chunks, a download name, the safe
static preview and the sandboxed decode."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.conf import settings

from .format.layout import layout_detect
from .models import ResultReference
from .preview import Preview, preview_build, raw_head, value_to_preview
from .preview.sandbox import DEFAULT_TIMEOUT_S, sandbox_decode
from .references import ResultUnreadableError, reference_filesystem

# A sandboxed decode reads the whole file; beyond this it is refused rather than filling memory.
DECODE_MAX_BYTES = 256 * 1024 * 1024
STREAM_CHUNK_BYTES = 256 * 1024


def reference_size(reference: ResultReference) -> int:
    filesystem = reference_filesystem(reference)
    try:
        return filesystem.size(reference.key)
    except Exception as error:
        raise ResultUnreadableError(f"the stored file cannot be read: {error}") from error


def reference_stream(*, reference: ResultReference, chunk_size: int = STREAM_CHUNK_BYTES) -> Iterator[bytes]:
    """The stored bytes in chunks, read through ``open_read`` (never the whole object in memory).

    The file is opened before the first chunk is yielded, so a missing file fails before a response
    has started.
    """
    filesystem = reference_filesystem(reference)
    try:
        handle = filesystem.open_read(reference.key)
    except Exception as error:
        raise ResultUnreadableError(f"the stored file cannot be read: {error}") from error

    def chunks() -> Iterator[bytes]:
        with handle:
            while True:
                chunk = handle.read(chunk_size)
                if not chunk:
                    return
                yield chunk

    return chunks()


def reference_download_extension(reference: ResultReference) -> str:
    """What the stored file is: records, blobs and metadata are JSON documents whatever they carry;
    a raw payload is what its serializer wrote."""
    if reference.layout == ResultReference.Layout.UNKNOWN:
        return ".bin"
    if reference.layout != ResultReference.Layout.V3_RAW:
        return ".json"
    serializer = reference.serializer_type
    if serializer == "json":
        return ".json"
    if serializer == "pickle":
        return ".pickle"
    return ".bin"


def reference_download_name(reference: ResultReference) -> str:
    name = reference.key.rstrip("/").rpartition("/")[2] or f"result-{reference.pk}"
    safe = "".join(char if char.isalnum() or char in "-_." else "_" for char in name)
    stem = safe[:120] or f"result-{reference.pk}"
    # A key that names its own extension ("report.csv") keeps it; Prefect's hash keys have none.
    return stem if "." in stem.lstrip(".") else stem + reference_download_extension(reference)


def reference_bytes_for_decode(*, reference: ResultReference, max_bytes: int = DECODE_MAX_BYTES) -> bytes:
    size = reference_size(reference)
    if size > max_bytes:
        raise ResultUnreadableError(
            f"the stored file is {size:,} bytes; the sandbox decodes files up to {max_bytes:,} bytes"
        )
    return b"".join(reference_stream(reference=reference))


def reference_preview(*, reference: ResultReference) -> dict[str, Any]:
    """The safe, static preview of a reference as a dict (``Preview.to_dict()``); never raises.

    Literals are shown from the database. Nothing here unpickles: see ``apps.results.preview``.
    """
    if reference.is_literal:
        preview = Preview(layout=ResultReference.Layout.LITERAL, format="literal", size_bytes=0)
        preview.value = value_to_preview(reference.literal_value)
        preview.notes.append("a literal result: the value is kept in the database, with no file")
        return preview.to_dict()
    try:
        filesystem = reference_filesystem(reference)
    except ResultUnreadableError as error:
        return Preview(error=str(error)).to_dict()
    serializer = reference.serializer_config if reference.layout == ResultReference.Layout.V3_RAW else None
    preview = preview_build(fs=filesystem, key=reference.key, serializer=serializer)
    if preview.error and preview.raw_head is None:
        preview.raw_head = raw_head(b"")
    return preview.to_dict()


def reference_decode(*, reference: ResultReference, timeout: float | None = None) -> dict[str, Any]:
    """Decode a reference for real in the sandboxed process; a JSON-safe answer, never an exception."""
    if reference.is_literal:
        value = value_to_preview(reference.literal_value)
        return {"ok": True, "format": "literal", "type": value["type"], "value": value}
    try:
        data = reference_bytes_for_decode(reference=reference)
    except ResultUnreadableError as error:
        return {"ok": False, "error_kind": "unreadable", "error": str(error)}
    layout = reference.layout
    if layout in (ResultReference.Layout.UNKNOWN, ResultReference.Layout.LITERAL):
        layout = layout_detect(data)
    serializer = reference.serializer_config if layout == ResultReference.Layout.V3_RAW else None
    return sandbox_decode(
        data=data,
        serializer_config=serializer,
        layout=layout,
        timeout=timeout or DEFAULT_TIMEOUT_S,
        isolation=settings.RESULTDECK_SANDBOX_ISOLATION,
    )
