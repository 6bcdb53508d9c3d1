"""Result records: the Prefect 3 layout we write, every layout we read, and bad files."""

import base64
import datetime as dt
import io
import json
import lzma
import os
import pickle
import threading
import tracemalloc
import uuid

import pytest

from apps.results.records import (
    METADATA_KEYS,
    RESULTDECK_VERSION,
    Layout,
    MetadataOnlyRecordError,
    RecordFormatError,
    ResultRecord,
    ResultRecordMetadata,
    layout_detect,
    raw_payload_guess_serializer,
)
from apps.results.serializers import (
    CompressedJSONSerializer,
    CompressedPickleSerializer,
    CompressedSerializer,
    DecodeLimitError,
    JSONSerializer,
    PickleSerializer,
    SerializationError,
    UnknownSerializerError,
)

SERIALIZERS = [
    PickleSerializer(),
    PickleSerializer(picklelib="pickle"),
    JSONSerializer(),
    JSONSerializer(jsonlib="orjson"),
    CompressedPickleSerializer(),
    CompressedJSONSerializer(),
    *[
        CompressedSerializer(serializer=PickleSerializer(), compressionlib=lib)
        for lib in ("zlib", "bz2", "gzip")
    ],
    CompressedSerializer(serializer=JSONSerializer(), compressionlib="zlib"),
]
VALUE = {"name": "héllo — 日本語 🚀", "quote": 'say "hi"\\', "n": [1, 2.5, None, True], "tab": "a\tb\nc"}
EXPIRES = dt.datetime(2036, 11, 20, 4, 1, 49, 70228, tzinfo=dt.UTC)


def _record(serializer, value=VALUE, **metadata) -> ResultRecord:
    metadata.setdefault("storage_key", "results/abc")
    metadata.setdefault("expiration", EXPIRES)
    return ResultRecord(metadata=ResultRecordMetadata(serializer=serializer, **metadata), result=value)


class SmallReads(io.RawIOBase):
    """A file that hands out a few bytes per read, so parsers meet every chunk boundary."""

    def __init__(self, data: bytes, step: int = 7):
        self._data = memoryview(data)
        self._step = step
        self._pos = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        count = min(len(buffer), self._step, len(self._data) - self._pos)
        buffer[:count] = self._data[self._pos : self._pos + count]
        self._pos += count
        return count


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=[repr(s.to_config()) for s in SERIALIZERS])
def test_written_record_has_prefect3_layout_and_reads_back(serializer):
    data = _record(serializer).serialize()
    document = json.loads(data)
    assert list(document) == ["metadata", "result"]
    assert list(document["metadata"]) == list(METADATA_KEYS)
    assert document["metadata"] == {
        "storage_key": "results/abc",
        "expiration": "2036-11-20T04:01:49.070228Z",
        "serializer": serializer.to_config(),
        "prefect_version": RESULTDECK_VERSION,
        "storage_block_id": None,
    }
    assert isinstance(document["result"], str)
    assert data.startswith(b'{"metadata":{"storage_key":"results/abc","expiration":')
    assert layout_detect(data) == Layout.V3_RECORD
    record = ResultRecord.deserialize(data)
    assert record.result == VALUE
    assert record.serializer == serializer
    assert record.expiration == EXPIRES
    assert record.storage_key == "results/abc"
    assert ResultRecord.deserialize_from(io.BytesIO(data)).result == VALUE


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=[repr(s.to_config()) for s in SERIALIZERS])
def test_serialize_to_writes_the_same_bytes_as_serialize(serializer):
    record = _record(serializer, value={"blob": "x" * 200_000, "text": VALUE})
    sink = io.BytesIO()
    record.serialize_to(sink)
    assert sink.getvalue() == record.serialize()


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=[repr(s.to_config()) for s in SERIALIZERS])
def test_streaming_read_of_a_large_record_through_tiny_reads(serializer):
    value = {"text": VALUE, "filler": ['🚀é"\\\n' * 3000, "a" * 70_000]}
    data = _record(serializer, value=value).serialize()
    assert len(data) > 64 * 1024 or serializer.type.startswith("compressed")
    assert ResultRecord.deserialize_from(io.BufferedReader(SmallReads(data), buffer_size=5)).result == value


