"""Previews of result files: read a bounded head, ask the one head reader for its layout, preview the
payload with its serializer. Nothing unpickles."""

from __future__ import annotations

import json
import re
from typing import Any

from apps.results.format.codecs import base64_prefix_decode, decompress_prefix
from apps.results.format.errors import SerializationError
from apps.results.format.layout import (
    METADATA_KEYS,
    Layout,
    head_read,
    serializer_config_expand,
    serializer_config_of,
)

from .json_tree import json_node, json_text_preview
from .nodes import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_NODES,
    METADATA_MAX_BYTES,
    RAW_HEAD_BYTES,
    Budget,
    Preview,
    PreviewError,
)
from .pickle_reader import pickle_preview

# -- payload decoding --------------------------------------------------------------------------------

_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
# bytes.translate drops line breaks in one pass; a regex substitution would hold a list entry per match.
_BASE64_JUNK = bytes(byte for byte in range(256) if byte not in _BASE64_ALPHABET)


def payload_preview(
    payload: bytes,
    *,
    serializer: Any,
    complete: bool,
    max_bytes: int,
    max_nodes: int,
    preview: Preview,
) -> None:
    """Fill ``preview`` with the value of serializer output ``payload`` (maybe only its head)."""
    config = serializer_config_expand(serializer)
    if config is None:
        raise PreviewError(f"the serializer {serializer!r} is not a serializer config")
    kind = config["type"]
    try:
        if kind == "compressed":
            library = config["compressionlib"]
            compressed, whole = base64_prefix_decode(payload)
            inner, cut = decompress_prefix(compressed, compressionlib=library, limit=max_bytes)
            preview.compression = {
                "library": library,
                "compressed_bytes": len(compressed),
                "decompressed_bytes": len(inner),
                "decompressed_cut": cut,
            }
            payload_preview(
                inner,
                serializer=config["serializer"],
                complete=complete and whole and not cut,
                max_bytes=max_bytes,
                max_nodes=max_nodes,
                preview=preview,
            )
            return
        if kind == "pickle":
            data, whole = base64_prefix_decode(payload)
            preview.format = "pickle"
            preview.value, preview.pickle = pickle_preview(data, max_nodes=max_nodes)
            if not preview.pickle["complete"] and complete and whole:
                preview.error = preview.pickle.get("error") or "the pickle is corrupt"
            return
    except SerializationError as error:
        raise PreviewError(str(error)) from error
    if kind == "json":
        preview.format = "json"
        text = payload.decode("utf-8", errors="replace" if not complete else "strict")
        preview.value, cut = json_text_preview(text, complete=complete, max_nodes=max_nodes)
        if cut:
            preview.notes.append("the JSON value is cut at the end of the previewed head")
        return
    raise PreviewError(f"unknown serializer type {kind!r}; the payload is not previewed")


def payload_string_read(head: bytes, start: int, *, base64_payload: bool) -> tuple[bytes, bool]:
    """(the content of the JSON string at ``start``, whether its closing quote is in ``head``).

    Base64 payloads hold no escapes but ``\\n``, so their bytes are taken directly; others are decoded.
    """
    if base64_payload:
        end = head.find(b'"', start + 1)
        body = head[start + 1 : end if end >= 0 else len(head)]
        return body.replace(b"\\n", b"\n"), end >= 0
    text = head[start:].decode("utf-8", "replace")
    try:
        value, _ = json.decoder.scanstring(text, 1)
        return value.encode("utf-8"), True
    except json.JSONDecodeError:
        body = re.sub(r"\\(u[0-9a-fA-F]{0,3})?$", "", text[1:])
        try:
            return json.loads(f'"{body}"').encode("utf-8"), False
        except ValueError:
            return body.encode("utf-8"), False


def serializer_is_base64(serializer: Any) -> bool:
    config = serializer_config_expand(serializer)
    return config is not None and config["type"] in ("pickle", "compressed")


def metadata_summary(metadata: dict[str, Any]) -> dict[str, Any]:
    return {name: metadata.get(name) for name in METADATA_KEYS}


def raw_head(data: bytes) -> dict[str, Any]:
    head = bytes(data[:RAW_HEAD_BYTES])
    return {"hex": head.hex(" ", 1), "text": head.decode("utf-8", errors="replace"), "length": len(head)}


