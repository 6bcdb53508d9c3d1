"""Specification of the safe preview: layouts, JSON trees, pickle disassembly, tables, bounded reads."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import lzma
import pickle
import tracemalloc
import uuid
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from apps.blocks.filesystems import LocalFileSystem
from apps.results.preview import (
    DANGER_DANGEROUS,
    DANGER_KNOWN,
    DANGER_UNKNOWN,
    Preview,
    pickle_preview,
    preview_build,
    preview_from_bytes,
    value_to_preview,
)
from tests.payloads import MarkerPayload, OpenMarkerPayload
from tests.results.helpers_preview import json_record, manifest_expected_type, pickle_record, record_bytes


def corpus_entries(corpus: Path) -> list[dict]:
    return [json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines() if line.strip()]


def test_every_corpus_file_previews_with_its_type(prefect_corpus):
    storage = LocalFileSystem(basepath=prefect_corpus)
    problems = []
    for entry in corpus_entries(prefect_corpus):
        serializer = (
            entry["serializer"] if entry["layout"] == "v3-raw" and not entry.get("metadata_path") else None
        )
        preview = preview_build(
            fs=storage,
            key=entry["path"],
            metadata_fs=storage if entry.get("metadata_path") else None,
            metadata_key=entry.get("metadata_path"),
            serializer=serializer,
        )
        json.dumps(preview.to_dict())
        found = preview.value["type"] if preview.value else None
        if preview.error or preview.layout != entry["layout"] or found != manifest_expected_type(entry):
            problems.append((entry["path"], preview.layout, found, preview.error))
    assert problems == []


def test_record_metadata_and_serializer_are_extracted(prefect_corpus):
    entry = next(e for e in corpus_entries(prefect_corpus) if e["layout"] == "v3-record" and e["expiration"])
    preview = preview_build(fs=LocalFileSystem(basepath=prefect_corpus), key=entry["path"])
    assert preview.metadata["expiration"] == entry["expiration"]
    assert preview.metadata["serializer"] == entry["serializer"]
    assert preview.head_complete is True


def test_raw_payload_takes_its_serializer_from_split_metadata(tmp_path):
    storage = LocalFileSystem(basepath=tmp_path)
    storage.write_path("results/key", base64.encodebytes(pickle.dumps({"a": 1})))
    storage.write_path(
        "meta/key", json.dumps({"storage_key": "results/key", "serializer": {"type": "pickle"}}).encode()
    )
    preview = preview_build(fs=storage, key="results/key", metadata_fs=storage, metadata_key="meta/key")
    assert preview.layout == "v3-raw"
    assert preview.metadata["storage_key"] == "results/key"
    assert preview.value["type"] == "builtins.dict"
    assert preview.value["children"][0] == {"type": "builtins.int", "kind": "scalar", "key": "a", "value": 1}


def test_metadata_only_file_is_described():
    data = json.dumps(
        {
            "storage_key": "k",
            "expiration": None,
            "serializer": {"type": "json"},
            "prefect_version": "3.9.1",
            "storage_block_id": None,
        }
    ).encode()
    preview = preview_from_bytes(data, total_size=len(data))
    assert (preview.layout, preview.format, preview.error) == ("v3-metadata", "metadata", None)
    assert preview.metadata["storage_key"] == "k"


# -- JSON ------------------------------------------------------------------------------------------


def test_json_tree_is_cut_at_the_node_limit_with_first_n_of_m():
    data = json_record({"numbers": list(range(10_000)), "name": "x"})
    preview = preview_from_bytes(data, total_size=len(data), max_nodes=100)
    numbers = preview.value["children"][0]
    assert numbers["key"] == "numbers"
    assert numbers["length"] == 10_000
    assert len(numbers["children"]) < 100
    assert numbers["truncated"] == 10_000 - len(numbers["children"])
    assert numbers["note"] == f"first {len(numbers['children'])} of 10000"


def test_json_class_and_exception_wrappers_become_typed_nodes_without_imports():
    value = {
        "when": {"__class__": "datetime.datetime", "data": "2024-03-10T12:34:56+05:30"},
        "tags": {"__class__": "builtins.set", "data": [1, 2]},
        "boom": {"__exc_type__": "builtins.ValueError", "message": "bad value"},
        "evil": {"__class__": "os.system", "data": "touch /tmp/never"},
    }
    data = json_record(value)
    children = {
        child["key"]: child for child in preview_from_bytes(data, total_size=len(data)).value["children"]
    }
    assert children["when"]["type"] == "datetime.datetime"
    assert children["when"]["value"] == "2024-03-10T12:34:56+05:30"
    assert children["tags"]["type"] == "builtins.set"
    assert [child["value"] for child in children["tags"]["children"]] == [1, 2]
    assert children["boom"] == {
        "type": "builtins.ValueError",
        "kind": "exception",
        "key": "boom",
        "value": "bad value",
    }
    assert children["evil"]["type"] == "os.system"
    assert children["evil"]["value"] == "touch /tmp/never"


def test_cut_json_head_shows_what_was_parsed():
    payload = json.dumps({"rows": [{"id": index, "text": "y" * 50} for index in range(100_000)]})
    data = record_bytes(payload.encode(), serializer={"type": "json"})
    head = data[:200_000]
    preview = preview_from_bytes(head, total_size=len(data), max_nodes=1000)
    assert preview.error is None
    assert preview.head_complete is False
    rows = preview.value["children"][0]
    assert rows["children"][0]["children"][0] == {
        "type": "builtins.int",
        "kind": "scalar",
        "key": "id",
        "value": 0,
    }
    assert "at least" in rows["note"]


def test_compressed_json_is_decompressed_within_the_bound():
    inner = json.dumps({"a": "b" * 1000}).encode()
    payload = base64.encodebytes(lzma.compress(inner))
    serializer = {"type": "compressed", "serializer": {"type": "json"}, "compressionlib": "lzma"}
    data = record_bytes(payload, serializer=serializer)
    preview = preview_from_bytes(data, total_size=len(data))
    assert preview.value["children"][0]["length"] == 1000
    assert preview.compression == {
        "library": "lzma",
        "compressed_bytes": len(lzma.compress(inner)),
        "decompressed_bytes": len(inner),
        "decompressed_cut": False,
    }


def test_compression_bomb_stays_within_max_bytes():
    bomb = lzma.compress(b"[" + b"1," * 50_000_000 + b"1]")
    serializer = {"type": "compressed", "serializer": {"type": "json"}, "compressionlib": "lzma"}
    data = record_bytes(base64.encodebytes(bomb), serializer=serializer)
    preview = preview_from_bytes(data, total_size=len(data), max_bytes=1024 * 1024, max_nodes=50)
    assert preview.compression["decompressed_bytes"] == 1024 * 1024
    assert preview.compression["decompressed_cut"] is True
    assert preview.value["type"] == "builtins.list"


# -- pickle ----------------------------------------------------------------------------------------


def imports_of(preview: Preview) -> dict[str, str]:
    return {entry["path"]: entry["danger"] for entry in preview.pickle["imports"]}


def test_ndarray_pickle_lists_numpy_imports_and_shows_a_table():
    array = np.arange(12, dtype="float64").reshape(3, 4)
    data = pickle_record(array, dumps=cloudpickle.dumps)
    preview = preview_from_bytes(data, total_size=len(data))
    assert imports_of(preview)["numpy.dtype"] == DANGER_KNOWN
    assert any(path.startswith("numpy._core") for path in imports_of(preview))
    table = preview.value["table"]
    assert (preview.value["type"], table["shape"], table["dtype"]) == ("numpy.ndarray", [3, 4], "float64")
    assert table["rows"][2] == [8.0, 9.0, 10.0, 11.0]


@pytest.mark.parametrize("protocol", [2, 5])
def test_ndarray_pickle_of_any_protocol_is_decoded_from_its_buffer(protocol):
    array = np.array([[1, 2], [3, 4]], dtype=">i4")
    value, summary = pickle_preview(pickle.dumps(array, protocol=protocol))
    assert value["table"]["rows"] == [[1, 2], [3, 4]]
    assert summary["complete"] is True


def test_dataframe_pickle_lists_pandas_imports_and_recovers_columns():
    frame = pd.DataFrame({"i": [1, 2, 3], "f": [0.5, 1.5, 2.5], "s": ["a", "b", "c"]})
    data = pickle_record(frame, dumps=cloudpickle.dumps)
    preview = preview_from_bytes(data, total_size=len(data))
    imports = imports_of(preview)
    assert imports["pandas.DataFrame"] == DANGER_KNOWN
    assert "pandas.core.internals.managers.BlockManager" in imports
    table = preview.value["table"]
    assert table["shape"] == [3, 3]
    assert table["columns"] == ["i", "f", "s"]
    assert table["dtypes"] == ["int64", "float64", "str"]
    assert table["rows"][0] == [1, 0.5, "a"]


GROUPED = pd.DataFrame({"a": [1, 1, 2], "b": ["x", "y", "x"], "v": [1.0, 2.0, 3.0]}).groupby(["a", "b"]).sum()
BY_INTERVAL = pd.DataFrame({"v": [1, 2]}, index=pd.IntervalIndex.from_breaks([0, 1, 2]))


@pytest.mark.parametrize(("frame", "shape"), [(GROUPED, [3, 1]), (BY_INTERVAL, [2, 1])])
def test_a_frame_with_a_multi_or_interval_index_has_a_numeric_shape(frame, shape):
    data = pickle_record(frame, dumps=cloudpickle.dumps)
    preview = preview_from_bytes(data, total_size=len(data))
    assert preview.error is None
    table = preview.value["table"]
    assert table["shape"] == shape
    assert table["rows"] == [[value] for value in frame["v"].tolist()]


@pytest.mark.django_db
def test_the_result_page_and_the_full_page_decode_show_a_grouped_frame(operator_client, tmp_path):
    from django.urls import reverse

    from tests.dashboard_data import stored_result

    reference = stored_result(tmp_path, GROUPED, serializer="pickle")
    page = operator_client.get(reverse("results:result-detail", args=[reference.pk]))
    decoded = operator_client.post(reverse("results:result-decode", args=[reference.pk]))
    assert page.status_code == 200 and "shape 3" in page.content.decode()
    assert decoded.status_code == 200 and "Decoded in the sandbox" in decoded.content.decode()


def test_standard_values_are_recognised_statically():
    value = {
        "when": dt.datetime(2024, 3, 10, 12, 34, 56, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        "id": uuid.UUID(int=5),
        "amount": __import__("decimal").Decimal("3.14"),
        "bytes": bytes(range(200)),
        "error": ValueError("bad"),
        "frozen": frozenset({1}),
        "scalar": np.float64(1.5),
    }
    node, _ = pickle_preview(pickle.dumps(value, protocol=4))
    children = {child["key"]: child for child in node["children"]}
    assert children["when"]["value"] == "2024-03-10T12:34:56+05:30"
    assert children["id"]["value"] == "00000000-0000-0000-0000-000000000005"
    assert children["amount"]["value"] == "3.14"
    assert children["bytes"]["hex"] == bytes(range(64)).hex()
    assert children["bytes"]["note"] == "first 64 of 200 bytes"
    assert (children["error"]["kind"], children["error"]["value"]) == ("exception", "bad")
    assert children["frozen"]["type"] == "builtins.frozenset"
    assert children["scalar"] == {"type": "numpy.float64", "kind": "scalar", "key": "scalar", "value": 1.5}


def test_memo_and_cycles_are_followed():
    shared = [1, 2]
    cyclic: list = []
    cyclic.append(cyclic)
    node, summary = pickle_preview(pickle.dumps({"a": shared, "b": shared, "c": cyclic}, protocol=0))
    children = {child["key"]: child for child in node["children"]}
    assert children["a"]["children"] == children["b"]["children"]
    assert children["c"]["children"][0]["kind"] == "ref"
    assert summary["protocol"] is None


def test_out_of_band_buffers_are_reported():
    data = pickle.dumps(pickle.PickleBuffer(b"abc"), protocol=5, buffer_callback=lambda buffer: False)
    node, summary = pickle_preview(data)
    assert node["kind"] == "buffer"
    assert summary["out_of_band_buffers"] == 1
    assert "out-of-band" in summary["note"]


def test_bytearray8_is_shown_as_bytes():
    node, _ = pickle_preview(pickle.dumps(bytearray(b"\x01\x02"), protocol=5))
    assert (node["type"], node["hex"]) == ("builtins.bytearray", "0102")


@pytest.mark.parametrize("payload_class", [MarkerPayload, OpenMarkerPayload])
def test_malicious_pickle_is_flagged_and_never_runs(tmp_path, payload_class):
    marker = tmp_path / f"x-{uuid.uuid4().hex}"
    data = pickle_record(payload_class(str(marker)), dumps=cloudpickle.dumps)
    preview = preview_from_bytes(data, total_size=len(data))
    assert preview.pickle["danger"] == DANGER_DANGEROUS
    dangerous = [path for path, level in imports_of(preview).items() if level == DANGER_DANGEROUS]
    assert dangerous in (["posix.system"], ["builtins.open"], ["io.open"])
    assert preview.value["kind"] == "call"
    assert preview.value["danger"] == DANGER_DANGEROUS
    assert str(marker) in preview.value["value"]
    assert str(marker) in preview.value["children"][0]["value"]
    assert not marker.exists()


def test_by_value_function_is_shown_as_cloudpickle_calls():
    def double(number):
        return number * 2

    node, summary = pickle_preview(cloudpickle.dumps(double))
    assert summary["danger"] == DANGER_DANGEROUS
    assert any(entry["path"].startswith("cloudpickle") for entry in summary["imports"])
    assert node["kind"] == "call"
    assert node["value"].startswith("call cloudpickle.")


def test_user_classes_are_unknown_and_show_their_fields(prefect_corpus):
    entry = next(
        e
        for e in corpus_entries(prefect_corpus)
        if e["value_id"] == "dataclass" and e["serializer_id"] == "pickle"
    )
    preview = preview_build(fs=LocalFileSystem(basepath=prefect_corpus), key=entry["path"])
    assert imports_of(preview) == {"corpus_types.Item": DANGER_UNKNOWN}
    fields = {child["key"]: child.get("value") for child in preview.value["children"]}
    assert fields["name"] == "widget"
    assert fields["qty"] == 3


def test_truncated_pickle_gives_an_error_and_a_partial_tree():
    data = pickle.dumps({"a": 1, "b": [1, 2, 3], "c": "x" * 100}, protocol=4)[:-30]
    preview = preview_from_bytes(record_bytes(base64.encodebytes(data)), total_size=None)
    assert preview.error is not None
    assert "cut" in preview.error or "corrupt" in preview.error
    assert preview.value["type"] == "pickle.partial"
    assert preview.value["children"]


def test_a_cut_long_bytes_value_reports_its_declared_size():
    data = pickle.dumps({"blob": b"z" * 5_000_000}, protocol=5)
    record = record_bytes(base64.encodebytes(data))
    preview = preview_from_bytes(record[:100_000], total_size=len(record))
    assert preview.error is None
    cut = preview.value["children"][-1]
    assert cut["length"] == 5_000_000
    assert cut["hex"].startswith("7a7a")


# -- corrupt and unknown files ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"\x00\x01garbage\xff" * 10, b'{"metadata": {"serializer": {"type": "pickle"}}, "result": "!!!"}', b""],
)
def test_corrupt_or_unknown_files_get_an_error_and_the_raw_head(data):
    preview = preview_from_bytes(data, total_size=len(data))
    assert preview.error
    assert preview.raw_head["hex"] == data[:512].hex(" ", 1)
    json.dumps(preview.to_dict())


def test_missing_file_is_an_error_not_an_exception(tmp_path):
    preview = preview_build(fs=LocalFileSystem(basepath=tmp_path), key="missing")
    assert "cannot read 'missing'" in preview.error


def test_unknown_serializer_is_named():
    data = record_bytes(b"abc", serializer={"type": "yaml"})
    assert "unknown serializer type 'yaml'" in preview_from_bytes(data, total_size=len(data)).error


# -- Python values ---------------------------------------------------------------------------------


def test_value_to_preview_shows_a_dataframe_table():
    frame = pd.DataFrame({"a": range(100), "b": [f"r{index}" for index in range(100)]})
    node = value_to_preview(frame)
    table = node["table"]
    assert (node["type"], table["shape"], table["dtypes"]) == ("pandas.DataFrame", [100, 2], ["int64", "str"])
    assert len(table["rows"]) == 50
    assert table["rows"][1] == [1, "r1"]


def test_value_to_preview_cuts_at_the_node_limit():
    node = value_to_preview({"items": list(range(1000))}, max_nodes=10)
    items = node["children"][0]
    assert items["note"] == f"first {len(items['children'])} of 1000"


# -- bounded reads ---------------------------------------------------------------------------------


def test_a_1gb_sparse_file_is_previewed_from_its_head_only(tmp_path):
    head = record_bytes(base64.encodebytes(pickle.dumps({"name": "big", "blob": b"\0" * 100}, protocol=5)))
    head = head[: head.index(b'"result":"') + 10] + base64.encodebytes(b"\x80\x05\x95")[:-5]
    path = tmp_path / "big"
    with path.open("wb") as stream:
        stream.write(head)
        stream.truncate(1024**3)
    tracemalloc.start()
    try:
        preview = preview_build(fs=LocalFileSystem(basepath=tmp_path), key="big")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 * 1024
    assert preview.size_bytes == 1024**3
    assert preview.bytes_read == 8 * 1024 * 1024
    assert preview.head_complete is False
    assert preview.layout == "v3-record"
    assert preview.format == "pickle"
    io.StringIO(json.dumps(preview.to_dict()))


def test_a_serializer_given_as_a_plain_string_is_accepted():
    payload = base64.encodebytes(lzma.compress(b'{"a": [1, 2]}'))
    preview = preview_from_bytes(payload, total_size=len(payload), serializer="compressed/json")
    assert preview.error is None and preview.format == "json"
    assert preview.serializer == {"type": "compressed/json"}
    assert preview.value["type"] == "builtins.dict"