def test_streaming_read_of_a_large_prefect2_blob():
    payload = PickleSerializer().dumps(os.urandom(300_000)).decode()
    blob = json.dumps(
        {"serializer": PickleSerializer().to_config(), "data": payload, "prefect_version": "2.20.27"}
    )
    record = ResultRecord.deserialize_from(io.BytesIO(blob.encode()))
    assert len(record.result) == 300_000
    assert record.prefect_version == "2.20.27"
    assert record.storage_key is None
    assert record.expiration is None


def _streamed_peak(record: ResultRecord) -> int:
    class Sink(io.RawIOBase):
        size = 0

        def writable(self):
            return True

        def write(self, data):
            self.size += len(data)
            return len(data)

    tracemalloc.start()
    try:
        record.serialize_to(Sink())
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "serializer", [PickleSerializer(), CompressedPickleSerializer()], ids=["pickle", "lzma"]
)
def test_streaming_write_keeps_memory_well_under_the_value_size(serializer):
    value = os.urandom(20 * 1024 * 1024)
    peak = _streamed_peak(_record(serializer, value=value))
    assert peak < len(value) // 2, f"peak {peak} bytes while streaming {len(value)} bytes"


def test_metadata_dump_and_load_round_trip():
    block_id = uuid.uuid4()
    metadata = ResultRecordMetadata(
        storage_key="k", expiration=EXPIRES, serializer=JSONSerializer(), storage_block_id=block_id
    )
    data = metadata.dump_bytes()
    assert json.loads(data)["storage_block_id"] == str(block_id)
    assert ResultRecordMetadata.load_bytes(data) == metadata
    assert layout_detect(data) == Layout.V3_METADATA


def test_expiration_is_written_as_utc_with_z():
    five_thirty = dt.timezone(dt.timedelta(hours=5, minutes=30))
    metadata = ResultRecordMetadata(expiration=dt.datetime(2030, 1, 1, 5, 30, tzinfo=five_thirty))
    assert json.loads(metadata.dump_bytes())["expiration"] == "2030-01-01T00:00:00Z"
    naive = ResultRecordMetadata(expiration=dt.datetime(2030, 1, 1, 12, 0))
    assert json.loads(naive.dump_bytes())["expiration"] == "2030-01-01T12:00:00Z"


def test_raw_payload_needs_a_serializer_and_uses_the_backup():
    raw = PickleSerializer().dumps([1, 2, 3])
    assert layout_detect(raw) == Layout.V3_RAW
    with pytest.raises(RecordFormatError, match=r"raw serializer payload.*'pickle'.*backup_serializer"):
        ResultRecord.deserialize(raw)
    record = ResultRecord.deserialize(raw, backup_serializer=PickleSerializer())
    assert record.result == [1, 2, 3]
    assert record.storage_key is None and record.expiration is None


def test_raw_payload_with_separate_metadata():
    serializer = CompressedSerializer(serializer=JSONSerializer(), compressionlib="bz2")
    metadata = ResultRecordMetadata(storage_key="k", serializer=serializer)
    record = ResultRecord.deserialize_from_result_and_metadata(serializer.dumps(VALUE), metadata.dump_bytes())
    assert record.result == VALUE
    assert record.storage_key == "k"


def test_metadata_only_file_says_where_the_result_is():
    metadata = ResultRecordMetadata(storage_key="elsewhere/key", serializer=PickleSerializer())
    with pytest.raises(MetadataOnlyRecordError, match="elsewhere/key") as caught:
        ResultRecord.deserialize(metadata.dump_bytes())
    assert caught.value.metadata == metadata


@pytest.mark.parametrize(
    ("serializer", "expected_type"),
    [
        (PickleSerializer(), "pickle"),
        (CompressedPickleSerializer(), "compressed/pickle"),
        (CompressedSerializer(serializer=PickleSerializer(), compressionlib="zlib"), "compressed"),
        (CompressedSerializer(serializer=JSONSerializer(), compressionlib="bz2"), "compressed"),
        (CompressedJSONSerializer(), "compressed/json"),
        (JSONSerializer(), "json"),
    ],
)
def test_raw_payload_serializer_guess(serializer, expected_type):
    guess = raw_payload_guess_serializer(serializer.dumps({"a": [1, 2, 3]}))
    assert guess is not None
    assert guess.type == expected_type
    assert guess.loads(serializer.dumps({"a": [1, 2, 3]})) == {"a": [1, 2, 3]}


