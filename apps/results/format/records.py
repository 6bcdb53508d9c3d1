"""Result files: Prefect 3 ``ResultRecord`` JSON (what we write) and every layout we read.

Pure module: no Django.

The layouts it reads are described and detected in ``layout``.

``prefect_version`` in the files we write is ``RESULTDECK_VERSION``. Prefect 3 keeps that field
as a plain string (never parsed as a version), so it marks the writer without misleading
anyone into thinking a particular Prefect release wrote the file.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import pydantic_core

from .codecs import DEFAULT_MAX_DECODED_BYTES, STREAM_CHUNK_BYTES, WRITE_CHUNK_BYTES, ChunkedRawReader
from .layout import (
    LAYOUT_HEAD_BYTES,
    PAYLOAD_KEYS,
    Layout,
    layout_detect,
    layout_of_document,
    looks_like_json_object,
    raw_payload_guess_serializer,
)
from .serializers import (
    PickleSerializer,
    SerializationError,
    Serializer,
    serializer_from,
)

RESULTDECK_VERSION = "resultdeck-0.1.0"
UNKNOWN_PREFECT_VERSION = "unknown"


class RecordFormatError(SerializationError):
    """A result file that is not valid JSON, is truncated, or lacks required fields."""


class MetadataOnlyRecordError(RecordFormatError):
    """The bytes are a metadata file; the result itself lives under ``metadata.storage_key``."""

    def __init__(self, message: str, metadata: ResultRecordMetadata):
        super().__init__(message)
        self.metadata = metadata


# ---------------------------------------------------------------------------------------
# metadata
# ---------------------------------------------------------------------------------------
def expiration_to_utc(value: dt.datetime | None) -> dt.datetime | None:
    """Aware UTC datetime; a naive one is taken to be UTC already."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def expiration_parse(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordFormatError(f"metadata expiration must be an ISO-8601 string or null, got {value!r}")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise RecordFormatError(f"metadata expiration {value!r} is not an ISO-8601 datetime") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def storage_block_id_parse(value: Any) -> uuid.UUID | str | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        raise RecordFormatError(f"metadata storage_block_id must be a string or null, got {value!r}")
    try:
        return uuid.UUID(value)
    except ValueError:
        return value


@dataclass
class ResultRecordMetadata:
    storage_key: str | None = None
    expiration: dt.datetime | None = None
    serializer: Serializer = field(default_factory=PickleSerializer)
    prefect_version: str = RESULTDECK_VERSION
    storage_block_id: uuid.UUID | str | None = None

    def to_dict(self) -> dict:
        """The JSON object Prefect writes, key order included (datetimes still objects)."""
        return {
            "storage_key": self.storage_key,
            "expiration": expiration_to_utc(self.expiration),
            "serializer": self.serializer.to_config(),
            "prefect_version": self.prefect_version,
            "storage_block_id": None if self.storage_block_id is None else str(self.storage_block_id),
        }

    def dump_bytes(self) -> bytes:
        # pydantic_core writes exactly what Prefect's model_dump_json does (compact, "Z" for UTC).
        return pydantic_core.to_json(self.to_dict())

    @classmethod
    def from_dict(cls, data: Any) -> ResultRecordMetadata:
        if not isinstance(data, dict):
            raise RecordFormatError(f"result metadata must be a JSON object, got {type(data).__name__}")
        storage_key = data.get("storage_key")
        if storage_key is not None and not isinstance(storage_key, str):
            raise RecordFormatError(f"metadata storage_key must be a string or null, got {storage_key!r}")
        prefect_version = data.get("prefect_version", UNKNOWN_PREFECT_VERSION)
        if not isinstance(prefect_version, str):
            raise RecordFormatError(f"metadata prefect_version must be a string, got {prefect_version!r}")
        serializer_config = data.get("serializer")
        try:
            # Prefect's default when a file names none is pickle.
            serializer = serializer_from(serializer_config)
        except SerializationError as exc:
            raise RecordFormatError(f"metadata serializer is invalid: {exc}") from exc
        return cls(
            storage_key=storage_key,
            expiration=expiration_parse(data.get("expiration")),
            serializer=serializer,
            prefect_version=prefect_version,
            storage_block_id=storage_block_id_parse(data.get("storage_block_id")),
        )

    @classmethod
    def load_bytes(cls, data: bytes) -> ResultRecordMetadata:
        return cls.from_dict(_json_document(data, what="result metadata"))


