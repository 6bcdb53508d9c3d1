"""JSON string content, streamed: escaping a serializer's output into a record, and reading it back.

Pure module: no Django.
"""

from __future__ import annotations

import codecs
import io
import json
import re
from typing import BinaryIO

from .codecs import STREAM_CHUNK_BYTES, WRITE_CHUNK_BYTES, ChunkedRawReader
from .errors import RecordFormatError, SerializationError

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

    def __init__(self, source: TextSource):
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


class TextSource:
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


def read_up_to(fp: BinaryIO, size: int) -> bytes:
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


__all__ = ["JsonStringReader", "JsonStringWriter", "TextSource", "json_string_body", "read_up_to"]
