"""Serializers: Prefect's byte formats, round trips, configs, limits and clear errors."""

import base64
import datetime as dt
import decimal
import io
import lzma
import pickle
import time
import tracemalloc
import zlib
from typing import Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.results.serializers import (
    Base64DecodingReader,
    CompressedJSONSerializer,
    CompressedPickleSerializer,
    CompressedSerializer,
    DecodeLimitError,
    JSONSerializer,
    MissingObjectError,
    PickleSerializer,
    SerializationError,
    Serializer,
    UnknownSerializer,
    UnknownSerializerError,
    b64decode_bounded,
    compress_bytes,
    decompress_bounded,
    register_serializer,
    serializer_from,
    xz_stored_stream,
)

ROUND_TRIP = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

plain_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyzé_", min_size=1, max_size=8)
plain_values = st.recursive(
    plain_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=5),
    max_leaves=25,
)
# Prefect's JSON keeps the UTC offset to the minute, not the zone: whole-minute fixed offsets.
fixed_offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)
json_extras = (
    st.datetimes(timezones=st.none() | fixed_offsets)
    | st.uuids()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.sets(st.integers(min_value=-1000, max_value=1000) | st.text(max_size=5), max_size=5)
)
json_values = st.recursive(
    plain_scalars | json_extras,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=5),
    max_leaves=25,
)
# orjson writes datetimes and UUIDs natively (as strings), so they do not come back as objects.
orjson_values = st.recursive(
    plain_scalars
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.sets(st.integers(0, 99), max_size=4),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=5),
    max_leaves=25,
)

PICKLE_SERIALIZERS = [
    PickleSerializer(),
    PickleSerializer(picklelib="pickle"),
    *[
        CompressedSerializer(serializer=PickleSerializer(), compressionlib=lib)
        for lib in ("lzma", "zlib", "bz2", "gzip")
    ],
    CompressedPickleSerializer(),
]
JSON_SERIALIZERS = [
    JSONSerializer(),
    *[
        CompressedSerializer(serializer=JSONSerializer(), compressionlib=lib)
        for lib in ("lzma", "zlib", "bz2", "gzip")
    ],
    CompressedJSONSerializer(),
]
ORJSON_SERIALIZERS = [
    JSONSerializer(jsonlib="orjson"),
    CompressedSerializer(serializer=JSONSerializer(jsonlib="orjson"), compressionlib="zlib"),
]
ALL_SERIALIZERS = PICKLE_SERIALIZERS + JSON_SERIALIZERS + ORJSON_SERIALIZERS


def _ids(serializers):
    return [repr(s.to_config()) for s in serializers]


def _round_trip(serializer: Serializer, value):
    blob = serializer.dumps(value)
    sink = io.BytesIO()
    serializer.dump_to(value, sink)
    assert sink.getvalue() == blob
    assert serializer.load_from(io.BytesIO(blob)) == value
    return serializer.loads(blob)


@pytest.mark.parametrize("serializer", PICKLE_SERIALIZERS, ids=_ids(PICKLE_SERIALIZERS))
@ROUND_TRIP
@given(value=json_values)
def test_pickle_serializers_round_trip(serializer, value):
    assert _round_trip(serializer, value) == value


@pytest.mark.parametrize("serializer", JSON_SERIALIZERS, ids=_ids(JSON_SERIALIZERS))
@ROUND_TRIP
@given(value=json_values)
def test_json_serializers_round_trip_extended_types(serializer, value):
    assert _round_trip(serializer, value) == value


@pytest.mark.parametrize("serializer", ORJSON_SERIALIZERS, ids=_ids(ORJSON_SERIALIZERS))
@ROUND_TRIP
@given(value=orjson_values)
def test_orjson_serializers_round_trip(serializer, value):
    assert _round_trip(serializer, value) == value


@ROUND_TRIP
@given(value=orjson_values)
def test_orjson_decodes_like_stdlib_json(value):
    blob = JSONSerializer(jsonlib="orjson").dumps(value)
    assert JSONSerializer(jsonlib="orjson").loads(blob) == JSONSerializer(jsonlib="json").loads(blob)


