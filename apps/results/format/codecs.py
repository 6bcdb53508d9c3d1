"""Bounded codecs of result bytes: base64 and compression, streamed, whole or of a cut head.

Pure module: no Django. The one home of bounded base64 decoding (``b64decode_bounded`` for whole
payloads, ``base64_prefix_decode`` for a head that may be cut anywhere) and of bounded
decompression (``DecompressingReader`` and ``decompress_bounded`` for whole payloads,
``decompress_prefix`` for a cut head); a small bomb stays small in each.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import io
import lzma
import struct
import zlib
from typing import BinaryIO

from .errors import DecodeLimitError, SerializationError, SerializerConfigError

DEFAULT_MAX_DECODED_BYTES = 2 * 1024**3
STREAM_CHUNK_BYTES = 1024 * 1024
# Writers pass data on in small pieces so a streamed value is never copied whole.
WRITE_CHUNK_BYTES = 256 * 1024
# Readers that decode (base64, decompression) ask their source for this much at a time: more
# than one stream chunk, so a source that produces whole chunks hands them over uncopied.
DECODE_CHUNK_BYTES = 4 * STREAM_CHUNK_BYTES

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


class ChunkedRawReader(io.RawIOBase):
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


class Base64DecodingReader(ChunkedRawReader):
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


class SmallFirstBase64Writer:
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


class StreamDecompressor:
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


class DecompressingReader(ChunkedRawReader):
    """Read-only file that decompresses another binary file, refusing to exceed ``limit``."""

    def __init__(self, source: BinaryIO, *, compressionlib: str, limit: int):
        super().__init__()
        self._source = source
        self._limit = limit
        self._produced = 0
        self._decompressor = StreamDecompressor(compressionlib)
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
# heads that may be cut anywhere (previews, layout detection)
# ---------------------------------------------------------------------------------------
_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
# bytes.translate drops line breaks in one pass; a regex substitution would hold a list entry per match.
_BASE64_JUNK = bytes(byte for byte in range(256) if byte not in _BASE64_ALPHABET)
_COMPRESSION_MAGIC = (
    (b"\xfd7zXZ\x00", "lzma"),
    (b"\x5d\x00\x00", "lzma"),
    (b"BZh", "bz2"),
    (b"\x1f\x8b", "gzip"),
)


def base64_prefix_decode(text: bytes) -> tuple[bytes, bool]:
    """(decoded bytes, whether the input was complete base64) of base64 that may be cut anywhere.

    Line breaks and other characters outside the alphabet are dropped; only whole quartets are
    decoded, up to the first padding.
    """
    compact = bytes(text).translate(None, _BASE64_JUNK)
    whole = len(compact) - len(compact) % 4
    padding = compact.find(b"=")
    if 0 <= padding < whole:
        whole = padding - padding % 4 + (4 if padding % 4 else 0)
        whole = min(whole, len(compact) - len(compact) % 4)
    try:
        return binascii.a2b_base64(compact[:whole], strict_mode=True), whole == len(compact)
    except binascii.Error as error:
        raise SerializationError(f"the payload is not valid base64: {error}") from error


def compression_of_magic(raw: bytes) -> str | None:
    """The compression library whose stream ``raw`` starts with, from its magic bytes."""
    for magic, lib in _COMPRESSION_MAGIC:
        if raw.startswith(magic):
            return lib
    if len(raw) >= 2 and raw[0] & 0x0F == 8 and (raw[0] << 8 | raw[1]) % 31 == 0:
        return "zlib"
    return None


def decompress_prefix(data: bytes, *, compressionlib: str, limit: int) -> tuple[bytes, bool]:
    """(up to ``limit`` decompressed bytes, whether the output is cut) of compressed data that may
    itself be cut: a small bomb stays small, a cut stream gives what it holds."""
    decompressor = StreamDecompressor(compressionlib)
    output = bytearray()
    feed = bytes(data)
    while len(output) < limit:
        chunk = decompressor.decompress(feed, limit - len(output))
        feed = b""
        if not chunk:
            break
        output += chunk
    ended = decompressor.finished or decompressor.at_stream_boundary
    return bytes(output), not ended


__all__ = [
    "COMPRESSION_LIBRARIES",
    "DECODE_CHUNK_BYTES",
    "DEFAULT_MAX_DECODED_BYTES",
    "STREAM_CHUNK_BYTES",
    "WRITE_CHUNK_BYTES",
    "Base64DecodingReader",
    "ChunkedRawReader",
    "CompressingWriter",
    "DecompressingReader",
    "MimeBase64Writer",
    "SmallFirstBase64Writer",
    "StreamDecompressor",
    "b64decode_bounded",
    "base64_prefix_decode",
    "compress_bytes",
    "compression_of_magic",
    "decompress_bounded",
    "decompress_prefix",
    "read_bounded",
    "xz_stored_stream",
]
