"""Describe a stored result file for an operator without trusting it.

``result_inspect`` reads at most ``max_preview_bytes`` of the file, reports its layout and
metadata, and previews the value. It never unpickles: a pickle is only disassembled (pickletools)
to list the globals it would import and how many calls it would make. JSON payloads are decoded
with the JSON serializer (whose ``__class__`` hook imports only allowlisted types). Compressed
payloads are decompressed with a bound, so a small bomb cannot exhaust memory.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import io
import json
import lzma
import os
import pickletools
import re
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from apps.results.records import layout_detect

DEFAULT_MAX_PREVIEW_BYTES = 1024 * 1024
# A decompressed preview larger than this is cut: the preview needs the start of the value only.
MAX_DECOMPRESSED_PREVIEW_BYTES = 8 * 1024 * 1024
PREVIEW_REPR_CHARS = 2000
MAX_GLOBALS_LISTED = 100

_STRING_OPCODES = frozenset(
    {"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"}
)
_CALL_OPCODES = frozenset({"REDUCE", "NEWOBJ", "NEWOBJ_EX", "OBJ", "INST", "BUILD"})
_HEAD_KEY = re.compile(r'\{\s*"(metadata|serializer|storage_key|expiration|prefect_version)"\s*:\s*')
_JSON_DECODER = json.JSONDecoder()


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


# -- pickle: static summary only -------------------------------------------------------------------


def pickle_summary(*, data: bytes) -> dict[str, Any]:
    """What a pickle would import and call, found by disassembly; nothing is executed or imported."""
    imports: list[str] = []
    strings: list[str] = []
    memo: dict[int, Any] = {}
    top_string: str | None = None
    protocol = None
    opcode_count = 0
    call_count = 0
    complete = False
    problem = None
    try:
        for opcode, argument, _position in pickletools.genops(io.BytesIO(data)):
            opcode_count += 1
            name = opcode.name
            pushed_string = None
            if name == "PROTO":
                protocol = argument
            elif name in ("GLOBAL", "INST"):
                _append_unique(imports, str(argument).replace(" ", "."))
            elif name == "STACK_GLOBAL":
                qualified = f"{strings[-2]}.{strings[-1]}" if len(strings) >= 2 else "<computed>"
                del strings[-2:]
                _append_unique(imports, qualified)
            elif name in _STRING_OPCODES:
                pushed_string = argument if isinstance(argument, str) else repr(argument)
            elif name == "MEMOIZE":
                memo[len(memo)] = top_string
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[argument] = top_string
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                pushed_string = memo.get(argument)
            elif name == "STOP":
                complete = True
            if name in _CALL_OPCODES:
                call_count += 1
            if pushed_string is not None:
                strings.append(pushed_string)
                del strings[:-8]
            if name not in ("MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT", "FRAME"):
                top_string = pushed_string
    except (ValueError, EOFError, KeyError, UnicodeDecodeError, TypeError) as error:
        problem = str(error) or type(error).__name__
    summary: dict[str, Any] = {
        "kind": "pickle",
        "protocol": protocol,
        "imports": imports[:MAX_GLOBALS_LISTED],
        "imports_total": len(imports),
        "calls": call_count,
        "opcodes": opcode_count,
        "complete": complete,
    }
    if not complete:
        summary["note"] = (
            f"disassembly stopped early ({problem or 'no STOP opcode'}); the pickle is cut or corrupt"
        )
    return summary


def _append_unique(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


# -- payload decoding (bounded) --------------------------------------------------------------------


def _base64_prefix_decode(text: bytes) -> bytes:
    """Decode base64 that may be cut anywhere (a bounded head): the whole quartets only."""
    compact = re.sub(rb"[^A-Za-z0-9+/=]", b"", text)
    compact = compact[: len(compact) - len(compact) % 4]
    try:
        return base64.b64decode(compact)
    except binascii.Error:
        # A padding character inside a cut stream: decode up to it.
        return base64.b64decode(compact[: compact.find(b"=") // 4 * 4])


def _decompress_bounded(*, data: bytes, compressionlib: str) -> tuple[bytes, bool]:
    """(decompressed bytes up to the bound, whether the output was cut by the bound)."""
    limit = MAX_DECOMPRESSED_PREVIEW_BYTES
    if compressionlib in ("zlib", "gzip"):
        decompressor = zlib.decompressobj(wbits=31 if compressionlib == "gzip" else 15)
        output = decompressor.decompress(data, limit)
        return output, bool(decompressor.unconsumed_tail)
    if compressionlib == "bz2":
        decompressor = bz2.BZ2Decompressor()
        output = decompressor.decompress(data, limit)
        return output, not decompressor.needs_input and not decompressor.eof
    if compressionlib == "lzma":
        decompressor = lzma.LZMADecompressor()
        output = decompressor.decompress(data, limit)
        return output, not decompressor.needs_input and not decompressor.eof
    raise InspectError(f"unknown compression library {compressionlib!r} (known: lzma, zlib, bz2, gzip)")


def payload_preview(*, payload: bytes, serializer: dict | None, complete: bool) -> dict[str, Any]:
    """Preview of serializer output ``payload`` (maybe only its head) without running any pickle."""
    if serializer is None:
        return _raw_payload_preview(payload=payload, complete=complete)
    if isinstance(serializer, str):
        serializer = {"type": serializer}
    kind = serializer.get("type")
    if kind in ("compressed/pickle", "compressed/json"):
        serializer = {"serializer": kind.split("/")[1], **serializer, "type": "compressed"}
        kind = "compressed"
    try:
        if kind == "pickle":
            return pickle_summary(data=_base64_prefix_decode(payload))
        if kind == "compressed":
            compressed = _base64_prefix_decode(payload)
            inner, cut = _decompress_bounded(
                data=compressed, compressionlib=serializer.get("compressionlib", "lzma")
            )
            preview = payload_preview(
                payload=inner, serializer=serializer.get("serializer"), complete=complete and not cut
            )
            preview["compression"] = {
                "lib": serializer.get("compressionlib", "lzma"),
                "compressed_bytes": len(compressed),
                "decompressed_bytes_previewed": len(inner),
            }
            return preview
        if kind == "json":
            return _json_preview(payload=payload, serializer=serializer, complete=complete)
    except (lzma.LZMAError, OSError, zlib.error, EOFError, ValueError) as error:
        return {"kind": kind or "unknown", "error": f"cannot decode the payload: {error}"}
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
    from apps.results.serializers import SerializationError, serializer_from

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


def _raw_payload_preview(*, payload: bytes, complete: bool) -> dict[str, Any]:
    """A raw payload names no serializer: guess pickle (base64 of 0x80...) or show the text."""
    stripped = payload.lstrip()
    if stripped[:1] in (b"{", b"[", b'"') or stripped[:4] in (b"null", b"true", b"fals"):
        return {
            "kind": "json?",
            "complete": complete,
            "text": stripped[:PREVIEW_REPR_CHARS].decode("utf-8", "replace"),
        }
    decoded = _base64_prefix_decode(payload[:64])
    if decoded[:1] == b"\x80":
        summary = pickle_summary(data=_base64_prefix_decode(payload))
        summary["kind"] = "pickle?"
        return summary
    return {
        "kind": "unknown",
        "complete": complete,
        "text": stripped[:200].decode("utf-8", errors="replace"),
        "note": "a raw payload without metadata: its serializer (and compression) is recorded elsewhere",
    }


# -- the file layouts ------------------------------------------------------------------------------


def _json_string_at(text: str, start: int) -> tuple[str, bool]:
    """The JSON string literal whose opening quote is at ``start``: (its value, whether it is complete)."""
    try:
        value, _ = _JSON_DECODER.raw_decode(text, start)
        return value, True
    except ValueError:
        pass
    body = text[start + 1 :]
    body = re.sub(r"\\(u[0-9a-fA-F]{0,3})?$", "", body)
    try:
        return json.loads(f'"{body}"'), False
    except ValueError:
        return body.replace("\\n", "\n"), False


def _head_fields(text: str) -> dict[str, Any]:
    """Top-level keys of a JSON object that may be cut: complete values, and a cut string value."""
    fields: dict[str, Any] = {}
    position = text.find("{")
    if position < 0:
        return fields
    position += 1
    key_pattern = re.compile(r'\s*,?\s*"([^"\\]*)"\s*:\s*')
    while True:
        match = key_pattern.match(text, position)
        if match is None:
            return fields
        key, position = match.group(1), match.end()
        if text.startswith('"', position):
            value, complete = _json_string_at(text, position)
            fields[key] = value
            if not complete:
                fields.setdefault("__cut__", key)
                return fields
            _, position = _JSON_DECODER.raw_decode(text, position)
            continue
        try:
            fields[key], position = _JSON_DECODER.raw_decode(text, position)
        except ValueError:
            fields.setdefault("__cut__", key)
            return fields


def result_inspect(
    *, location: str, max_preview_bytes: int = DEFAULT_MAX_PREVIEW_BYTES, endpoint_url: str | None = None
) -> dict[str, Any]:
    """Describe the result file at ``location``: layout, metadata, size and a safe preview of the value."""
    if max_preview_bytes <= 0:
        raise InspectError("max_preview_bytes must be positive")
    head, size = location_head_read(location=location, max_bytes=max_preview_bytes, endpoint_url=endpoint_url)
    complete = len(head) >= size
    layout = str(getattr(layout_detect(head), "value", layout_detect(head)))
    report: dict[str, Any] = {
        "location": location,
        "size_bytes": size,
        "bytes_read": len(head),
        "complete": complete,
        "layout": layout,
    }
    text = head.decode("utf-8", errors="replace")
    if layout == "v3-record":
        fields = _head_fields(text)
        metadata = fields.get("metadata") if isinstance(fields.get("metadata"), dict) else {}
        report["metadata"] = _metadata_report(metadata)
        payload = fields.get("result")
        if isinstance(payload, str):
            report["value"] = payload_preview(
                payload=payload.encode(),
                serializer=metadata.get("serializer"),
                complete="__cut__" not in fields,
            )
    elif layout == "v2-blob":
        fields = _head_fields(text)
        report["metadata"] = {
            "serializer": fields.get("serializer"),
            "prefect_version": fields.get("prefect_version"),
            "expiration": None,
            "storage_key": None,
        }
        payload = fields.get("data")
        if isinstance(payload, str):
            report["value"] = payload_preview(
                payload=payload.encode(),
                serializer=fields.get("serializer"),
                complete="__cut__" not in fields,
            )
    elif layout == "v3-metadata":
        report["metadata"] = _metadata_report(_head_fields(text))
        report["value"] = {
            "kind": "elsewhere",
            "note": "this file holds metadata only; the value is at storage_key",
        }
    elif layout == "v3-raw":
        report["metadata"] = None
        report["value"] = payload_preview(payload=head, serializer=None, complete=complete)
    else:
        report["metadata"] = None
        report["value"] = {"kind": "unknown", "text": text[:200]}
    return report


def _metadata_report(metadata: dict) -> dict[str, Any]:
    return {
        "serializer": metadata.get("serializer"),
        "expiration": metadata.get("expiration"),
        "prefect_version": metadata.get("prefect_version"),
        "storage_key": metadata.get("storage_key"),
        "storage_block_id": metadata.get("storage_block_id"),
    }


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