def preview_from_bytes(
    data: bytes,
    *,
    total_size: int | None,
    metadata: dict[str, Any] | None = None,
    serializer: dict[str, Any] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> Preview:
    """A preview of a result file's head ``data``; ``total_size`` tells whether the head is the whole file.

    ``metadata`` (split metadata stored beside a raw payload) or ``serializer`` (known from the flow's
    configuration) say how a raw payload was written. Never raises: problems end up in ``error``.
    """
    preview = Preview(size_bytes=total_size, bytes_read=len(data))
    preview.head_complete = total_size is None or len(data) >= total_size
    try:
        _preview_fill(
            preview,
            bytes(data),
            size=total_size,
            metadata=metadata,
            serializer=serializer,
            max_bytes=max_bytes,
            max_nodes=max_nodes,
        )
    except PreviewError as error:
        preview.error = str(error)
    except RecursionError:
        preview.error = "the value is nested too deeply to preview"
    except MemoryError:
        preview.error = "the value is too large to preview"
    except Exception as error:
        preview.error = f"the file cannot be previewed ({type(error).__name__}: {error})"
    if preview.error or preview.format == "unknown":
        preview.raw_head = raw_head(data)
    return preview


def _preview_fill(
    preview: Preview,
    data: bytes,
    *,
    size: int | None,
    metadata: dict[str, Any] | None,
    serializer: dict[str, Any] | None,
    max_bytes: int,
    max_nodes: int,
) -> None:
    if not data:
        preview.layout = Layout.UNKNOWN
        raise PreviewError("the file is empty")
    head = head_read(data, size=size)
    preview.layout = head.layout
    if head.layout is Layout.V3_METADATA:
        fields = _whole_json(data, complete=head.complete)
        preview.metadata = metadata_summary(fields)
        preview.serializer = serializer_config_of(fields.get("serializer"))
        preview.format = "metadata"
        preview.notes.append("this file holds metadata only; the value is stored at its storage_key")
        return
    if head.layout in (Layout.V3_RECORD, Layout.V2_BLOB):
        payload_key = "result" if head.layout is Layout.V3_RECORD else "data"
        if head.layout is Layout.V3_RECORD:
            preview.metadata = metadata_summary(head.metadata or {})
        else:
            preview.metadata = {
                **dict.fromkeys(METADATA_KEYS),
                "serializer": head.fields.get("serializer"),
                "prefect_version": head.fields.get("prefect_version"),
            }
        preview.serializer = serializer_config_of(serializer) or head.serializer
        if head.payload_key != payload_key or head.payload_start is None:
            if payload_key in head.fields and head.fields[payload_key] is None:
                preview.format = "json"
                preview.value = json_node(None, key=None, budget=Budget(1))
                return
            raise PreviewError(f"the {head.layout} file has no readable {payload_key!r} field")
        payload, closed = payload_string_read(
            data, head.payload_start, base64_payload=serializer_is_base64(preview.serializer)
        )
        del data
        payload_preview(
            payload,
            serializer=preview.serializer,
            complete=closed,
            max_bytes=max_bytes,
            max_nodes=max_nodes,
            preview=preview,
        )
        return
    if metadata is not None:
        preview.metadata = metadata_summary(metadata)
    preview.serializer = serializer_config_of(serializer or (metadata or {}).get("serializer"))
    if preview.serializer is not None:
        # The caller knows how the payload was written: it is a raw payload whatever its bytes look like.
        preview.layout = Layout.V3_RAW
    elif head.serializer is not None:
        preview.serializer = head.serializer
        preview.notes.append(
            f"no serializer is recorded with this file; it looks like {head.serializer['type']}"
        )
    else:
        raise PreviewError("no result layout or serializer fits the first bytes of this file")
    payload_preview(
        data,
        serializer=preview.serializer,
        complete=head.complete,
        max_bytes=max_bytes,
        max_nodes=max_nodes,
        preview=preview,
    )


def _whole_json(data: bytes, *, complete: bool) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError as error:
        if not complete:
            raise PreviewError("the metadata file is larger than the previewed head") from error
        raise PreviewError(f"the file is not valid JSON: {error}") from error
    if not isinstance(value, dict):
        raise PreviewError("the file is JSON but not an object")
    return value


def preview_build(
    *,
    fs: Any,
    key: str,
    metadata_fs: Any = None,
    metadata_key: str | None = None,
    serializer: dict[str, Any] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> Preview:
    """A safe preview of the result stored at ``key`` in ``fs`` (a WritableFileSystem).

    Reads at most ``max_bytes`` with a range read. A raw payload's serializer comes from the split
    metadata (``metadata_fs``/``metadata_key``) or ``serializer``. Never raises.
    """
    try:
        size = fs.size(key)
        head = fs.read_range(key, 0, min(size, max_bytes)) if size else b""
    except Exception as error:
        return Preview(error=f"cannot read {key!r}: {error}", format="unknown")
    metadata = None
    if metadata_fs is not None and metadata_key:
        try:
            metadata_size = metadata_fs.size(metadata_key)
            raw = metadata_fs.read_range(metadata_key, 0, min(metadata_size, METADATA_MAX_BYTES))
            metadata = json.loads(raw)
            if not isinstance(metadata, dict):
                raise ValueError("the metadata file is not a JSON object")
        except Exception as error:
            preview = preview_from_bytes(
                head, total_size=size, serializer=serializer, max_bytes=max_bytes, max_nodes=max_nodes
            )
            preview.notes.append(f"the metadata at {metadata_key!r} cannot be read: {error}")
            return preview
    return preview_from_bytes(
        head,
        total_size=size,
        metadata=metadata,
        serializer=serializer,
        max_bytes=max_bytes,
        max_nodes=max_nodes,
    )