def _json_document(data: bytes | str, *, what: str) -> Any:
    try:
        return json.loads(data)
    except UnicodeDecodeError as exc:
        raise RecordFormatError(f"{what} is not UTF-8 text: {exc}") from None
    except ValueError as exc:
        hint = " (the file looks truncated)" if "Unterminated" in str(exc) or "Expecting" in str(exc) else ""
        raise RecordFormatError(f"{what} is not valid JSON{hint}: {exc}") from None


# ---------------------------------------------------------------------------------------
# JSON string escaping, streamed
# ---------------------------------------------------------------------------------------
_NEEDS_GENERAL_ESCAPE = re.compile(rb'[\x00-\x09\x0b-\x1f"\\\x80-\xff]')


def json_string_body(text: str) -> str:
    """``text`` escaped as JSON string content, the way pydantic/serde_json escape it."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


class JsonStringWriter(io.RawIOBase):
    """Write-only file: UTF-8 bytes in, JSON-string-escaped bytes out (no quotes)."""

    def __init__(self, target: BinaryIO):
        super().__init__()
        self._target = target
        # Created on the first chunk that is not plain ASCII (base64 payloads never need it).
        self._decoder: codecs.IncrementalDecoder | None = None

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if type(data) is bytes and len(data) <= WRITE_CHUNK_BYTES:
            chunks = (data,)
            size = len(data)
        else:
            view = memoryview(data).cast("B")
            size = len(view)
            chunks = (
                bytes(view[start : start + WRITE_CHUNK_BYTES]) for start in range(0, size, WRITE_CHUNK_BYTES)
            )
        for chunk in chunks:
            decoder = self._decoder
            if (decoder is None or not decoder.getstate()[0]) and not _NEEDS_GENERAL_ESCAPE.search(chunk):
                self._target.write(chunk.replace(b"\n", b"\\n"))
                continue
            if decoder is None:
                decoder = self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise SerializationError(
                    f"serializer output is not UTF-8 text, a record cannot hold it: {exc}"
                ) from None
            self._target.write(json_string_body(text).encode("utf-8"))
        return size

    def write_base64_lines(self, data: bytes) -> None:
        """Write base64 text (its alphabet and newlines, as ``encodebytes`` makes it): only the
        newlines need escaping, so the content check of ``write`` is skipped."""
        if self._decoder is not None and self._decoder.getstate()[0]:
            self.write(data)
        else:
            self._target.write(data.replace(b"\n", b"\\n"))

    def finish(self) -> None:
        if self._decoder is None:
            return
        try:
            self._decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise SerializationError(f"serializer output ends inside a UTF-8 character: {exc}") from None


# A run of JSON string content: plain bytes and complete two-character escapes.
_STRING_RUN = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)
_BACKSLASH = 0x5C
# The longest escape, ``\uXXXX``: a backslash this close to the end of what was read may start
# an escape that continues in the next read.
_LONGEST_ESCAPE = 6


class JsonStringReader(ChunkedRawReader):
    """Read-only file over the *content* of a JSON string that starts at the current position
    of a text source; yields the unescaped value as UTF-8 and stops at the closing quote.

    Works on the file's bytes. A stretch that is plain ASCII whose only escapes are ``\n`` (every
    base64 payload) is unescaped with one ``bytes.replace``; anything else goes through the JSON
    decoder. ``read(size)`` hands out whole unescaped chunks without copying them.
    """

    def __init__(self, source: _TextSource):
        super().__init__()
        self._source = source
        self._fp = source.fp
        self._carry = source.detach_bytes()  # bytes not yet unescaped
        self._carry_is_partial = False  # the carry ends inside an escape: read more before decoding
        self._decoder: codecs.IncrementalDecoder | None = None  # UTF-8 across reads, general path
        self._carry_text = ""  # a high surrogate waiting for its pair
        self.closed_quote = False

    def _next_chunk(self) -> bytes | None:
        if self.closed_quote:
            return None
        self._fill()
        return self._pending

    def _next_data(self) -> bytearray:
        data, self._carry = self._carry, b""
        if data and not self._carry_is_partial:
            return bytearray(data)
        buffer = bytearray(len(data) + STREAM_CHUNK_BYTES)
        buffer[: len(data)] = data
        read = self._fp.readinto(memoryview(buffer)[len(data) :])
        if not read:
            raise RecordFormatError("result file is truncated: the result string never ends")
        del buffer[len(data) + read :]
        return buffer

    def _fill(self) -> None:
        data = self._next_data()
        self._carry_is_partial = False
        self._offset = 0
        if (
            not self._carry_text
            and (self._decoder is None or not self._decoder.getstate()[0])
            and data.isascii()
            and self._fill_plain(data)
        ):
            return
        self._fill_general(bytes(data))

    def _fill_plain(self, data: bytearray) -> bool:
        """Unescape ASCII ``data`` whose only escapes are ``\n``; False (nothing consumed) otherwise.

        Lines of equal length (base64 as ``encodebytes`` writes it) are unescaped by strided
        slice operations; other layouts with one ``bytes.replace``.
        """
        quote = data.find(b'"')
        end = len(data) if quote < 0 else quote
        tail = b""
        if quote < 0 and end and data[end - 1] == _BACKSLASH:
            tail, end = b"\\", end - 1  # an escape cut by the read: finish it next time
        body = data[:end]
        unescaped = _escaped_lines_unescape(body)
        if unescaped is None:
            unescaped = bytes(body).replace(b"\\n", b"\n")
            if b"\\" in unescaped:
                return False
        if quote >= 0:
            self.closed_quote = True
            self._source.push_back_bytes(bytes(data[quote + 1 :]))
        else:
            self._carry, self._carry_is_partial = tail, bool(tail)
        self._pending = unescaped
        return True

    def _fill_general(self, data: bytes) -> None:
        end = _STRING_RUN.match(data).end()
        if end < len(data) and data[end] == 0x22:  # '"'
            body = data[:end]
            self.closed_quote = True
            self._source.push_back_bytes(data[end + 1 :])
        else:
            # Everything read is string content; an escape near the end may be incomplete.
            body, rest = data[:end], data[end:]
            slash = body.rfind(b"\\", max(0, len(body) - _LONGEST_ESCAPE))
            if slash >= 0:
                run = slash
                while run > 0 and body[run - 1] == _BACKSLASH:
                    run -= 1
                if (slash - run) % 2 == 0:  # this backslash starts an escape: keep it for later
                    body, rest = body[:slash], body[slash:] + rest
            self._carry, self._carry_is_partial = rest, True
        if self._decoder is None:
            self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        try:
            text = self._decoder.decode(body, final=self.closed_quote)
        except UnicodeDecodeError as exc:
            raise RecordFormatError(f"result file is not UTF-8 text: {exc}") from None
        try:
            decoded = json.loads('"' + text + '"')
        except ValueError as exc:
            raise RecordFormatError(f"result string is not valid JSON: {exc}") from None
        decoded = self._carry_text + decoded
        self._carry_text = ""
        if decoded and not self.closed_quote and "\ud800" <= decoded[-1] <= "\udbff":
            decoded, self._carry_text = decoded[:-1], decoded[-1]
        try:
            self._pending = decoded.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise RecordFormatError(f"result string holds an invalid character: {exc}") from None


def _escaped_lines_unescape(body: bytearray) -> bytearray | None:
    """``body`` with its ``\n`` escapes turned into newlines, when those escapes sit at a fixed
    stride and there is no other backslash; None otherwise."""
    first = body.find(b"\\n")
    if first < 0:
        return None if b"\\" in body else body
    second = body.find(b"\\n", first + 2)
    stride = second - first if second >= 0 else len(body)
    count = (len(body) - 2 - first) // stride + 1
    stop = first + count * stride
    if body[first:stop:stride] != b"\\" * count or body[first + 1 : stop : stride] != b"n" * count:
        return None
    unescaped = bytearray(body)
    del unescaped[first:stop:stride]
    unescaped[first : first + count * (stride - 1) : stride - 1] = b"\n" * count
    return None if b"\\" in unescaped else unescaped


class _TextSource:
    """UTF-8 text from a binary file, chunk by chunk, with push-back.

    With ``record=True`` it keeps the raw bytes it read, so a caller that gives up on
    streaming can still read the file whole; ``stop_recording`` ends that.
    """

    def __init__(self, fp: BinaryIO, head: bytes = b"", *, record: bool = False):
        self._fp = fp
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._buffer = ""
        self._eof = False
        self._recorded: list[bytes] | None = [head] if record else None
        if head:
            self._buffer = self._decode(head, final=False)

    def _decode(self, data: bytes, *, final: bool) -> str:
        try:
            return self._decoder.decode(data, final=final)
        except UnicodeDecodeError as exc:
            raise RecordFormatError(f"result file is not UTF-8 text: {exc}") from None

    def _read_text(self) -> str | None:
        while not self._eof:
            raw = self._fp.read(STREAM_CHUNK_BYTES)
            if not raw:
                self._eof = True
                text = self._decode(b"", final=True)
            else:
                if self._recorded is not None:
                    self._recorded.append(bytes(raw))
                text = self._decode(raw, final=False)
            if text:
                return text
        return None

    def recorded_bytes(self) -> bytes:
        if self._recorded is None:
            raise RuntimeError("this text source was not recording")
        return b"".join(self._recorded)

    def stop_recording(self) -> None:
        self._recorded = None

    @property
    def fp(self) -> BinaryIO:
        return self._fp

    def detach_bytes(self) -> bytes:
        """What was read but not consumed, as bytes; the caller reads the file itself from here
        on, until it hands the bytes it did not use back with ``push_back_bytes``."""
        data = self._buffer.encode("utf-8") + self._decoder.getstate()[0]
        self._buffer = ""
        self._decoder.reset()
        return data

    def push_back_bytes(self, data: bytes) -> None:
        self._buffer = self._decode(data, final=False) + self._buffer

    def ensure(self, count: int) -> str:
        """At least ``count`` characters buffered if the file has them; returns the buffer."""
        while len(self._buffer) < count:
            chunk = self._read_text()
            if chunk is None:
                break
            self._buffer += chunk
        return self._buffer

    def consume(self, count: int) -> None:
        self._buffer = self._buffer[count:]


def _read_up_to(fp: BinaryIO, size: int) -> bytes:
    """Read ``size`` bytes, or fewer only at the end of the file."""
    parts = []
    remaining = size
    while remaining > 0:
        chunk = fp.read(min(remaining, STREAM_CHUNK_BYTES))
        if not chunk:
            break
        parts.append(bytes(chunk))
        remaining -= len(chunk)
    return b"".join(parts)


# ---------------------------------------------------------------------------------------
# records
# ---------------------------------------------------------------------------------------


@dataclass
class ResultRecord:
    metadata: ResultRecordMetadata
    result: Any

    @property
    def serializer(self) -> Serializer:
        return self.metadata.serializer

    @property
    def expiration(self) -> dt.datetime | None:
        return self.metadata.expiration

    @property
    def storage_key(self) -> str | None:
        return self.metadata.storage_key

    @property
    def prefect_version(self) -> str:
        return self.metadata.prefect_version

    def serialize_result(self) -> bytes:
        return self.serializer.dumps(self.result)

    def serialize_metadata(self) -> bytes:
        return self.metadata.dump_bytes()

    def serialize(self) -> bytes:
        """The Prefect 3 record JSON, byte for byte as Prefect's ``model_dump_json``."""
        payload = self.serialize_result()
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SerializationError(
                f"serializer output is not UTF-8 text, a record cannot hold it: {exc}"
            ) from None
        return (
            b'{"metadata":' + self.metadata.dump_bytes() + b',"result":' + pydantic_core.to_json(text) + b"}"
        )

    def serialize_to(self, fp: BinaryIO) -> None:
        """Write ``serialize()``'s bytes to ``fp`` without holding the serialized value in memory."""
        fp.write(b'{"metadata":' + self.metadata.dump_bytes() + b',"result":"')
        writer = JsonStringWriter(fp)
        self.serializer.dump_to(self.result, writer)
        writer.finish()
        fp.write(b'"}')

    @classmethod
    def deserialize(
        cls,
        data: bytes,
        backup_serializer: Serializer | None = None,
        *,
        max_decoded_bytes: int | None = None,
    ) -> ResultRecord:
        """Read any layout from bytes. A raw payload needs ``backup_serializer``."""
        data = bytes(data)
        document, parse_error = _try_json_object(data)
        if document is not None:
            layout = layout_of_document(document)
            if layout is Layout.V3_RECORD or layout is Layout.V2_BLOB:
                return _record_from_document(document, layout, max_decoded_bytes=max_decoded_bytes)
            if layout is Layout.V3_METADATA and backup_serializer is None:
                metadata = ResultRecordMetadata.from_dict(document)
                raise MetadataOnlyRecordError(
                    f"this is a result metadata file; the result is stored separately "
                    f"(storage_key {metadata.storage_key!r}); read it with "
                    "deserialize_from_result_and_metadata",
                    metadata,
                )
        if backup_serializer is not None:
            serializer = _limited(serializer_from(backup_serializer), max_decoded_bytes)
            return cls(
                metadata=ResultRecordMetadata(serializer=serializer, prefect_version=UNKNOWN_PREFECT_VERSION),
                result=serializer.loads(data),
            )
        raise _not_a_record_error(data, parse_error)

    @classmethod
    def deserialize_from(
        cls,
        fp: BinaryIO,
        backup_serializer: Serializer | None = None,
        *,
        max_decoded_bytes: int | None = None,
    ) -> ResultRecord:
        """Read a record from a binary file-like, streaming the result of 3.x records and 2.x
        blobs (metadata first, as Prefect writes them) through the serializer."""
        limit = 2 * (max_decoded_bytes or DEFAULT_MAX_DECODED_BYTES) + LAYOUT_HEAD_BYTES
        head = _read_up_to(fp, LAYOUT_HEAD_BYTES)
        if len(head) < LAYOUT_HEAD_BYTES:
            return cls.deserialize(head, backup_serializer, max_decoded_bytes=max_decoded_bytes)
        if looks_like_json_object(head):
            source = _TextSource(fp, head, record=True)
            streamed = _stream_record(source, max_decoded_bytes=max_decoded_bytes)
            if streamed is not None:
                return streamed
            head = source.recorded_bytes()
        data = head + _read_up_to(fp, limit - len(head) + 1)
        if len(data) > limit:
            raise RecordFormatError(f"result file is larger than the limit of {limit} bytes")
        return cls.deserialize(data, backup_serializer, max_decoded_bytes=max_decoded_bytes)

    @classmethod
    def deserialize_from_result_and_metadata(
        cls,
        result: bytes,
        metadata: bytes,
        *,
        max_decoded_bytes: int | None = None,
    ) -> ResultRecord:
        record_metadata = ResultRecordMetadata.load_bytes(metadata)
        serializer = _limited(record_metadata.serializer, max_decoded_bytes)
        return cls(metadata=record_metadata, result=serializer.loads(result))


