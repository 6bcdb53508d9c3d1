"""The one layout detector and head reader of result files.

Pure module: no Django. Layouts (names as in the compatibility corpus):

* ``v3-record``: ``{"metadata": {"storage_key", "expiration", "serializer", "prefect_version",
  "storage_block_id"}, "result": "<serializer output>"}``, compact JSON (pydantic v2).
* ``v3-raw``: only the serializer output; the serializer comes from metadata stored
  elsewhere or from the writer's configuration.
* ``v3-metadata``: only the metadata object (Prefect's ``metadata_storage``).
* ``v2-blob``: ``{"serializer": {...}, "data": "<serializer output>", "prefect_version": ...}``.

``head_read`` decides from the first ``LAYOUT_HEAD_BYTES`` of a file and from whether that is the
whole file, never from more: the index, the inspect command and the previews read heads of
different sizes and must classify one file alike. It never unpickles.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass, field
from typing import Any

from .codecs import base64_prefix_decode, compression_of_magic, decompress_prefix
from .errors import SerializationError
from .serializers import (
    CompressedJSONSerializer,
    CompressedPickleSerializer,
    CompressedSerializer,
    JSONSerializer,
    PickleSerializer,
    Serializer,
)

LAYOUT_HEAD_BYTES = 64 * 1024
METADATA_KEYS = ("storage_key", "expiration", "serializer", "prefect_version", "storage_block_id")
PAYLOAD_KEYS = ("result", "data")
# A compressed raw payload is inflated this far to see what it holds.
GUESS_INFLATE_BYTES = 4096


class Layout(enum.StrEnum):
    V3_RECORD = "v3-record"
    V3_RAW = "v3-raw"
    V3_METADATA = "v3-metadata"
    V2_BLOB = "v2-blob"
    UNKNOWN = "unknown"


@dataclass
class ResultHead:
    """What the head of a result file says about it."""

    layout: Layout
    # Complete top-level fields before the payload (all of them for a metadata file).
    fields: dict[str, Any] = field(default_factory=dict)
    # Byte spans (start, end) in the head of the values in ``fields``.
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    # The payload string's key and the byte offset of its opening quote; None when not in the head.
    payload_key: str | None = None
    payload_start: int | None = None
    # Whether the head is the whole file.
    complete: bool = True
    # The serializer config the file records, or the guess for a raw payload (``serializer_guessed``).
    serializer: dict[str, Any] | None = None
    serializer_guessed: bool = False

    @property
    def metadata(self) -> dict[str, Any] | None:
        """The metadata object: a record's ``metadata``, or the fields of a blob or metadata file."""
        if self.layout is Layout.V3_RECORD:
            metadata = self.fields.get("metadata")
            return metadata if isinstance(metadata, dict) else None
        if self.layout in (Layout.V2_BLOB, Layout.V3_METADATA):
            return self.fields
        return None


def serializer_config_of(value: Any) -> dict[str, Any] | None:
    """A serializer as a config dict: files and settings also name one by a plain string ("json")."""
    if isinstance(value, str) and value:
        return {"type": value}
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        return value
    return None


def serializer_config_expand(value: Any) -> dict[str, Any] | None:
    """A serializer config with its shorthand spelled out: ``"compressed/pickle"`` is lzma around
    pickle, a compressed serializer names its library and inner serializer; None for no serializer."""
    config = serializer_config_of(value)
    if config is None:
        return None
    kind = config["type"]
    if kind in ("compressed/pickle", "compressed/json"):
        inner: dict[str, Any] | None = {"type": kind.split("/")[1]}
    elif kind == "compressed":
        inner = serializer_config_of(config.get("serializer")) or {"type": "pickle"}
    else:
        return config
    return {
        **config,
        "type": "compressed",
        "compressionlib": config.get("compressionlib") or "lzma",
        "serializer": inner,
    }


def layout_detect(data: bytes, *, size: int | None = None) -> Layout:
    """Which layout ``data`` (a whole file, or its head when ``size`` is larger) has, from its bytes."""
    return head_read(data, size=size).layout


