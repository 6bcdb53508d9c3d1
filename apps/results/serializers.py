"""Serializers that read and write the same bytes as Prefect's ``prefect.serializers``.

Pure module: no Django. Every serializer turns a value into bytes (``dumps``) and back
(``loads``), and describes itself with the JSON object Prefect stores next to the bytes
(``to_config``), so a file written here is read by Prefect and the other way round.

Formats (identical to Prefect 2.x/3.x):

* ``pickle``: ``base64.encodebytes(<picklelib>.dumps(obj))`` (MIME base64, a newline every
  76 characters).
* ``json``: ``<jsonlib>.dumps(obj, default=<object encoder>)``; values JSON cannot hold become
  ``{"__class__": "<module.qualname>", "data": ...}`` and exceptions
  ``{"__exc_type__": "<module.qualname>", "message": ...}``.
* ``compressed``, ``compressed/pickle``, ``compressed/json``:
  ``base64.encodebytes(<compressionlib>.compress(<inner serializer output>))``.

Safety of decoding:

* base64 and decompression are bounded (``max_decoded_bytes``), so a small file cannot
  expand into gigabytes of memory (``DecodeLimitError``).
* JSON ``__class__`` objects are rebuilt only for an allowlist: the standard types Prefect
  writes (datetime, UUID, Decimal, set, bytes, paths, ...), plus pydantic models,
  dataclasses and enums whose module is *already imported* in this process or was allowed
  with ``allow_json_module``/``allow_json_class``. Nothing else is imported because a JSON
  file names it; an object that is not allowed stays a plain dict (the same fallback the
  reference decoder uses when a class cannot be imported).
* Unpickling runs arbitrary code by design. It happens in workers and in the sandboxed
  decode process, never for stored bytes in the web process.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import copy
import dataclasses
import enum
import importlib
import io
import json
import lzma
import pickle
import re
import struct
import sys
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, BinaryIO, ClassVar

DEFAULT_MAX_DECODED_BYTES = 2 * 1024**3
STREAM_CHUNK_BYTES = 1024 * 1024
# Writers pass data on in small pieces so a streamed value is never copied whole.
WRITE_CHUNK_BYTES = 256 * 1024
# Readers that decode (base64, decompression) ask their source for this much at a time: more
# than one stream chunk, so a source that produces whole chunks hands them over uncopied.
DECODE_CHUNK_BYTES = 4 * STREAM_CHUNK_BYTES

PREFECT_JSON_OBJECT_ENCODER = "prefect.serializers.prefect_json_object_encoder"
PREFECT_JSON_OBJECT_DECODER = "prefect.serializers.prefect_json_object_decoder"


class SerializationError(Exception):
    """A value could not be serialized, or stored bytes could not be decoded."""


class UnknownSerializerError(SerializationError):
    """A serializer name or config ``type`` that no registered serializer handles."""


class DecodeLimitError(SerializationError):
    """Decoding would produce more bytes than the configured limit (e.g. a compression bomb)."""


class SerializerConfigError(SerializationError, ValueError):
    """A serializer config or constructor argument is invalid."""


class MissingObjectError(SerializationError):
    """Stored data refers to a module or attribute that is not available here."""


# ---------------------------------------------------------------------------------------
# bounded base64
# ---------------------------------------------------------------------------------------
_BASE64_WHITESPACE = b" \t\r\n\v\f"
# 57 input bytes make one 76-character MIME line, exactly as base64.encodebytes splits them.
_MIME_LINE_INPUT = 57
_MIME_CHUNK_INPUT = _MIME_LINE_INPUT * 4096


def b64decode_bounded(data: bytes | bytearray | memoryview, *, limit: int, what: str = "payload") -> bytes:
    """Decode MIME/standard base64, refusing output larger than ``limit`` bytes.

    Whitespace (the newlines ``encodebytes`` inserts) is ignored; any other character
    outside the base64 alphabet, or bad padding, is an error.
    """
    compact = bytes(data).translate(None, _BASE64_WHITESPACE)
    decoded_size = len(compact) // 4 * 3 - len(compact[-2:]) + len(compact[-2:].rstrip(b"="))
    if decoded_size > limit:
        raise DecodeLimitError(
            f"base64 {what} would decode to {decoded_size} bytes, more than the limit of {limit}"
        )
    try:
        return binascii.a2b_base64(compact, strict_mode=True)
    except binascii.Error as exc:
        raise SerializationError(f"invalid base64 in {what}: {exc}") from None


class _ChunkedRawReader(io.RawIOBase):
    """A read-only file that produces its data chunk by chunk (``_next_chunk``).

    ``read(size)`` hands out a whole produced chunk, uncopied, when ``size`` allows; fewer bytes
    than asked for is normal (raw file semantics), so wrap it in ``io.BufferedReader`` for a
    consumer that needs exact reads.
    """

    def __init__(self) -> None:
        super().__init__()
        self._pending = b""
        self._offset = 0
        self._exhausted = False

    def readable(self) -> bool:
        return True

    def _next_chunk(self) -> bytes | None:
        """The next piece of output (may be empty), or None at the end."""
        raise NotImplementedError

    def _has_pending(self) -> bool:
        while self._offset >= len(self._pending):
            if self._exhausted:
                return False
            chunk = self._next_chunk()
            if chunk is None:
                self._exhausted = True
                self._pending, self._offset = b"", 0
                return False
            self._pending, self._offset = chunk, 0
        return True

    def readinto(self, buffer) -> int:
        if not self._has_pending():
            return 0
        count = min(len(buffer), len(self._pending) - self._offset)
        buffer[:count] = memoryview(self._pending)[self._offset : self._offset + count]
        self._offset += count
        return count

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        if not size or not self._has_pending():
            return b""
        if self._offset == 0 and size >= len(self._pending):
            chunk, self._pending = self._pending, b""
            return chunk
        chunk = self._pending[self._offset : self._offset + size]
        self._offset += len(chunk)
        return chunk

    def readall(self) -> bytes:
        parts = []
        while self._has_pending():
            parts.append(self._pending[self._offset :])
            self._offset = len(self._pending)
        return b"".join(parts)


class Base64DecodingReader(_ChunkedRawReader):
    """Read-only file that base64-decodes another binary file as it is read.

    Decodes each chunk it reads as a whole: first as compact base64 (what arrives after a record
    has been unescaped), and only when that fails with the whitespace removed first.
    """

    def __init__(self, source: BinaryIO, *, limit: int, what: str = "payload"):
        super().__init__()
        self._source = source
        self._limit = limit
        self._what = what
        self._carry = b""
        self._produced = 0
        self._padded = False
        self._eof = False

    def _next_chunk(self) -> bytes | None:
        if self._eof:
            return None
        raw = self._source.read(DECODE_CHUNK_BYTES)
        if not raw:
            self._eof = True
            if self._carry:
                raise SerializationError(
                    f"invalid base64 in {self._what}: truncated (incomplete final group)"
                )
            return None
        buffer = bytearray(self._carry)
        buffer += raw
        _regular_newlines_remove(buffer)
        padded_before = self._padded
        try:
            decoded = self._decode(buffer)
        except binascii.Error:
            # Whitespace the fast pass left (irregular lines, CRLF) or invalid data: strip, retry.
            self._padded = padded_before
            try:
                decoded = self._decode(buffer.translate(None, _BASE64_WHITESPACE))
            except binascii.Error as exc:
                raise SerializationError(f"invalid base64 in {self._what}: {exc}") from None
        self._produced += len(decoded)
        if self._produced > self._limit:
            raise DecodeLimitError(
                f"base64 {self._what} decodes to more than the limit of {self._limit} bytes"
            )
        return decoded

    def _decode(self, buffer: bytearray) -> bytes:
        usable = len(buffer) // 4 * 4
        if usable and self._padded:
            raise SerializationError(f"invalid base64 in {self._what}: data after the final padding")
        decoded = binascii.a2b_base64(memoryview(buffer)[:usable], strict_mode=True) if usable else b""
        if usable:
            self._padded = buffer[usable - 1] == 0x3D  # '='
        # Whitespace in the last partial group (a trailing newline) is ignored like anywhere else.
        self._carry = bytes(buffer[usable:]).translate(None, _BASE64_WHITESPACE)
        return decoded


def _regular_newlines_remove(buffer: bytearray) -> None:
    """Delete the newlines of lines of equal length (MIME base64) in place, by strided deletion;
    leaves ``buffer`` alone when its newlines are not at a fixed stride."""
    first = buffer.find(b"\n")
    if first < 0:
        return
    second = buffer.find(b"\n", first + 1)
    stride = second - first if second >= 0 else len(buffer)
    count = (len(buffer) - 1 - first) // stride + 1
    stop = first + count * stride
    if buffer[first:stop:stride] == b"\n" * count:
        del buffer[first:stop:stride]


class MimeBase64Writer(io.RawIOBase):
    """Write-only file that base64-encodes into ``target`` exactly like ``base64.encodebytes``."""

    def __init__(self, target: BinaryIO):
        super().__init__()
        self._target = target
        # A target that knows base64 text needs no checking (a record's string escaper) gets it so.
        self._emit = getattr(target, "write_base64_lines", None) or target.write
        self._tail = b""

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        size = len(view)
        if self._tail:
            need = _MIME_LINE_INPUT - len(self._tail)
            self._tail += bytes(view[:need])
            view = view[need:]
            if len(self._tail) < _MIME_LINE_INPUT:
                return size
            self._emit(base64.encodebytes(self._tail))
            self._tail = b""
        whole = len(view) // _MIME_LINE_INPUT * _MIME_LINE_INPUT
        for start in range(0, whole, _MIME_CHUNK_INPUT):
            self._emit(base64.encodebytes(view[start : min(start + _MIME_CHUNK_INPUT, whole)]))
        self._tail = bytes(view[whole:])
        return size

    def finish(self) -> None:
        """Write the last partial line; the target stays open."""
        if self._tail:
            self._emit(base64.encodebytes(self._tail))
            self._tail = b""


class _SmallFirstBase64Writer:
    """Like ``MimeBase64Writer``, but output that stays under ``SMALL_OUTPUT_BYTES`` is kept and
    encoded in one call at ``finish`` (most values are small: this is their fast path)."""

    SMALL_OUTPUT_BYTES = 64 * 1024

    def __init__(self, target: BinaryIO):
        self._target = target
        self._parts: list[bytes] = []
        self._size = 0
        self._streaming: MimeBase64Writer | None = None

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self._streaming is None:
            size = len(data) if type(data) is bytes else memoryview(data).nbytes
            if self._size + size <= self.SMALL_OUTPUT_BYTES:
                self._parts.append(bytes(data))
                self._size += size
                return size
            # Too large to keep: stream from here on, without copying ``data``.
            self._streaming = MimeBase64Writer(self._target)
            parts, self._parts = self._parts, []
            for kept in parts:
                self._streaming.write(kept)
        return self._streaming.write(data)

    def finish(self) -> None:
        if self._streaming is not None:
            self._streaming.finish()
        elif self._parts:
            emit = getattr(self._target, "write_base64_lines", None) or self._target.write
            emit(base64.encodebytes(b"".join(self._parts)))


# ---------------------------------------------------------------------------------------
# bounded decompression
# ---------------------------------------------------------------------------------------
COMPRESSION_LIBRARIES = ("lzma", "zlib", "bz2", "gzip")
_MULTI_STREAM_LIBRARIES = ("lzma", "bz2", "gzip")


class _StreamDecompressor:
    """One lib's incremental decompressor behind a common interface.

    Reads concatenated streams like ``lzma.decompress``/``bz2.decompress``/``gzip.decompress``
    do, and like them ignores trailing bytes that do not start another stream.
    """

    def __init__(self, compressionlib: str):
        self.compressionlib = compressionlib
        self._decoder = self._new_decoder()
        self._input = b""
        self._fed = False
        self.finished = False
        self.completed_streams = 0

    def _new_decoder(self):
        if self.compressionlib == "lzma":
            return lzma.LZMADecompressor()
        if self.compressionlib == "bz2":
            return bz2.BZ2Decompressor()
        if self.compressionlib == "zlib":
            return zlib.decompressobj()
        if self.compressionlib == "gzip":
            return zlib.decompressobj(wbits=31)
        raise SerializerConfigError(f"unsupported compressionlib {self.compressionlib!r}")

    @property
    def _buffers_internally(self) -> bool:
        return isinstance(self._decoder, (lzma.LZMADecompressor, bz2.BZ2Decompressor))

    @property
    def wants_input(self) -> bool:
        if self._input:
            return False
        return self._decoder.needs_input if self._buffers_internally else True

    @property
    def at_stream_boundary(self) -> bool:
        return self.completed_streams > 0 and not self._fed and not self._input

    def decompress(self, data: bytes, max_length: int) -> bytes:
        """Return up to ``max_length`` bytes after feeding ``data`` (empty to drain)."""
        if self.finished:
            return b""
        self._input += data
        if not self._input and not self._fed:
            return b""
        decoder = self._decoder
        try:
            out = decoder.decompress(self._input, max_length)
        except (lzma.LZMAError, OSError, zlib.error, EOFError, ValueError) as exc:
            if self.completed_streams and not self._fed:
                self.finished = True
                self._input = b""
                return b""
            raise SerializationError(f"{self.compressionlib} data is corrupt or truncated: {exc}") from None
        self._input = b"" if self._buffers_internally else decoder.unconsumed_tail
        self._fed = True
        if decoder.eof:
            self.completed_streams += 1
            leftover = decoder.unused_data + self._input
            if self.compressionlib in _MULTI_STREAM_LIBRARIES and leftover.strip(b"\0"):
                self._decoder = self._new_decoder()
                self._fed = False
                self._input = leftover
            elif self.compressionlib in _MULTI_STREAM_LIBRARIES:
                self._decoder = self._new_decoder()
                self._fed = False
                self._input = b""
            else:
                self.finished = True
                self._input = b""
        return out


class DecompressingReader(_ChunkedRawReader):
    """Read-only file that decompresses another binary file, refusing to exceed ``limit``."""

    def __init__(self, source: BinaryIO, *, compressionlib: str, limit: int):
        super().__init__()
        self._source = source
        self._limit = limit
        self._produced = 0
        self._decompressor = _StreamDecompressor(compressionlib)
        self._source_eof = False
        self._last_full = False

    def _next_chunk(self) -> bytes | None:
        decompressor = self._decompressor
        while True:
            if decompressor.finished:
                return None
            if self._last_full or not decompressor.wants_input:
                chunk = b""
            elif self._source_eof:
                if decompressor.at_stream_boundary:
                    return None
                raise SerializationError(
                    f"{decompressor.compressionlib} data is corrupt or truncated: "
                    "compressed data ended before the end-of-stream marker"
                )
            else:
                chunk = self._source.read(DECODE_CHUNK_BYTES)
                if not chunk:
                    self._source_eof = True
                    continue
            out = decompressor.decompress(chunk, DECODE_CHUNK_BYTES)
            self._last_full = len(out) == DECODE_CHUNK_BYTES
            if out:
                self._produced += len(out)
                if self._produced > self._limit:
                    raise DecodeLimitError(
                        f"{decompressor.compressionlib} data decompresses to more than the limit of "
                        f"{self._limit} bytes"
                    )
                return out


def decompress_bounded(data: bytes, *, compressionlib: str, limit: int) -> bytes:
    """Decompress ``data`` (all streams, like ``<lib>.decompress``) up to ``limit`` bytes."""
    reader = DecompressingReader(io.BytesIO(data), compressionlib=compressionlib, limit=limit)
    return reader.readall()


def read_bounded(fp: BinaryIO, *, limit: int, what: str = "payload") -> bytes:
    """Read a whole file-like, refusing more than ``limit`` bytes."""
    data = fp.read(limit + 1)
    if len(data) > limit:
        raise DecodeLimitError(f"{what} is larger than the limit of {limit} bytes")
    return data


# ---------------------------------------------------------------------------------------
# fast lzma: a plain xz stream, except that incompressible stretches are stored
# ---------------------------------------------------------------------------------------
_FAST_SEGMENT = 1024 * 1024
_FAST_PROBE = 64 * 1024
# A segment is stored when a quick zlib probe saves less than about a quarter. Base64 text of
# random or float data saves exactly that much from the alphabet alone (6 bits a byte) and
# nothing more, and lzma would spend ~10 s per 50 MiB to win those bytes back; structured
# data (dicts, text, repeated values) saves far more and is compressed as usual.
_FAST_STORE_RATIO = 0.74
_FAST_LZMA_PRESET = 0
_XZ_MAGIC = b"\xfd7zXZ\x00"
_XZ_FLAGS_CRC32 = b"\x00\x01"
_LZMA2_FILTER_ID = 0x21
_LZMA2_DICT_64K = 8  # dictionary size property: 2 << (8 // 2 + 11) = 64 KiB
_LZMA2_MAX_STORED_CHUNK = 65536


def _xz_varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def xz_stored_stream(data: bytes | memoryview) -> bytes:
    """A complete .xz stream holding ``data`` in LZMA2 *uncompressed* chunks.

    Any xz reader (``lzma.decompress``, the ``xz`` tool) reads it; it costs a CRC instead of
    a match search, which is what makes incompressible input fast.
    """
    header = _XZ_MAGIC + _XZ_FLAGS_CRC32 + struct.pack("<I", zlib.crc32(_XZ_FLAGS_CRC32))
    block_header = bytes([2, 0x00, _LZMA2_FILTER_ID, 0x01, _LZMA2_DICT_64K, 0, 0, 0])
    block_header += struct.pack("<I", zlib.crc32(block_header))
    view = memoryview(data).cast("B")
    body = bytearray()
    for start in range(0, len(view), _LZMA2_MAX_STORED_CHUNK):
        piece = view[start : start + _LZMA2_MAX_STORED_CHUNK]
        body.append(0x01 if start == 0 else 0x02)
        body += struct.pack(">H", len(piece) - 1)
        body += piece
    body.append(0x00)
    compressed_size = len(body)
    body += b"\0" * (-compressed_size % 4)
    body += struct.pack("<I", zlib.crc32(view))
    unpadded = len(block_header) + compressed_size + 4
    index = b"\x00" + _xz_varint(1) + _xz_varint(unpadded) + _xz_varint(len(view))
    index += b"\0" * (-len(index) % 4)
    index += struct.pack("<I", zlib.crc32(index))
    footer_body = struct.pack("<I", len(index) // 4 - 1) + _XZ_FLAGS_CRC32
    footer = struct.pack("<I", zlib.crc32(footer_body)) + footer_body + b"YZ"
    return header + block_header + bytes(body) + index + footer


def _segment_is_incompressible(segment: memoryview) -> bool:
    sample = segment[:_FAST_PROBE]
    return len(zlib.compress(sample, 1)) >= _FAST_STORE_RATIO * len(sample)


class CompressingWriter(io.RawIOBase):
    """Write-only file that compresses into ``target`` with one of the supported libs.

    ``level=None`` means the library's default, except for lzma where it means "fast":
    preset 0, and 1 MiB segments that barely compress are stored instead (each as its own
    xz stream; ``lzma.decompress`` reads concatenated streams).
    """

    def __init__(self, target: BinaryIO, *, compressionlib: str, level: int | None):
        super().__init__()
        self._target = target
        self._compressionlib = compressionlib
        self._level = level
        self._fast_lzma = compressionlib == "lzma" and level is None
        self._segment = bytearray()
        self._compressor = None
        self._wrote_stream = False
        if not self._fast_lzma:
            self._compressor = self._new_compressor()

    def writable(self) -> bool:
        return True

    def _new_compressor(self):
        lib, level = self._compressionlib, self._level
        if lib == "lzma":
            return lzma.LZMACompressor(preset=_FAST_LZMA_PRESET if level is None else level)
        if lib == "zlib":
            return zlib.compressobj(-1 if level is None else level)
        if lib == "gzip":
            # gzip.compress(data, mtime=0) is exactly zlib with wbits=31 (Python >= 3.11).
            return zlib.compressobj(9 if level is None else level, zlib.DEFLATED, 31)
        if lib == "bz2":
            return bz2.BZ2Compressor(9 if level is None else level)
        raise SerializerConfigError(f"unsupported compressionlib {lib!r}")

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        if not self._fast_lzma:
            for start in range(0, len(view), WRITE_CHUNK_BYTES):
                out = self._compressor.compress(view[start : start + WRITE_CHUNK_BYTES])
                if out:
                    self._target.write(out)
            return len(view)
        offset = 0
        while offset < len(view):
            take = min(_FAST_SEGMENT - len(self._segment), len(view) - offset)
            if not self._segment and take == _FAST_SEGMENT:
                self._fast_segment(view[offset : offset + take])
            else:
                self._segment += view[offset : offset + take]
                if len(self._segment) == _FAST_SEGMENT:
                    self._fast_segment(memoryview(self._segment))
                    self._segment = bytearray()
            offset += take
        return len(view)

    def _fast_segment(self, segment: memoryview) -> None:
        if _segment_is_incompressible(segment):
            self._end_compressed_stream()
            self._target.write(xz_stored_stream(segment))
            self._wrote_stream = True
            return
        if self._compressor is None:
            self._compressor = self._new_compressor()
        for start in range(0, len(segment), WRITE_CHUNK_BYTES):
            out = self._compressor.compress(segment[start : start + WRITE_CHUNK_BYTES])
            if out:
                self._target.write(out)

    def _end_compressed_stream(self) -> None:
        if self._compressor is not None:
            self._target.write(self._compressor.flush())
            self._compressor = None
            self._wrote_stream = True

    def finish(self) -> None:
        """Flush the compressor; the target stays open."""
        if self._fast_lzma:
            if self._segment:
                self._fast_segment(memoryview(self._segment))
                self._segment = bytearray()
            if not self._wrote_stream and self._compressor is None:
                self._compressor = self._new_compressor()
            self._end_compressed_stream()
        else:
            self._target.write(self._compressor.flush())


def compress_bytes(data: bytes, *, compressionlib: str, level: int | None = None) -> bytes:
    out = io.BytesIO()
    writer = CompressingWriter(out, compressionlib=compressionlib, level=level)
    writer.write(data)
    writer.finish()
    return out.getvalue()


# ---------------------------------------------------------------------------------------
# registry and base class
# ---------------------------------------------------------------------------------------
_SERIALIZER_TYPES: dict[str, type[Serializer]] = {}


def register_serializer(cls: type[Serializer]) -> type[Serializer]:
    """Class decorator: make ``cls`` loadable from configs whose ``type`` is ``cls.type``."""
    type_name = getattr(cls, "type", None)
    if not isinstance(type_name, str) or not type_name:
        raise SerializerConfigError(
            f"{cls.__name__} needs a non-empty class attribute 'type' to be registered"
        )
    _SERIALIZER_TYPES[type_name] = cls
    return cls


def registered_serializer_types() -> list[str]:
    return sorted(_SERIALIZER_TYPES)


class Serializer(ABC):
    """Turns values into bytes and back; ``to_config()`` is what files record about it."""

    type: ClassVar[str]
    max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES
    # True when ``load_from`` only calls ``read(size)`` on its file and copes with short reads,
    # so a caller may hand it a raw reader (chunks passed on uncopied) instead of a buffered one.
    reads_in_chunks: ClassVar[bool] = False

    @abstractmethod
    def dumps(self, obj: Any) -> bytes: ...

    @abstractmethod
    def loads(self, blob: bytes) -> Any: ...

    @abstractmethod
    def to_config(self) -> dict: ...

    @classmethod
    def from_config(cls, config: dict) -> Serializer:
        options = {key: value for key, value in config.items() if key != "type"}
        try:
            return cls(**options)
        except TypeError as exc:
            raise SerializerConfigError(f"invalid config for serializer {cls.type!r}: {exc}") from None

    def dump_to(self, obj: Any, fp: BinaryIO) -> None:
        """Write exactly ``dumps(obj)`` to a binary file-like."""
        fp.write(self.dumps(obj))

    def load_from(self, fp: BinaryIO) -> Any:
        """Read this serializer's output from a binary file-like and return the value."""
        return self.loads(read_bounded(fp, limit=self.max_decoded_bytes * 2, what=f"{self.type} payload"))

    def with_max_decoded_bytes(self, limit: int) -> Serializer:
        """A copy that refuses to decode more than ``limit`` bytes."""
        clone = copy.copy(self)
        clone.max_decoded_bytes = limit
        return clone

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Serializer):
            return NotImplemented
        return self.to_config() == other.to_config()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_config(), sort_keys=True, default=str))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_config()!r})"