def _limited(serializer: Serializer, max_decoded_bytes: int | None) -> Serializer:
    return serializer if max_decoded_bytes is None else serializer.with_max_decoded_bytes(max_decoded_bytes)


def _try_json_object(data: bytes) -> tuple[dict | None, str | None]:
    if not looks_like_json_object(data[:LAYOUT_HEAD_BYTES]):
        return None, None
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, str(exc)
    return (document, None) if isinstance(document, dict) else (None, None)


def _record_from_document(document: dict, layout: Layout, *, max_decoded_bytes: int | None) -> ResultRecord:
    if layout is Layout.V3_RECORD:
        metadata = ResultRecordMetadata.from_dict(document["metadata"])
        payload = document["result"]
    else:
        metadata = ResultRecordMetadata.from_dict(
            {
                "serializer": document["serializer"],
                "expiration": document.get("expiration"),
                "prefect_version": document.get("prefect_version", UNKNOWN_PREFECT_VERSION),
            }
        )
        payload = document["data"]
    if isinstance(payload, str):
        payload = payload.encode("utf-8", "surrogatepass")
        serializer = _limited(metadata.serializer, max_decoded_bytes)
        return ResultRecord(metadata=metadata, result=serializer.loads(payload))
    # Prefect keeps a non-string result as the JSON value itself.
    return ResultRecord(metadata=metadata, result=payload)


