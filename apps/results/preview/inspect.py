"""Describe a stored result file for an operator without trusting it.

``result_inspect`` reads at most ``max_preview_bytes`` of the file, reports its layout and
metadata, and previews the value. It never unpickles: a pickle is only disassembled (pickletools)
to list the globals it would import and how many calls it would make. JSON payloads are decoded
with the JSON serializer (whose ``__class__`` hook imports only allowlisted types). Compressed
payloads are decompressed with a bound, so a small bomb cannot exhaust memory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from apps.results.format.codecs import base64_prefix_decode, decompress_prefix
from apps.results.format.errors import SerializationError
from apps.results.format.layout import METADATA_KEYS, Layout, head_read, serializer_config_expand

from .build import payload_string_read, serializer_is_base64
from .pickle_reader import pickle_preview

DEFAULT_MAX_PREVIEW_BYTES = 1024 * 1024
# A decompressed preview larger than this is cut: the preview needs the start of the value only.
MAX_DECOMPRESSED_PREVIEW_BYTES = 8 * 1024 * 1024
PREVIEW_REPR_CHARS = 2000
MAX_GLOBALS_LISTED = 100


class InspectError(Exception):
    """The location cannot be read or is not a file this command understands."""


# -- reading a bounded head ------------------------------------------------------------------------


def location_head_read(
    *, location: str, max_bytes: int, endpoint_url: str | None = None
) -> tuple[bytes, int]:
    """(the first ``max_bytes`` bytes, the total size) of a local path, file:// URL or s3:// URL."""
    parts = urlsplit(location)
    if parts.scheme == "s3":
        return _s3_head_read(
            bucket=parts.netloc,
            key=unquote(parts.path.lstrip("/")),
            max_bytes=max_bytes,
            endpoint_url=endpoint_url,
        )
    if parts.scheme == "file":
        path = Path(unquote(parts.path))
    elif parts.scheme in ("", "local") or (len(parts.scheme) == 1 and os.name == "nt"):
        path = Path(location)
    else:
        raise InspectError(f"unsupported location {location!r}: give a path, a file:// URL or an s3:// URL")
    try:
        with path.open("rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            return stream.read(max_bytes), size
    except FileNotFoundError as error:
        raise InspectError(f"no file at {str(path)!r}") from error
    except IsADirectoryError as error:
        raise InspectError(f"{str(path)!r} is a directory, not a result file") from error
    except PermissionError as error:
        raise InspectError(f"no permission to read {str(path)!r}") from error


def _s3_head_read(*, bucket: str, key: str, max_bytes: int, endpoint_url: str | None) -> tuple[bytes, int]:
    from apps.blocks.filesystems import S3, ObjectNotFoundError, StorageError

    if not bucket or not key:
        raise InspectError("an s3 location needs a bucket and a key: s3://bucket/path/to/key")
    storage = S3(
        bucket_path=bucket,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
        endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL"),
        region_name=os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION"),
    )
    try:
        size = storage.size(key)
        return storage.read_range(key, 0, min(max_bytes, size)), size
    except ObjectNotFoundError as error:
        raise InspectError(f"no object s3://{bucket}/{key}") from error
    except StorageError as error:
        raise InspectError(f"cannot read s3://{bucket}/{key}: {error}") from error


# -- payloads, read with the preview's readers --------------------------------------------------------


def pickle_summary(*, data: bytes) -> dict[str, Any]:
    """What a pickle would import and call, from the static pickle reader; nothing is executed or imported."""
    _, found = pickle_preview(data, max_nodes=1)
    imports = [entry["path"] for entry in found["imports"]]
    summary: dict[str, Any] = {
        "kind": "pickle",
        "protocol": found["protocol"],
        "imports": imports[:MAX_GLOBALS_LISTED],
        "imports_total": len(imports),
        "calls": found["call_count"],
        "opcodes": found["opcodes"],
        "complete": found["complete"],
    }
    if not found["complete"]:
        problem = found.get("error") or "no STOP opcode"
        summary["note"] = f"disassembly stopped early ({problem}); the pickle is cut or corrupt"
    return summary


def payload_report(*, payload: bytes, serializer: Any, complete: bool) -> dict[str, Any]:
    """Report on serializer output ``payload`` (maybe only its head) without running any pickle."""
    config = serializer_config_expand(serializer)
    kind = config["type"] if config is not None else None
    try:
        if kind == "pickle":
            data, _ = base64_prefix_decode(payload)
            return pickle_summary(data=data)
        if kind == "compressed":
            library = config["compressionlib"]
            compressed, whole = base64_prefix_decode(payload)
            inner, cut = decompress_prefix(
                compressed, compressionlib=library, limit=MAX_DECOMPRESSED_PREVIEW_BYTES
            )
            report = payload_report(
                payload=inner, serializer=config["serializer"], complete=complete and whole and not cut
            )
            report["compression"] = {
                "lib": library,
                "compressed_bytes": len(compressed),
                "decompressed_bytes_previewed": len(inner),
            }
            return report
        if kind == "json":
            return _json_preview(payload=payload, serializer=config, complete=complete)
    except SerializationError as error:
        return {"kind": kind, "error": f"cannot decode the payload: {error}"}
    return {
        "kind": kind or "unknown",
        "error": f"unknown serializer type {kind!r}; the payload is not previewed",
    }


def _json_preview(*, payload: bytes, serializer: dict, complete: bool) -> dict[str, Any]:
    if not complete:
        text = payload[:PREVIEW_REPR_CHARS].decode("utf-8", errors="replace")
        return {
            "kind": "json",
            "complete": False,
            "text": text,
            "note": "the payload is larger than the preview",
        }
    from apps.results.format.serializers import serializer_from

    try:
        value = serializer_from(serializer).loads(payload)
    except (SerializationError, ValueError, TypeError) as error:
        text = payload[:PREVIEW_REPR_CHARS].decode("utf-8", errors="replace")
        return {"kind": "json", "complete": True, "text": text, "error": f"cannot decode: {error}"}
    text = repr(value)
    return {
        "kind": "json",
        "complete": True,
        "python_type": f"{type(value).__module__}.{type(value).__qualname__}",
        "repr": text[:PREVIEW_REPR_CHARS] + ("…" if len(text) > PREVIEW_REPR_CHARS else ""),
    }


def result_inspect(
    *, location: str, max_preview_bytes: int = DEFAULT_MAX_PREVIEW_BYTES, endpoint_url: str | None = None
) -> dict[str, Any]:
    """Describe the result file at ``location``: layout, metadata, size and a safe preview of the value."""
    if max_preview_bytes <= 0:
        raise InspectError("max_preview_bytes must be positive")
    head, size = location_head_read(location=location, max_bytes=max_preview_bytes, endpoint_url=endpoint_url)
    result_head = head_read(head, size=size)
    layout = result_head.layout
    report: dict[str, Any] = {
        "location": location,
        "size_bytes": size,
        "bytes_read": len(head),
        "complete": result_head.complete,
        "layout": str(layout),
        "serializer": result_head.serializer,
        "serializer_guessed": result_head.serializer_guessed,
        "metadata": None,
    }
    if layout is Layout.V3_METADATA:
        report["metadata"] = _metadata_report(result_head.fields)
        report["value"] = {
            "kind": "elsewhere",
            "note": "this file holds metadata only; the value is at storage_key",
        }
    elif layout in (Layout.V3_RECORD, Layout.V2_BLOB):
        report["metadata"] = _metadata_report(result_head.metadata or {})
        serializer = report["metadata"]["serializer"]
        if result_head.payload_start is not None:
            payload, closed = payload_string_read(
                head, result_head.payload_start, base64_payload=serializer_is_base64(serializer)
            )
            report["value"] = payload_report(payload=payload, serializer=serializer, complete=closed)
    elif layout is Layout.V3_RAW:
        report["value"] = payload_report(
            payload=head, serializer=result_head.serializer, complete=result_head.complete
        )
        report["value"]["kind"] += "?"
        report["value"]["note"] = (
            "a raw payload without metadata: its serializer is a guess from its first bytes"
        )
    else:
        report["value"] = {"kind": "unknown", "text": head[:200].decode("utf-8", errors="replace")}
    return report


def _metadata_report(metadata: dict) -> dict[str, Any]:
    return {name: metadata.get(name) for name in METADATA_KEYS}


def inspect_report_text(report: dict[str, Any]) -> str:
    """The report as lines for a terminal."""
    lines = [
        f"location:   {report['location']}",
        f"layout:     {report['layout']}",
        f"size:       {report['size_bytes']} bytes"
        + ("" if report["complete"] else f" (first {report['bytes_read']} read)"),
    ]
    metadata = report.get("metadata")
    if metadata:
        lines.append(f"serializer: {json.dumps(metadata.get('serializer'))}")
    elif report.get("serializer"):
        lines.append(f"serializer: {json.dumps(report['serializer'])} (guessed from the first bytes)")
    if metadata:
        for name in ("expiration", "prefect_version", "storage_key", "storage_block_id"):
            if metadata.get(name) is not None:
                lines.append(f"{name}: {metadata[name]}")
    value = report.get("value") or {}
    lines.append(f"value:      {value.get('kind', 'unknown')}")
    for name, label in (
        ("python_type", "type"),
        ("repr", "repr"),
        ("text", "text"),
        ("protocol", "protocol"),
        ("calls", "calls"),
        ("error", "error"),
        ("note", "note"),
    ):
        if value.get(name) is not None:
            lines.append(f"  {label + ':':<10}{value[name]}")
    if value.get("kind", "").startswith("pickle"):
        imports = value.get("imports") or []
        lines.append(f"  imports:  {len(imports)} (never executed: shown from a static disassembly)")
        lines.extend(f"    {name}" for name in imports)
    if value.get("compression"):
        compression = value["compression"]
        lines.append(
            f"  compression: {compression['lib']}, {compression['compressed_bytes']} bytes compressed, "
            f"{compression['decompressed_bytes_previewed']} decompressed for the preview"
        )
    return "\n".join(lines)