@pytest.mark.parametrize("serializer", ALL_SERIALIZERS, ids=_ids(ALL_SERIALIZERS))
def test_config_round_trips(serializer):
    assert serializer_from(serializer.to_config()) == serializer
    assert serializer_from(serializer) is serializer


def test_pickle_output_is_mime_base64_of_cloudpickle():
    import cloudpickle

    value = {"x": list(range(100))}
    assert PickleSerializer().dumps(value) == base64.encodebytes(cloudpickle.dumps(value))


def test_compressed_output_is_base64_of_compressed_inner_output():
    inner = PickleSerializer()
    value = ["a" * 500, 1, 2]
    for lib, decompress in (("zlib", zlib.decompress), ("lzma", lzma.decompress)):
        blob = CompressedSerializer(serializer=inner, compressionlib=lib).dumps(value)
        assert decompress(base64.decodebytes(blob)) == inner.dumps(value)


def test_json_output_matches_prefect_encoding():
    value = {
        "when": dt.datetime(2024, 3, 10, 12, 0, tzinfo=dt.UTC),
        "n": decimal.Decimal("1.5"),
        "err": KeyError("k"),
    }
    assert JSONSerializer().dumps(value) == (
        b'{"when": {"__class__": "datetime.datetime", "data": "2024-03-10T12:00:00Z"}, '
        b'"n": {"__class__": "decimal.Decimal", "data": "1.5"}, '
        b'"err": {"__exc_type__": "builtins.KeyError", "message": "\'k\'"}}'
    )


def test_configs_have_prefect_key_order():
    assert list(PickleSerializer().to_config()) == ["type", "picklelib", "picklelib_version"]
    assert list(JSONSerializer().to_config()) == [
        "type",
        "jsonlib",
        "object_encoder",
        "object_decoder",
        "dumps_kwargs",
        "loads_kwargs",
    ]
    assert list(CompressedPickleSerializer().to_config()) == ["type", "serializer", "compressionlib"]


def test_names_and_shortcuts():
    assert serializer_from("pickle") == PickleSerializer()
    assert serializer_from("json") == JSONSerializer()
    assert serializer_from("compressed/pickle").to_config() == {
        "type": "compressed/pickle",
        "serializer": PickleSerializer().to_config(),
        "compressionlib": "lzma",
    }
    assert serializer_from("compressed/json").serializer == JSONSerializer()
    assert serializer_from(None) == PickleSerializer()
    assert serializer_from({"type": "compressed", "serializer": "json", "compressionlib": "bz2"}) == (
        CompressedSerializer(serializer=JSONSerializer(), compressionlib="bz2")
    )


def test_compression_level_is_not_in_config():
    assert CompressedSerializer(serializer="pickle", compressionlib="zlib", level=1) == CompressedSerializer(
        serializer="pickle", compressionlib="zlib", level=9
    )
    assert (
        "level" not in CompressedSerializer(serializer="pickle", compressionlib="zlib", level=1).to_config()
    )


def test_unknown_serializer_type_in_config_is_kept_and_refuses_to_decode():
    config = {"type": "my-msgpack", "option": 1}
    serializer = serializer_from(config)
    assert isinstance(serializer, UnknownSerializer)
    assert serializer.to_config() == config
    with pytest.raises(UnknownSerializerError, match="unknown serializer type 'my-msgpack'; register it"):
        serializer.loads(b"x")


def test_unknown_serializer_name_is_an_error():
    with pytest.raises(UnknownSerializerError, match="unknown serializer 'msgpack'"):
        serializer_from("msgpack")


def test_registered_serializer_is_found_by_type():
    @register_serializer
    class UpperTextSerializer(Serializer):
        type: Literal["test-upper-text"] = "test-upper-text"

        def dumps(self, obj):
            return obj.upper().encode()

        def loads(self, blob):
            return blob.decode()

    found = serializer_from({"type": "test-upper-text"})
    assert isinstance(found, UpperTextSerializer)
    assert found.loads(found.dumps("abc")) == "ABC"
    assert serializer_from("test-upper-text") == found


def test_invalid_base64_is_a_clear_error():
    with pytest.raises(SerializationError, match="invalid base64 in pickle payload"):
        PickleSerializer().loads(b"gAWV!!!!not base64")
    with pytest.raises(SerializationError, match="invalid base64"):
        PickleSerializer().load_from(io.BytesIO(b"gAWV!!!!not base64"))


