"""Result files: Prefect 3 ``ResultRecord`` JSON (what we write) and every layout we read.

Pure module: no Django.

The layouts it reads are described and detected in ``layout``.

``prefect_version`` in the files we write is ``RESULTDECK_VERSION``. Prefect 3 keeps that field
as a plain string (never parsed as a version), so it marks the writer without misleading
anyone into thinking a particular Prefect release wrote the file.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from typing import Any, BinaryIO

import pydantic_core
from pydantic import BaseModel, Field, field_validator, model_validator

from .codecs import DEFAULT_MAX_DECODED_BYTES, STREAM_CHUNK_BYTES
from .errors import RecordFormatError
from .json_text import JsonStringReader, JsonStringWriter, TextSource, json_string_body, read_up_to
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
PREFECT2_BLOB_KEYS = frozenset({"serializer", "data", "prefect_version", "expiration"})


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


def _serializer_of_metadata(value: Any) -> Any:
    # Prefect's tolerance: a config whose type nobody registered stays readable as UnknownSerializer.
    if isinstance(value, str):
        return serializer_from(value)
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        return serializer_from(value)
    return value


class ResultRecordMetadata(BaseModel):
    """The metadata of a result record (Prefect's ``ResultRecordMetadata``)."""

    storage_key: str | None = None
    expiration: dt.datetime | None = None
    serializer: Serializer = Field(default_factory=PickleSerializer)
    prefect_version: str = RESULTDECK_VERSION
    # Prefect's are UUIDs; another writer's id that is not one is kept as it is.
    storage_block_id: uuid.UUID | str | None = Field(default=None, union_mode="left_to_right")

    @field_validator("serializer", mode="before")
    @classmethod
    def _serializer_cast(cls, value: Any) -> Any:
        return _serializer_of_metadata(value)

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
        """Exactly what Prefect's ``model_dump_json`` writes (compact, "Z" for UTC)."""
        # Assembled from parts: the serializer's config is made once, not for every record.
        block_id = self.storage_block_id
        return b"".join(
            (
                b'{"storage_key":',
                pydantic_core.to_json(self.storage_key),
                b',"expiration":',
                b"null"
                if self.expiration is None
                else pydantic_core.to_json(expiration_to_utc(self.expiration)),
                b',"serializer":',
                self.serializer.config_json(),
                b',"prefect_version":',
                pydantic_core.to_json(self.prefect_version),
                b',"storage_block_id":',
                b"null" if block_id is None else pydantic_core.to_json(str(block_id)),
                b"}",
            )
        )

    @classmethod
    def from_dict(cls, data: Any) -> ResultRecordMetadata:
        """Read metadata as stored by any writer; what is wrong is a ``RecordFormatError``."""
        if not isinstance(data, dict):
            raise RecordFormatError(f"result metadata must be a JSON object, got {type(data).__name__}")
        storage_key = data.get("storage_key")
        if storage_key is not None and not isinstance(storage_key, str):
            raise RecordFormatError(f"metadata storage_key must be a string or null, got {storage_key!r}")
        prefect_version = data.get("prefect_version", UNKNOWN_PREFECT_VERSION)
        if not isinstance(prefect_version, str):
            raise RecordFormatError(f"metadata prefect_version must be a string, got {prefect_version!r}")
        try:
            # Prefect's default when a file names none is pickle.
            serializer = serializer_from(data.get("serializer"))
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
# records
# ---------------------------------------------------------------------------------------


class ResultRecord(BaseModel):
    """A result with its metadata (Prefect's ``ResultRecord``)."""

    metadata: ResultRecordMetadata
    result: Any

    @model_validator(mode="before")
    @classmethod
    def _prefect2_blob_coerce(cls, value: Any) -> Any:
        # Prefect's reading of its 2.x blob ({"serializer", "data", ...}) as a record.
        if (
            isinstance(value, dict)
            and {"data", "serializer"} <= value.keys() <= PREFECT2_BLOB_KEYS
            and isinstance(value["data"], str)
            and isinstance(value["serializer"], dict)
        ):
            value = dict(value)
            metadata = {"serializer": value.pop("serializer")}
            for name in ("expiration", "prefect_version"):
                if name in value:
                    metadata[name] = value.pop(name)
            value = {"metadata": metadata, "result": value.pop("data")}
        return value

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
        head = read_up_to(fp, LAYOUT_HEAD_BYTES)
        if len(head) < LAYOUT_HEAD_BYTES:
            return cls.deserialize(head, backup_serializer, max_decoded_bytes=max_decoded_bytes)
        if looks_like_json_object(head):
            source = TextSource(fp, head, record=True)
            streamed = _stream_record(source, max_decoded_bytes=max_decoded_bytes)
            if streamed is not None:
                return streamed
            head = source.recorded_bytes()
        data = head + read_up_to(fp, limit - len(head) + 1)
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


def _skip_whitespace(source: TextSource) -> str:
    """The next non-whitespace character (left in the buffer), or '' at the end."""
    while True:
        buffered = source.ensure(1)
        stripped = buffered.lstrip(_WHITESPACE)
        source.consume(len(buffered) - len(stripped))
        if stripped:
            return stripped[0]
        if not source.ensure(1):
            return ""


def _expect(source: TextSource, char: str) -> bool:
    if _skip_whitespace(source) != char:
        return False
    source.consume(1)
    return True


def _read_small_value(source: TextSource) -> tuple[bool, Any]:
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


def _stream_record(source: TextSource, *, max_decoded_bytes: int | None) -> ResultRecord | None:
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