def head_read(data: bytes, *, size: int | None = None) -> ResultHead:
    """Layout, fields and serializer of a result file from its head ``data``; ``size`` is the file's
    size when known (``None``: ``data`` is the whole file)."""
    head = bytes(data[:LAYOUT_HEAD_BYTES])
    complete = size is None or len(data) >= size
    if not head or head.isspace():
        return ResultHead(layout=Layout.UNKNOWN, complete=complete)
    whole = complete and len(data) <= LAYOUT_HEAD_BYTES
    if looks_like_json_object(head):
        found = _fields_scan(head)
        found.complete = complete
        document = _json_object(head) if whole else None
        if document is not None:
            found.layout = layout_of_document(document)
            # A whole file gives every field, also those written after the payload.
            found.fields = {
                key: value
                for key, value in document.items()
                if not (key in PAYLOAD_KEYS and isinstance(value, str))
            }
        else:
            found.layout = _layout_of_fields(found, head=head)
        if found.layout is not Layout.V3_RAW:
            metadata = found.metadata
            found.serializer = serializer_config_of((metadata or {}).get("serializer"))
            return found
    else:
        found = ResultHead(layout=Layout.V3_RAW, complete=complete)
    guess = raw_payload_guess_serializer(head, complete=whole)
    if guess is None:
        return ResultHead(layout=Layout.UNKNOWN, complete=complete)
    found.fields, found.spans, found.payload_key, found.payload_start = {}, {}, None, None
    found.serializer = guess.to_config()
    found.serializer_guessed = True
    return found


def layout_of_document(document: dict) -> Layout:
    """The layout of a whole, parsed JSON object."""
    if isinstance(document.get("metadata"), dict) and "result" in document:
        return Layout.V3_RECORD
    if "serializer" in document and "data" in document and "result" not in document:
        return Layout.V2_BLOB
    if "serializer" in document and set(document) <= set(METADATA_KEYS) and len(set(document)) >= 3:
        return Layout.V3_METADATA
    return Layout.V3_RAW


def _layout_of_fields(found: ResultHead, *, head: bytes) -> Layout:
    """Classify a (possibly cut) JSON object by the keys that come first."""
    keys = set(found.fields) | ({found.payload_key} if found.payload_key else set())
    if not keys:
        return Layout.V3_RAW if _parses_as_json(head) else Layout.UNKNOWN
    metadata = found.fields.get("metadata")
    if isinstance(metadata, dict) and "result" in keys:
        return Layout.V3_RECORD
    if "serializer" in keys and "data" in keys:
        return Layout.V2_BLOB
    if "serializer" in keys and keys <= set(METADATA_KEYS) and len(keys) >= 3:
        return Layout.V3_METADATA
    if isinstance(metadata, dict) and set(metadata) & {"serializer", "storage_key"}:
        return Layout.V3_RECORD  # cut before the result key
    return Layout.V3_RAW


_WHITESPACE = re.compile(r"[ \t\r\n]*")
_JSON_DECODER = json.JSONDecoder()


def _fields_scan(head: bytes) -> ResultHead:
    """The top-level fields of a JSON object up to its payload string, which may be cut anywhere."""
    # surrogateescape keeps one character per undecodable byte, so offsets map back to bytes.
    text = head.decode("utf-8", "surrogateescape")
    found = ResultHead(layout=Layout.UNKNOWN)
    position = _skip(text, text.find("{") + 1)

    def byte_offset(at: int) -> int:
        return len(text[:at].encode("utf-8", "surrogateescape"))

    while position < len(text) and text[position] != "}":
        try:
            key, position = _JSON_DECODER.raw_decode(text, position)
        except ValueError:
            break
        position = _skip(text, position)
        if not isinstance(key, str) or not text.startswith(":", position):
            break
        position = _skip(text, position + 1)
        if key in PAYLOAD_KEYS and found.payload_key is None and text.startswith('"', position):
            found.payload_key, found.payload_start = key, byte_offset(position)
            break
        try:
            value, end = _JSON_DECODER.raw_decode(text, position)
        except ValueError:
            break
        found.fields[key] = value
        found.spans[key] = (byte_offset(position), byte_offset(end))
        position = _skip(text, end)
        if not text.startswith(",", position):
            break
        position = _skip(text, position + 1)
    return found