def test_corrupt_compressed_data_is_a_clear_error():
    blob = base64.encodebytes(lzma.compress(PickleSerializer().dumps([1, 2, 3]))[:-20])
    with pytest.raises(SerializationError, match="lzma data is corrupt or truncated"):
        CompressedPickleSerializer().loads(blob)
    with pytest.raises(SerializationError, match="lzma data is corrupt or truncated"):
        CompressedPickleSerializer().load_from(io.BytesIO(blob))


def test_truncated_pickle_is_a_clear_error():
    blob = base64.encodebytes(pickle.dumps(list(range(1000)))[:-50])
    with pytest.raises(SerializationError, match="corrupt or truncated"):
        PickleSerializer().loads(blob)


def test_pickle_naming_a_missing_module_says_which():
    blob = base64.encodebytes(b"cmissing_module_for_tests\nThing\n)\x81.")
    with pytest.raises(
        MissingObjectError, match="pickle refers to module 'missing_module_for_tests' which is not"
    ):
        PickleSerializer().loads(blob)
    with pytest.raises(MissingObjectError, match="missing_module_for_tests"):
        PickleSerializer().load_from(io.BytesIO(blob))


def test_pickle_naming_a_missing_attribute_says_which():
    blob = base64.encodebytes(b"cjson\nNoSuchThing\n)\x81.")
    with pytest.raises(MissingObjectError, match=r"json\.NoSuchThing"):
        PickleSerializer().loads(blob)


def test_invalid_json_is_a_clear_error():
    with pytest.raises(SerializationError, match="invalid JSON payload"):
        JSONSerializer().loads(b'{"a": ')


def test_json_does_not_import_classes_it_was_not_allowed_to():
    blob = b'{"__class__": "json_module_never_imported_xyz.Evil", "data": 1}'
    assert JSONSerializer().loads(blob) == {"__class__": "json_module_never_imported_xyz.Evil", "data": 1}
    blob = b'{"__class__": "os.system", "data": "echo hi"}'
    assert JSONSerializer().loads(blob) == {"__class__": "os.system", "data": "echo hi"}
    blob = b'{"__exc_type__": "subprocess.Popen", "message": "ls"}'
    assert JSONSerializer().loads(blob) == {"__exc_type__": "subprocess.Popen", "message": "ls"}


def test_json_rebuilds_models_of_imported_modules():
    from pydantic import BaseModel

    class Sample(BaseModel):
        x: int

    import sys

    sys.modules[__name__].Sample = Sample
    Sample.__qualname__ = "Sample"
    try:
        serializer = JSONSerializer()
        assert serializer.loads(serializer.dumps(Sample(x=3))) == Sample(x=3)
    finally:
        del sys.modules[__name__].Sample


def test_base64_limit():
    with pytest.raises(DecodeLimitError):
        b64decode_bounded(base64.encodebytes(b"x" * 1000), limit=100)
    assert b64decode_bounded(base64.encodebytes(b"x" * 100), limit=100) == b"x" * 100