def _not_a_record_error(data: bytes, parse_error: str | None) -> RecordFormatError:
    if not data.strip():
        return RecordFormatError("result file is empty")
    layout = layout_detect(data)
    if parse_error is not None and layout in (Layout.V3_RECORD, Layout.V2_BLOB, Layout.V3_METADATA):
        return RecordFormatError(
            f"result file ({layout.value}) is not valid JSON, it may be truncated: {parse_error}"
        )
    if layout is Layout.V3_RAW:
        guess = raw_payload_guess_serializer(data)
        hint = f" (it looks like {guess.type!r} output)" if guess is not None else ""
        return RecordFormatError(
            f"these bytes are a raw serializer payload without metadata{hint}; pass backup_serializer"
        )
    if parse_error is not None:
        return RecordFormatError(f"result file is not valid JSON: {parse_error}")
    return RecordFormatError(
        "not a result record: expected a Prefect 3 record, a Prefect 2 blob or a raw payload"
    )


# ---------------------------------------------------------------------------------------
# streaming reader
# ---------------------------------------------------------------------------------------
_WHITESPACE = " \t\r\n"
_JSON_DECODER = json.JSONDecoder()


def _skip_whitespace(source: _TextSource) -> str:
    """The next non-whitespace character (left in the buffer), or '' at the end."""
    while True:
        buffered = source.ensure(1)
        stripped = buffered.lstrip(_WHITESPACE)
        source.consume(len(buffered) - len(stripped))
        if stripped:
            return stripped[0]
        if not source.ensure(1):
            return ""