class UnknownSerializer(Serializer):
    """A config whose ``type`` nobody registered: kept verbatim, cannot encode or decode."""

    type = "__unknown__"

    def __init__(self, config: dict):
        self.config = dict(config)
        self.type = str(config.get("type"))

    def _refuse(self):
        raise UnknownSerializerError(
            f"unknown serializer type {self.type!r}; register it with register_serializer"
        )

    def dumps(self, obj: Any) -> bytes:
        self._refuse()

    def loads(self, blob: bytes) -> Any:
        self._refuse()

    def to_config(self) -> dict:
        return dict(self.config)

    @classmethod
    def from_config(cls, config: dict) -> Serializer:
        return cls(config)


def _check_dotted_name(value: Any, *, field: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", value):
        raise SerializerConfigError(f"{field} must be a dotted module name, got {value!r}")
    return value


# ---------------------------------------------------------------------------------------
# pickle
# ---------------------------------------------------------------------------------------
_STDLIB_UNPICKLER_LIBS = ("pickle", "cloudpickle")
# Pickle libraries already imported and checked, by module name (kept off the serializer so
# serializer instances stay picklable).
_PICKLE_LIBRARIES: dict[str, Any] = {}


class _ReportingUnpickler(pickle.Unpickler):
    """The stdlib unpickler, with readable errors for objects that are not installed."""

    def find_class(self, module: str, name: str):
        try:
            return super().find_class(module, name)
        except ModuleNotFoundError as exc:
            missing = exc.name or module
            if missing == module:
                raise MissingObjectError(
                    f"pickle refers to module {module!r} which is not installed"
                ) from None
            raise MissingObjectError(
                f"pickle refers to module {module!r}, which cannot be imported: "
                f"module {missing!r} is not installed"
            ) from None
        except AttributeError:
            raise MissingObjectError(
                f"pickle refers to {module}.{name}, but module {module!r} has no attribute {name!r}"
            ) from None


def _unpickle_failure(exc: BaseException) -> SerializationError:
    if isinstance(exc, SerializationError):
        return exc
    if isinstance(exc, (EOFError, pickle.UnpicklingError)):
        return SerializationError(f"pickle payload is corrupt or truncated: {exc}")
    if isinstance(exc, ModuleNotFoundError):
        return MissingObjectError(f"pickle refers to module {exc.name!r} which is not installed")
    return SerializationError(f"unpickling failed: {type(exc).__name__}: {exc}")


@register_serializer
class PickleSerializer(Serializer):
    type = "pickle"
    reads_in_chunks = True

    def __init__(self, picklelib: str = "cloudpickle", picklelib_version: str | None = None):
        self.picklelib = _check_dotted_name(picklelib, field="picklelib")
        if picklelib_version is not None and not isinstance(picklelib_version, str):
            raise SerializerConfigError(
                f"picklelib_version must be a string or null, got {picklelib_version!r}"
            )
        self.picklelib_version = picklelib_version

    def to_config(self) -> dict:
        return {"type": self.type, "picklelib": self.picklelib, "picklelib_version": self.picklelib_version}

    def _library(self):
        lib = _PICKLE_LIBRARIES.get(self.picklelib)
        if lib is not None:
            return lib
        try:
            lib = importlib.import_module(self.picklelib)
        except ImportError:
            raise MissingObjectError(f"picklelib {self.picklelib!r} is not installed") from None
        if not (callable(getattr(lib, "dumps", None)) and callable(getattr(lib, "loads", None))):
            raise SerializerConfigError(f"picklelib {self.picklelib!r} has no dumps/loads functions")
        _PICKLE_LIBRARIES[self.picklelib] = lib
        return lib

    def dumps(self, obj: Any) -> bytes:
        try:
            return base64.encodebytes(self._library().dumps(obj))
        except SerializationError:
            raise
        except Exception as exc:
            raise SerializationError(
                f"cannot pickle value of type {type(obj).__name__!r} with {self.picklelib}: {exc}"
            ) from exc

    def dump_to(self, obj: Any, fp: BinaryIO) -> None:
        lib = self._library()
        writer = _SmallFirstBase64Writer(fp)
        try:
            if callable(getattr(lib, "dump", None)):
                lib.dump(obj, writer)
            else:
                writer.write(lib.dumps(obj))
        except SerializationError:
            raise
        except Exception as exc:
            raise SerializationError(
                f"cannot pickle value of type {type(obj).__name__!r} with {self.picklelib}: {exc}"
            ) from exc
        writer.finish()

    def loads(self, blob: bytes) -> Any:
        raw = b64decode_bounded(blob, limit=self.max_decoded_bytes, what="pickle payload")
        return self._unpickle(io.BytesIO(raw), raw)

    def load_from(self, fp: BinaryIO) -> Any:
        reader = io.BufferedReader(
            Base64DecodingReader(fp, limit=self.max_decoded_bytes, what="pickle payload")
        )
        if self.picklelib in _STDLIB_UNPICKLER_LIBS:
            value = self._unpickle(reader, None)
            while reader.read(STREAM_CHUNK_BYTES):
                pass  # the rest must still be valid base64
            return value
        return self._unpickle(None, reader.read())

    def _unpickle(self, stream: BinaryIO | None, raw: bytes | None) -> Any:
        try:
            if self.picklelib in _STDLIB_UNPICKLER_LIBS:
                if self.picklelib == "cloudpickle":
                    self._library()  # by-value pickles need cloudpickle importable
                return _ReportingUnpickler(stream).load()
            return self._library().loads(raw)
        except Exception as exc:
            raise _unpickle_failure(exc) from exc


# ---------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------
_JSON_STANDARD_CLASSES = frozenset(
    {
        "datetime.datetime",
        "datetime.date",
        "datetime.time",
        "datetime.timedelta",
        "uuid.UUID",
        "decimal.Decimal",
        "fractions.Fraction",
        "builtins.set",
        "builtins.frozenset",
        "builtins.bytes",
        "builtins.bytearray",
        "builtins.tuple",
        "builtins.complex",
        "pathlib.Path",
        "pathlib.PosixPath",
        "pathlib.WindowsPath",
        "pathlib.PurePath",
        "pathlib.PurePosixPath",
        "pathlib.PureWindowsPath",
        "ipaddress.IPv4Address",
        "ipaddress.IPv6Address",
        "ipaddress.IPv4Network",
        "ipaddress.IPv6Network",
        "ipaddress.IPv4Interface",
        "ipaddress.IPv6Interface",
        "collections.deque",
        "collections.OrderedDict",
    }
)
_json_allowed_classes: set[str] = set()
_json_allowed_modules: set[str] = set()
_json_type_adapters: dict[type, Any] = {}


def allow_json_class(target: str | type) -> None:
    """Let JSON ``__class__``/``__exc_type__`` objects of exactly this class be rebuilt.

    The class's module may be imported for it. Any class named this way is trusted.
    """
    name = target if isinstance(target, str) else f"{target.__module__}.{target.__qualname__}"
    _json_allowed_classes.add(name)


def allow_json_module(module: str) -> None:
    """Let pydantic models, dataclasses, enums and exceptions of ``module`` (and its
    submodules) be rebuilt from JSON, importing the module if needed."""
    _json_allowed_modules.add(module)


def _module_allowed(module: str) -> bool:
    return any(module == allowed or module.startswith(allowed + ".") for allowed in _json_allowed_modules)


def _resolve_qualified(name: str, *, may_import: bool) -> Any:
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        module = sys.modules.get(module_name)
        if module is None and may_import:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                module = None
        if module is None:
            continue
        obj = module
        try:
            for attr in parts[split:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _is_rebuildable_class(obj: Any) -> bool:
    if not isinstance(obj, type):
        return False
    if dataclasses.is_dataclass(obj) or issubclass(obj, enum.Enum):
        return True
    try:
        from pydantic import BaseModel
    except ImportError:  # pragma: no cover - pydantic is a dependency
        return False
    return issubclass(obj, BaseModel)


def json_class_resolve(name: Any) -> type | None:
    """The class a JSON ``__class__`` may be rebuilt as, or None when it is not allowed."""
    if not isinstance(name, str) or "." not in name:
        return None
    explicit = name in _JSON_STANDARD_CLASSES or name in _json_allowed_classes
    module_allowed = _module_allowed(name.rpartition(".")[0])
    obj = _resolve_qualified(name, may_import=explicit or module_allowed)
    if not isinstance(obj, type):
        return None
    if explicit or _is_rebuildable_class(obj):
        return obj
    return None


def json_exception_resolve(name: Any) -> type[BaseException] | None:
    if not isinstance(name, str) or "." not in name:
        return None
    may_import = name in _json_allowed_classes or _module_allowed(name.rpartition(".")[0])
    obj = _resolve_qualified(name, may_import=may_import)
    if isinstance(obj, type) and issubclass(obj, BaseException):
        return obj
    return None


def _type_adapter(cls: type):
    adapter = _json_type_adapters.get(cls)
    if adapter is None:
        from pydantic import TypeAdapter

        adapter = _json_type_adapters[cls] = TypeAdapter(cls)
    return adapter


def _qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def json_object_encode(obj: Any) -> Any:
    """Prefect's ``prefect_json_object_encoder``: the ``default=`` hook of json.dumps."""
    if isinstance(obj, BaseException):
        return {"__exc_type__": _qualified_name(type(obj)), "message": str(obj)}
    if isinstance(obj, io.IOBase):
        return {
            "__class__": _qualified_name(type(obj)),
            "data": (
                f"<Prefect IOStream Placeholder: type={type(obj).__name__}, "
                f"repr={obj!r} (original content not read)>"
            ),
        }
    from pydantic import BaseModel
    from pydantic_core import to_jsonable_python

    data = obj.model_dump(mode="json") if isinstance(obj, BaseModel) else to_jsonable_python(obj)
    return {"__class__": _qualified_name(type(obj)), "data": data}


def json_object_decode(value: dict) -> Any:
    """Prefect's ``prefect_json_object_decoder`` restricted to allowed classes."""
    if "__class__" in value:
        cls = json_class_resolve(value["__class__"])
        if cls is None or "data" not in value:
            return value
        try:
            return _type_adapter(cls).validate_python(value["data"])
        except Exception as exc:
            raise SerializationError(f"cannot rebuild {value['__class__']} from JSON data: {exc}") from exc
    if "__exc_type__" in value:
        exc_type = json_exception_resolve(value["__exc_type__"])
        if exc_type is None or "message" not in value:
            return value
        try:
            return exc_type(value["message"])
        except Exception as exc:
            raise SerializationError(f"cannot rebuild exception {value['__exc_type__']}: {exc}") from exc
    return value


_JSON_OBJECT_ENCODERS: dict[str, Callable[[Any], Any]] = {PREFECT_JSON_OBJECT_ENCODER: json_object_encode}
_JSON_OBJECT_DECODERS: dict[str, Callable[[dict], Any]] = {PREFECT_JSON_OBJECT_DECODER: json_object_decode}
JSON_LIBRARIES = {"json", "orjson", "simplejson", "ujson"}


def register_json_object_hook(
    name: str,
    *,
    encoder: Callable[[Any], Any] | None = None,
    decoder: Callable[[dict], Any] | None = None,
) -> None:
    """Bind a dotted name used in configs (``object_encoder``/``object_decoder``) to a function.

    Configs name functions by import path; they are never imported from a file's say-so.
    """
    if encoder is not None:
        _JSON_OBJECT_ENCODERS[name] = encoder
    if decoder is not None:
        _JSON_OBJECT_DECODERS[name] = decoder


def json_hook_apply(value: Any, hook: Callable[[dict], Any]) -> Any:
    """Apply a ``json.loads`` object_hook bottom-up to an already parsed tree."""
    if isinstance(value, list):
        return [json_hook_apply(item, hook) for item in value]
    if isinstance(value, dict):
        return hook({key: json_hook_apply(item, hook) for key, item in value.items()})
    return value


@register_serializer
class JSONSerializer(Serializer):
    type = "json"

    def __init__(
        self,
        jsonlib: str = "json",
        object_encoder: str | None = PREFECT_JSON_OBJECT_ENCODER,
        object_decoder: str | None = PREFECT_JSON_OBJECT_DECODER,
        dumps_kwargs: dict | None = None,
        loads_kwargs: dict | None = None,
    ):
        self.jsonlib = _check_dotted_name(jsonlib, field="jsonlib")
        for field_name, value in (("object_encoder", object_encoder), ("object_decoder", object_decoder)):
            if value is not None:
                _check_dotted_name(value, field=field_name)
        self.object_encoder = object_encoder
        self.object_decoder = object_decoder
        self.dumps_kwargs = dict(dumps_kwargs or {})
        self.loads_kwargs = dict(loads_kwargs or {})
        if "default" in self.dumps_kwargs:
            raise SerializerConfigError("dumps_kwargs cannot contain 'default'; set object_encoder instead")
        if "object_hook" in self.loads_kwargs:
            raise SerializerConfigError(
                "loads_kwargs cannot contain 'object_hook'; set object_decoder instead"
            )

    def to_config(self) -> dict:
        return {
            "type": self.type,
            "jsonlib": self.jsonlib,
            "object_encoder": self.object_encoder,
            "object_decoder": self.object_decoder,
            "dumps_kwargs": dict(self.dumps_kwargs),
            "loads_kwargs": dict(self.loads_kwargs),
        }

    def _library(self):
        if self.jsonlib not in JSON_LIBRARIES:
            raise SerializerConfigError(
                f"jsonlib {self.jsonlib!r} is not an allowed JSON library (allowed: {sorted(JSON_LIBRARIES)})"
            )
        try:
            return importlib.import_module(self.jsonlib)
        except ImportError:
            raise MissingObjectError(f"jsonlib {self.jsonlib!r} is not installed") from None

    def _hook(self, registry: dict, name: str | None, kind: str):
        if name is None:
            return None
        try:
            return registry[name]
        except KeyError:
            raise SerializerConfigError(
                f"unknown {kind} {name!r}; register it with register_json_object_hook"
            ) from None

    def dumps(self, obj: Any) -> bytes:
        lib = self._library()
        kwargs = dict(self.dumps_kwargs)
        encoder = self._hook(_JSON_OBJECT_ENCODERS, self.object_encoder, "object_encoder")
        if encoder is not None:
            kwargs["default"] = encoder
        try:
            result = lib.dumps(obj, **kwargs)
        except Exception as exc:
            raise SerializationError(
                f"cannot serialize value of type {type(obj).__name__!r} as JSON with {self.jsonlib}: {exc}"
            ) from exc
        return result.encode() if isinstance(result, str) else bytes(result)

    def loads(self, blob: bytes) -> Any:
        decoder = self._hook(_JSON_OBJECT_DECODERS, self.object_decoder, "object_decoder")
        lib = self._library()
        try:
            text = bytes(blob).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SerializationError(f"JSON payload is not valid UTF-8: {exc}") from None
        try:
            if self.jsonlib == "orjson" and not self.loads_kwargs:
                return self._loads_orjson(lib, text, decoder)
            if self.jsonlib in ("json", "orjson", "simplejson"):
                return json.loads(text, object_hook=decoder, **self.loads_kwargs)
            parsed = lib.loads(text, **self.loads_kwargs)
            return json_hook_apply(parsed, decoder) if decoder else parsed
        except SerializationError:
            raise
        except RecursionError:
            raise SerializationError("JSON payload is nested too deeply") from None
        except ValueError as exc:
            raise SerializationError(f"invalid JSON payload: {exc}") from None

    @staticmethod
    def _loads_orjson(lib, text: str, decoder):
        try:
            parsed = lib.loads(text)
        except lib.JSONDecodeError:
            # orjson rejects what stdlib json accepts (NaN, huge ints, lone surrogates); the
            # stdlib's reading is the reference, so fall back to it.
            return json.loads(text, object_hook=decoder)
        return json_hook_apply(parsed, decoder) if decoder else parsed


# ---------------------------------------------------------------------------------------
# compressed
# ---------------------------------------------------------------------------------------
@register_serializer
class CompressedSerializer(Serializer):
    """Another serializer's output, compressed, then base64 encoded.

    ``level`` only tunes speed (it is not part of the config: decompression needs none).
    With lzma and ``level=None`` the fast mode of ``CompressingWriter`` is used.
    """

    type = "compressed"
    default_inner: ClassVar[str] = "pickle"
    reads_in_chunks = True

    def __init__(
        self,
        serializer: str | dict | Serializer | None = None,
        compressionlib: str = "lzma",
        level: int | None = None,
    ):
        self.serializer = serializer_from(self.default_inner if serializer is None else serializer)
        if compressionlib not in COMPRESSION_LIBRARIES:
            raise SerializerConfigError(
                f"compressionlib {compressionlib!r} is not supported "
                f"(supported: {', '.join(COMPRESSION_LIBRARIES)})"
            )
        self.compressionlib = compressionlib
        if level is not None and not isinstance(level, int):
            raise SerializerConfigError(f"level must be an int or None, got {level!r}")
        self.level = level

    def to_config(self) -> dict:
        return {
            "type": self.type,
            "serializer": self.serializer.to_config(),
            "compressionlib": self.compressionlib,
        }

    def with_max_decoded_bytes(self, limit: int) -> Serializer:
        clone = copy.copy(self)
        clone.max_decoded_bytes = limit
        clone.serializer = self.serializer.with_max_decoded_bytes(limit)
        return clone

    def dumps(self, obj: Any) -> bytes:
        compressed = compress_bytes(
            self.serializer.dumps(obj), compressionlib=self.compressionlib, level=self.level
        )
        return base64.encodebytes(compressed)

    def dump_to(self, obj: Any, fp: BinaryIO) -> None:
        base64_writer = MimeBase64Writer(fp)
        compressor = CompressingWriter(base64_writer, compressionlib=self.compressionlib, level=self.level)
        self.serializer.dump_to(obj, compressor)
        compressor.finish()
        base64_writer.finish()

    def loads(self, blob: bytes) -> Any:
        compressed = b64decode_bounded(
            blob, limit=self.max_decoded_bytes, what=f"{self.compressionlib} payload"
        )
        inner = decompress_bounded(
            compressed, compressionlib=self.compressionlib, limit=self.max_decoded_bytes
        )
        return self.serializer.loads(inner)

    def load_from(self, fp: BinaryIO) -> Any:
        decoded = Base64DecodingReader(
            fp, limit=self.max_decoded_bytes, what=f"{self.compressionlib} payload"
        )
        inflated = DecompressingReader(
            decoded, compressionlib=self.compressionlib, limit=self.max_decoded_bytes
        )
        if not self.serializer.reads_in_chunks:
            inflated = io.BufferedReader(inflated, buffer_size=STREAM_CHUNK_BYTES)
        value = self.serializer.load_from(inflated)
        while inflated.read(STREAM_CHUNK_BYTES):
            pass  # check the rest of the stream (its end marker and checksum)
        return value


@register_serializer
class CompressedPickleSerializer(CompressedSerializer):
    type = "compressed/pickle"
    default_inner = "pickle"


@register_serializer
class CompressedJSONSerializer(CompressedSerializer):
    type = "compressed/json"
    default_inner = "json"


# ---------------------------------------------------------------------------------------
# lookup
# ---------------------------------------------------------------------------------------
def serializer_from(value: str | dict | Serializer | None) -> Serializer:
    """A serializer from an instance, a type name (``"pickle"``, ``"compressed/json"``, ...)
    or a config dict as stored in files. ``None`` means Prefect's default, pickle."""
    if value is None:
        return PickleSerializer()
    if isinstance(value, Serializer):
        return value
    if isinstance(value, str):
        cls = _SERIALIZER_TYPES.get(value)
        if cls is None:
            raise UnknownSerializerError(
                f"unknown serializer {value!r}; known: {', '.join(registered_serializer_types())}"
            )
        return cls()
    if isinstance(value, dict):
        type_name = value.get("type")
        if not isinstance(type_name, str):
            raise SerializerConfigError(f"serializer config has no 'type': {value!r}")
        cls = _SERIALIZER_TYPES.get(type_name)
        if cls is None:
            return UnknownSerializer(value)
        return cls.from_config(value)
    raise SerializerConfigError(f"cannot make a serializer from {type(value).__name__} {value!r}")