def _skip(text: str, position: int) -> int:
    return _WHITESPACE.match(text, position).end()


def looks_like_json_object(head: bytes) -> bool:
    """Whether ``head`` starts a JSON object (after whitespace and a byte-order mark)."""
    return head.lstrip(b" \t\r\n\xef\xbb\xbf")[:1] == b"{"


def _json_object(data: bytes) -> dict | None:
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return document if isinstance(document, dict) else None


def _parses_as_json(head: bytes) -> bool:
    try:
        json.loads(head)
    except (ValueError, UnicodeDecodeError):
        return False
    return True


def _single_json_value(head: bytes, *, complete: bool) -> bool:
    """False for JSON lines and other text that holds more than one JSON value."""
    text = head.decode("utf-8", "ignore").strip()
    try:
        _, end = _JSON_DECODER.raw_decode(text)
    except ValueError:
        return not complete  # a cut head may still be the start of one value
    return not text[end:].strip()


_PICKLE_PROTOCOL_HEADS = tuple(bytes([0x80, protocol]) for protocol in range(2, 6))
_BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/=\r\n]+")


def _base64_head_decode(head: bytes, *, cut: bool) -> bytes | None:
    """The bytes of a head that is base64 text (only its base64 start when ``cut``), else None."""
    match = _BASE64_TEXT.match(head)
    if match is None or (not cut and match.end() != len(head)):
        return None
    try:
        decoded, _ = base64_prefix_decode(match.group(0))
    except SerializationError:
        return None
    return decoded or None


def raw_payload_guess_serializer(data: bytes, *, complete: bool | None = None) -> Serializer | None:
    """Best guess of the serializer that produced a raw payload, from its first bytes.

    Decodes a bounded head (base64, and at most ``GUESS_INFLATE_BYTES`` of decompressed output);
    never unpickles. ``complete`` says whether ``data`` is the whole payload (default: when it is
    no longer than the head).
    """
    head = bytes(data[:LAYOUT_HEAD_BYTES]).strip()
    if not head:
        return None
    if complete is None:
        complete = len(data) <= LAYOUT_HEAD_BYTES
    raw = _base64_head_decode(head, cut=not complete or len(head) >= LAYOUT_HEAD_BYTES)
    if raw is not None:
        if raw.startswith(_PICKLE_PROTOCOL_HEADS):
            return PickleSerializer()
        compressionlib = compression_of_magic(raw)
        if compressionlib is not None:
            try:
                inner, _ = decompress_prefix(raw, compressionlib=compressionlib, limit=GUESS_INFLATE_BYTES)
            except SerializationError:
                inner = b""
            inner = inner.lstrip()
            inner_raw = _base64_head_decode(inner[: len(inner) // 4 * 4], cut=True) if inner else None
            if inner_raw is not None and inner_raw.startswith(_PICKLE_PROTOCOL_HEADS):
                if compressionlib == "lzma":
                    return CompressedPickleSerializer()
                return CompressedSerializer(serializer=PickleSerializer(), compressionlib=compressionlib)
            if inner[:1] in (b"{", b"[", b'"') or inner[:4] in (b"null", b"true") or inner[:5] == b"false":
                if compressionlib == "lzma":
                    return CompressedJSONSerializer()
                return CompressedSerializer(serializer=JSONSerializer(), compressionlib=compressionlib)
    json_text = _parses_as_json(head) if complete else head[:1] in (b"{", b"[", b'"')
    if json_text and _single_json_value(head, complete=complete):
        return JSONSerializer()
    return None


__all__ = [
    "GUESS_INFLATE_BYTES",
    "LAYOUT_HEAD_BYTES",
    "METADATA_KEYS",
    "PAYLOAD_KEYS",
    "Layout",
    "ResultHead",
    "head_read",
    "layout_detect",
    "layout_of_document",
    "looks_like_json_object",
    "raw_payload_guess_serializer",
    "serializer_config_expand",
    "serializer_config_of",
]