def test_layout_of_garbage_is_unknown():
    assert layout_detect(b"\x00\x01\x02 not anything") == Layout.UNKNOWN
    assert layout_detect(b"") == Layout.UNKNOWN
    assert raw_payload_guess_serializer(b"\x00\x01\x02") is None


def test_truncated_record_is_a_clear_error():
    data = _record(PickleSerializer(), value=list(range(5000))).serialize()
    cut = data[: len(data) // 2]
    assert layout_detect(cut) == Layout.V3_RECORD
    with pytest.raises(RecordFormatError, match="truncated"):
        ResultRecord.deserialize(cut)
    big = _record(PickleSerializer(), value=os.urandom(200_000)).serialize()
    with pytest.raises(RecordFormatError, match="truncated"):
        ResultRecord.deserialize_from(io.BytesIO(big[: len(big) - 1000]))


def test_invalid_json_is_a_clear_error():
    with pytest.raises(RecordFormatError, match="not valid JSON"):
        ResultRecord.deserialize(b'{"metadata": {"serializer": {"type": "pickle"}}, "result": "abc", }')
    with pytest.raises(RecordFormatError, match="empty"):
        ResultRecord.deserialize(b"")


def test_bad_base64_inside_a_record_is_a_clear_error():
    data = _record(PickleSerializer(), value=[1]).serialize().replace(b'"result":"', b'"result":"%%%')
    with pytest.raises(SerializationError, match="invalid base64 in pickle payload"):
        ResultRecord.deserialize(data)


def test_unknown_serializer_in_a_record_is_a_clear_error():
    data = json.dumps(
        {"metadata": {"serializer": {"type": "msgpack"}, "storage_key": "k"}, "result": "x"}
    ).encode()
    with pytest.raises(UnknownSerializerError, match="unknown serializer type 'msgpack'; register it"):
        ResultRecord.deserialize(data)


def test_compression_bomb_in_a_record_stops_at_the_limit():
    compressor = lzma.LZMACompressor(preset=0)
    zeros = bytes(4 * 1024 * 1024)
    bomb = b"".join(compressor.compress(zeros) for _ in range(64)) + compressor.flush()
    data = json.dumps(
        {
            "metadata": {"serializer": CompressedPickleSerializer().to_config(), "storage_key": "k"},
            "result": base64.encodebytes(bomb).decode(),
        }
    ).encode()
    with pytest.raises(DecodeLimitError):
        ResultRecord.deserialize(data, max_decoded_bytes=16 * 1024 * 1024)


def test_record_without_result_key_fields_is_reported():
    with pytest.raises(RecordFormatError):
        ResultRecord.deserialize(b'{"metadata": {"serializer": {"type": "pickle"}}}')
    with pytest.raises(RecordFormatError, match="expiration"):
        ResultRecord.deserialize(
            b'{"metadata": {"serializer": {"type": "json"}, "expiration": "soon"}, "result": "1"}'
        )


# -- chunk boundaries of the streaming reader --------------------------------------------------------
# A streamed record is read as a 64 KiB head, then in 1 MiB reads: these are the file offsets where
# one read ends and the next begins.
HEAD_BYTES = 64 * 1024
READ_BYTES = 1024 * 1024


def _read_in_thread(data: bytes, timeout: float = 60.0):
    """deserialize_from in a thread, so a reader that stops making progress fails the test."""
    outcome: dict = {}

    def run():
        try:
            outcome["record"] = ResultRecord.deserialize_from(io.BytesIO(data))
        except BaseException as exc:  # reported below
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), "reading the record never finished"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["record"]