def _expect(source: _TextSource, char: str) -> bool:
    if _skip_whitespace(source) != char:
        return False
    source.consume(1)
    return True


def _read_small_value(source: _TextSource) -> tuple[bool, Any]:
    """Decode one JSON value that fits in the head region (keys, metadata objects)."""
    _skip_whitespace(source)
    size = 4096
    while True:
        buffered = source.ensure(size)
        try:
            value, end = _JSON_DECODER.raw_decode(buffered)
        except ValueError:
            if len(buffered) < size or size >= LAYOUT_HEAD_BYTES * 4:
                return False, None
            size *= 4
            continue
        if end == len(buffered) and len(source.ensure(size + 1)) > len(buffered):
            # a number may continue past the buffer end: decode again with more text
            size *= 4
            continue
        source.consume(end)
        return True, value


def _stream_record(source: _TextSource, *, max_decoded_bytes: int | None) -> ResultRecord | None:
    """Parse ``{"key": value, ...}`` streaming the payload string; None when the file is not
    a record laid out metadata-first (the caller then reads it whole)."""
    if not _expect(source, "{"):
        return None
    fields: dict[str, Any] = {}
    record: ResultRecord | None = None
    while True:
        ok, key = _read_small_value(source)
        if not ok or not isinstance(key, str) or not _expect(source, ":"):
            return None
        if key in PAYLOAD_KEYS and record is None and _skip_whitespace(source) == '"':
            metadata = _streamed_metadata(fields, payload_key=key)
            if metadata is None:
                return None
            source.consume(1)
            source.stop_recording()
            reader = JsonStringReader(source)
            serializer = _limited(metadata.serializer, max_decoded_bytes)
            payload = (
                reader
                if serializer.reads_in_chunks
                else io.BufferedReader(reader, buffer_size=STREAM_CHUNK_BYTES)
            )
            value = serializer.load_from(payload)
            while payload.read(STREAM_CHUNK_BYTES):
                pass  # the rest of the string must still be valid
            record = ResultRecord(metadata=metadata, result=value)
            fields[key] = None
        else:
            ok, value = _read_small_value(source)
            if not ok:
                return None
            fields[key] = value
        separator = _skip_whitespace(source)
        if separator == ",":
            source.consume(1)
            continue
        if separator == "}":
            source.consume(1)
            break
        if separator == "":
            raise RecordFormatError("result file is truncated: the record object never ends")
        raise RecordFormatError(f"result file is not valid JSON: unexpected {separator!r} after {key!r}")
    if _skip_whitespace(source) != "":
        raise RecordFormatError("result file is not valid JSON: extra data after the record")
    if record is None:
        return None
    if (
        "prefect_version" in fields
        and "metadata" not in fields
        and isinstance(fields["prefect_version"], str)
    ):
        record.metadata.prefect_version = fields["prefect_version"]
    return record


def _streamed_metadata(fields: dict, *, payload_key: str) -> ResultRecordMetadata | None:
    if payload_key == "result" and isinstance(fields.get("metadata"), dict):
        return ResultRecordMetadata.from_dict(fields["metadata"])
    if payload_key == "data" and "serializer" in fields and "metadata" not in fields:
        return ResultRecordMetadata.from_dict(
            {
                "serializer": fields["serializer"],
                "expiration": fields.get("expiration"),
                "prefect_version": fields.get("prefect_version", UNKNOWN_PREFECT_VERSION),
            }
        )
    return None


__all__ = [
    "RESULTDECK_VERSION",
    "UNKNOWN_PREFECT_VERSION",
    "JsonStringReader",
    "JsonStringWriter",
    "MetadataOnlyRecordError",
    "RecordFormatError",
    "ResultRecord",
    "ResultRecordMetadata",
    "expiration_parse",
    "expiration_to_utc",
    "json_string_body",
    "storage_block_id_parse",
]