def _lzma_bomb(total: int) -> bytes:
    """``total`` zero bytes as concatenated xz streams, built without ever holding them."""
    piece = 128 * 1024 * 1024
    compressor = lzma.LZMACompressor(preset=0)
    zeros = bytes(8 * 1024 * 1024)
    stream = b"".join(compressor.compress(zeros) for _ in range(piece // len(zeros))) + compressor.flush()
    return stream * (total // piece)


def test_lzma_bomb_stops_at_the_limit_quickly_without_allocating_it():
    bomb = base64.encodebytes(_lzma_bomb(2 * 1024**3))
    assert len(bomb) < 2 * 1024 * 1024
    limit = 32 * 1024 * 1024
    serializer = CompressedPickleSerializer().with_max_decoded_bytes(limit)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(DecodeLimitError, match="more than the limit"):
            serializer.loads(bomb)
        with pytest.raises(SerializationError):
            serializer.load_from(io.BytesIO(bomb))
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 10
    assert peak < 4 * limit


def test_decompression_reads_concatenated_streams_and_ignores_trailing_garbage():
    data = lzma.compress(b"one") + lzma.compress(b"two") + b"trailing"
    assert decompress_bounded(data, compressionlib="lzma", limit=100) == lzma.decompress(data) == b"onetwo"
    data = zlib.compress(b"one") + b"trailing"
    assert decompress_bounded(data, compressionlib="zlib", limit=100) == zlib.decompress(data)


@pytest.mark.parametrize(
    "data",
    [b"", b"abc" * 5000, bytes(range(256)) * 40000],
    ids=["empty", "repetitive", "mixed"],
)
@pytest.mark.parametrize("lib", ["lzma", "zlib", "bz2", "gzip"])
def test_compression_is_readable_by_the_standard_library(lib, data):
    import bz2
    import gzip

    decompress = {
        "lzma": lzma.decompress,
        "zlib": zlib.decompress,
        "bz2": bz2.decompress,
        "gzip": gzip.decompress,
    }
    assert decompress[lib](compress_bytes(data, compressionlib=lib)) == data


def test_fast_lzma_stores_incompressible_data_readably():
    import os

    data = os.urandom(3 * 1024 * 1024 + 17)
    assert lzma.decompress(xz_stored_stream(data)) == data
    compressed = compress_bytes(data, compressionlib="lzma")
    assert lzma.decompress(compressed) == data
    assert len(compressed) < len(data) * 1.01


def test_fast_lzma_is_much_faster_than_prefect_default_on_random_data():
    import os

    data = os.urandom(4 * 1024 * 1024)
    started = time.perf_counter()
    fast = compress_bytes(data, compressionlib="lzma")
    fast_seconds = time.perf_counter() - started
    started = time.perf_counter()
    lzma.compress(data)  # Prefect's lzma.compress: preset 6
    default_seconds = time.perf_counter() - started
    assert lzma.decompress(fast) == data
    assert fast_seconds * 10 < default_seconds


# -- streamed base64 -------------------------------------------------------------------------------


class _Chunks(io.RawIOBase):
    """A file that hands out its data in the given piece sizes, cycling through them."""

    def __init__(self, data: bytes, sizes: list[int]):
        self._data, self._sizes, self._pos, self._turn = data, sizes, 0, 0

    def readable(self):
        return True

    def read(self, size=-1):
        step = self._sizes[self._turn % len(self._sizes)]
        self._turn += 1
        chunk = self._data[self._pos : self._pos + min(step, size)]
        self._pos += len(chunk)
        return chunk


RAW = bytes(range(256)) * 4000 + b"tail"


@pytest.mark.parametrize(
    "layout",
    [
        pytest.param(base64.encodebytes(RAW), id="mime-lines"),
        pytest.param(base64.b64encode(RAW), id="one-line"),
        pytest.param(base64.encodebytes(RAW).replace(b"\n", b"\r\n"), id="crlf"),
        pytest.param(
            b" \n".join(base64.b64encode(RAW)[i : i + 61] for i in range(0, 1_400_000, 61)), id="ragged"
        ),
    ],
)
@pytest.mark.parametrize(
    "sizes", [[1 << 22], [7, 1 << 20, 3], [100_003]], ids=["whole", "tiny-and-large", "odd"]
)
def test_base64_reader_decodes_every_layout_across_any_read_sizes(layout, sizes):
    reader = Base64DecodingReader(_Chunks(layout, sizes), limit=len(RAW))
    assert reader.read() == RAW


def test_base64_reader_refuses_data_after_the_padding_and_bad_characters():
    padded = base64.encodebytes(b"ab")  # "YWI=\n"
    with pytest.raises(SerializationError, match="after the final padding"):
        Base64DecodingReader(_Chunks(padded + padded, [5]), limit=100).read()
    with pytest.raises(SerializationError, match="invalid base64"):
        Base64DecodingReader(io.BytesIO(b"YWJj" * 100 + b"YW!j"), limit=1000).read()
    with pytest.raises(SerializationError, match="truncated"):
        Base64DecodingReader(io.BytesIO(b"YWJjYW"), limit=1000).read()
    with pytest.raises(DecodeLimitError):
        Base64DecodingReader(io.BytesIO(base64.encodebytes(RAW)), limit=len(RAW) - 1).read()