@pytest.mark.parametrize("reads", [1, 2], ids=["first-boundary", "second-boundary"])
def test_escapes_cut_by_a_read_boundary_are_decoded(reads):
    boundary = HEAD_BYTES + reads * READ_BYTES
    # Escaped twice (by the JSON serializer, then by the record): quotes, backslashes, \u escapes
    # and surrogate pairs, with plain runs between them so a cut lands at every offset.
    dense = ('"' + "abcdefghijklmno" + "\\日🚀é\t") * 6
    probe = _record(JSONSerializer(), value="").serialize()
    prefix_bytes = len(probe) - len(b'""}')
    distances = set()
    for shift in range(56):
        value = "a" * (boundary - prefix_bytes - 200 + shift) + dense + "z" * 5000
        data = _record(JSONSerializer(), value=value).serialize()
        last_slash = data.rfind(b"\\", 0, boundary)
        distances.add(boundary - last_slash)
        assert _read_in_thread(data).result == value
    # Every position of an escape's start within the last 12 bytes before the boundary was met.
    assert set(range(1, 13)) <= distances


@pytest.mark.parametrize("size", [READ_BYTES - 3, 3 * READ_BYTES + 1, 8 * READ_BYTES + 77])
def test_base64_records_of_several_sizes_read_back_whatever_the_read_boundaries(size):
    value = os.urandom(size)
    data = _record(PickleSerializer(), value=value).serialize()
    assert _read_in_thread(data).result == value
    # Reads of an odd size cut the escaped newlines and the base64 groups everywhere.
    odd_reads = io.BufferedReader(SmallReads(data, step=100_003), buffer_size=100_003)
    assert ResultRecord.deserialize_from(odd_reads).result == value


def test_a_record_with_irregular_lines_and_escapes_reads_back():
    # Base64 with lines of varying length (not what encodebytes writes) and a CRLF line end.
    payload = base64.b64encode(PickleSerializer()._library().dumps(os.urandom(2 * READ_BYTES)))
    lines, start = [], 0
    while start < len(payload):
        length = 50 + start % 37
        lines.append(payload[start : start + length])
        start += length
    text = "\n".join(line.decode() for line in lines)
    document = {"metadata": ResultRecordMetadata(storage_key="k").to_dict(), "result": text}
    document["metadata"]["expiration"] = None
    data = json.dumps(document).encode().replace(b"\\n", b"\\r\\n", 1)  # one CRLF line end
    value = ResultRecord.deserialize_from(io.BytesIO(data)).result
    assert value == PickleSerializer().loads(text.encode())


def test_a_truncated_string_ending_in_a_cut_escape_is_reported_not_looped_on():
    data = _record(JSONSerializer(), value="x" * (2 * READ_BYTES) + '"' * 100).serialize()
    cut = data[: data.rfind(b"\\") + 1]
    with pytest.raises(RecordFormatError, match="truncated"):
        _read_in_thread(cut)


def test_the_head_reader_finds_fields_and_the_payload_by_byte_offset():
    from apps.results.format.layout import head_read

    data = b'{"metadata": {"storage_key": "r\xc3\xa9sultat", "serializer": "json"}, "result": "[1]"}'
    head = head_read(data[:-5], size=len(data))
    assert head.layout is Layout.V3_RECORD and head.complete is False
    assert head.serializer == {"type": "json"}
    assert head.metadata["storage_key"] == "résultat"
    start, end = head.spans["metadata"]
    assert json.loads(data[start:end]) == head.metadata
    assert data[head.payload_start : head.payload_start + 4] == b'"[1]'


def test_the_head_reader_decides_from_the_same_bytes_whatever_the_head_size():
    from apps.results.format.layout import LAYOUT_HEAD_BYTES, head_read

    inner = base64.encodebytes(pickle.dumps(os.urandom(3 * LAYOUT_HEAD_BYTES)))
    payload = base64.encodebytes(lzma.compress(inner))
    readings = [head_read(payload[:size], size=len(payload)) for size in (LAYOUT_HEAD_BYTES, len(payload))]
    assert [reading.layout for reading in readings] == [Layout.V3_RAW, Layout.V3_RAW]
    assert [reading.serializer for reading in readings] == [CompressedPickleSerializer().to_config()] * 2


def test_a_whole_record_gives_its_metadata_also_after_the_payload():
    from apps.results.format.layout import head_read

    head = head_read(b'{"result": "[1]", "metadata": {"serializer": {"type": "json"}, "storage_key": "k"}}')
    assert head.layout is Layout.V3_RECORD
    assert head.serializer == {"type": "json"} and head.payload_key == "result"
