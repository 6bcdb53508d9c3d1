"""result_inspect: an operator's look at one result file, which never runs a pickle."""

from __future__ import annotations

import base64
import json
import pickle

import pytest

from apps.blocks.filesystems import LocalFileSystem
from apps.results.preview.inspect import InspectError, inspect_report_text, pickle_summary, result_inspect
from apps.results.store import ResultStore


def corpus_entries(corpus):
    return [json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines()]


def test_every_corpus_file_is_reported_with_its_layout(prefect_corpus):
    for entry in corpus_entries(prefect_corpus):
        report = result_inspect(location=str(prefect_corpus / entry["path"]))

        assert report["layout"] == entry["layout"], entry["path"]
        assert report["size_bytes"] == entry["size_bytes"], entry["path"]
        if entry["layout"] in ("v3-record", "v2-blob"):
            assert report["metadata"]["serializer"] == entry["serializer"], entry["path"]
            assert report["value"]["kind"] in ("pickle", "json"), (entry["path"], report["value"])
            assert "error" not in report["value"], (entry["path"], report["value"])
        if entry["layout"] == "v3-record":
            assert report["metadata"]["storage_key"] == entry["storage_key"]
            assert report["metadata"]["prefect_version"] == "3.9.1"


def test_the_split_layout_metadata_file_is_recognised(tmp_path):
    store = ResultStore(
        result_storage=LocalFileSystem(basepath=str(tmp_path / "results")),
        metadata_storage=LocalFileSystem(basepath=str(tmp_path / "metadata")),
        serializer="json",
    )
    store.write({"a": 1}, key="split")

    metadata = result_inspect(location=f"file://{tmp_path / 'metadata' / 'split'}")
    raw = result_inspect(location=str(tmp_path / "results" / "split"))

    assert metadata["layout"] == "v3-metadata"
    assert metadata["metadata"]["storage_key"] == str((tmp_path / "results" / "split").resolve())
    assert raw["layout"] == "v3-raw"


def test_json_values_are_decoded_and_pickles_only_disassembled(tmp_path):
    store = ResultStore(result_storage=LocalFileSystem(basepath=str(tmp_path)))
    ResultStore(result_storage=LocalFileSystem(basepath=str(tmp_path)), serializer="compressed/json").write(
        {"numbers": [1, 2, 3]}, key="json"
    )
    store.write({"when": __import__("datetime").date(2024, 1, 2)}, key="pickle")

    json_report = result_inspect(location=str(tmp_path / "json"))
    pickle_report = result_inspect(location=str(tmp_path / "pickle"))

    assert json_report["value"]["repr"] == "{'numbers': [1, 2, 3]}"
    assert json_report["value"]["compression"]["lib"] == "lzma"
    assert "datetime.date" in pickle_report["value"]["imports"]
    assert pickle_report["value"]["complete"] is True
    assert "datetime.date" in inspect_report_text(pickle_report)


class CreatesAFile:
    """Unpickling this would create a file: the shape of a malicious pickle."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_malicious_pickle_is_inspected_and_never_run(tmp_path):
    target = tmp_path / "pwned"
    payload = base64.encodebytes(pickle.dumps(CreatesAFile(str(target)))).decode()
    record = {
        "metadata": {
            "storage_key": "evil",
            "expiration": None,
            "serializer": {"type": "pickle", "picklelib": "pickle", "picklelib_version": None},
            "prefect_version": "3.9.1",
            "storage_block_id": None,
        },
        "result": payload,
    }
    (tmp_path / "evil").write_text(json.dumps(record))

    report = result_inspect(location=str(tmp_path / "evil"))
    text = inspect_report_text(report)

    assert not target.exists()
    assert report["layout"] == "v3-record"
    assert report["value"]["imports"] == ["io.open"]  # builtins.open pickles by its home module
    assert report["value"]["calls"] == 1
    assert "io.open" in text


def test_a_large_file_is_read_only_up_to_the_bound(tmp_path):
    store = ResultStore(result_storage=LocalFileSystem(basepath=str(tmp_path)))
    store.write(b"x" * 200_000, key="large")

    report = result_inspect(location=str(tmp_path / "large"), max_preview_bytes=4096)

    assert report["bytes_read"] == 4096
    assert report["complete"] is False
    assert report["layout"] == "v3-record"
    assert report["metadata"]["serializer"]["type"] == "pickle"
    assert report["value"]["kind"] == "pickle"
    assert report["value"]["complete"] is False


def test_reads_s3_objects_with_credentials_from_the_environment(s3_settings, s3_bucket, monkeypatch):
    from apps.blocks.filesystems import S3

    ResultStore(result_storage=S3(bucket_path=s3_bucket, **s3_settings), serializer="json").write(
        [1, 2], key="on-s3"
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_settings["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_settings["aws_secret_access_key"])

    report = result_inspect(location=f"s3://{s3_bucket}/on-s3", endpoint_url=s3_settings["endpoint_url"])

    assert report["layout"] == "v3-record"
    assert report["value"]["repr"] == "[1, 2]"


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(InspectError, match="no file at"):
        result_inspect(location=str(tmp_path / "absent"))


def test_the_summary_survives_a_cut_pickle():
    data = pickle.dumps({"key": list(range(1000))})
    summary = pickle_summary(data=data[: len(data) // 2])

    assert summary["complete"] is False
    assert "cut or corrupt" in summary["note"]


def test_the_command_prints_text_and_json(tmp_path, capsys):
    from django.core.management import call_command

    ResultStore(result_storage=LocalFileSystem(basepath=str(tmp_path)), serializer="json").write(
        {"a": 1}, key="k"
    )
    call_command("inspect_result", str(tmp_path / "k"))
    text = capsys.readouterr().out
    call_command("inspect_result", str(tmp_path / "k"), "--json")
    report = json.loads(capsys.readouterr().out)

    assert "layout:     v3-record" in text
    assert report["value"]["repr"] == "{'a': 1}"
