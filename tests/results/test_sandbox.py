"""Specification of the sandboxed decode: real values for data, refusals for code, limits that hold."""

from __future__ import annotations

import base64
import collections
import json
import lzma
import pickle
import uuid
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd

from apps.results.preview.sandbox import sandbox_decode, sandbox_environment
from tests.payloads import MarkerPayload, OpenMarkerPayload
from tests.results.helpers_preview import manifest_expected_type, pickle_record


def test_every_corpus_file_decodes_with_its_type(prefect_corpus):
    problems = []
    for line in (prefect_corpus / "manifest.jsonl").read_text().splitlines():
        entry = json.loads(line)
        answer = sandbox_decode(
            data=(prefect_corpus / entry["path"]).read_bytes(),
            serializer_config=entry["serializer"] if entry["layout"] == "v3-raw" else None,
            layout=entry["layout"],
            import_paths=[str(prefect_corpus)],
        )
        if not answer["ok"] or answer["type"] != manifest_expected_type(entry):
            problems.append((entry["path"], answer.get("type"), answer.get("error")))
    assert problems == []


def test_malicious_pickles_are_refused_and_never_run(tmp_path):
    for payload_class, refused in ((MarkerPayload, "posix.system"), (OpenMarkerPayload, "io.open")):
        marker = tmp_path / f"x-{uuid.uuid4().hex}"
        answer = sandbox_decode(
            data=pickle_record(payload_class(str(marker)), dumps=cloudpickle.dumps),
            serializer_config=None,
            layout="v3-record",
        )
        assert answer["ok"] is False
        assert answer["error_kind"] == "refused"
        assert answer["refused"] == refused
        assert answer["danger"] == "dangerous"
        assert not marker.exists()


def test_by_value_functions_are_refused():
    answer = sandbox_decode(
        data=pickle_record(lambda: 1, dumps=cloudpickle.dumps), serializer_config=None, layout="v3-record"
    )
    assert answer["error_kind"] == "refused"
    assert answer["refused"].startswith("cloudpickle")


def test_a_100000_row_dataframe_decodes_to_a_table():
    rows = 100_000
    frame = pd.DataFrame(
        {
            "id": np.arange(rows),
            "score": np.linspace(0, 1, rows),
            "name": [f"row-{index}" for index in range(rows)],
            "when": pd.date_range("2024-01-01", periods=rows, freq="s", tz="UTC"),
            "group": pd.Categorical(["a", "b"] * (rows // 2)),
            "count": pd.array(range(rows), dtype="Int64"),
        }
    )
    answer = sandbox_decode(
        data=pickle_record(frame, dumps=cloudpickle.dumps), serializer_config=None, layout="v3-record"
    )
    assert answer["ok"] is True, answer
    assert answer["isolated"] is True
    table = answer["value"]["table"]
    assert answer["type"] == "pandas.DataFrame"
    assert table["shape"] == [rows, 6]
    assert table["dtypes"] == ["int64", "float64", "str", "datetime64[us, UTC]", "category", "Int64"]
    assert len(table["rows"]) == 50
    assert table["rows"][2] == [2, frame["score"][2], "row-2", "2024-01-01T00:00:02+00:00", "a", 2]
    assert answer["elapsed_s"] < 10


def test_huge_allocation_hits_the_memory_limit():
    class Huge:
        def __reduce__(self):
            return (bytearray, (4 * 1024**3,))

    answer = sandbox_decode(
        data=pickle_record(Huge()), serializer_config=None, layout="v3-record", memory_limit_mb=512
    )
    assert answer["ok"] is False
    assert answer["error_kind"] == "memory"


def test_slow_payload_hits_the_timeout():
    class Endless:
        # deque(..., maxlen=0) consumes a practically endless range with allowed types only.
        def __reduce__(self):
            return (collections.deque, (range(10**15), 0))

    answer = sandbox_decode(
        data=pickle_record(Endless()), serializer_config=None, layout="v3-record", timeout=2
    )
    assert answer["ok"] is False
    assert answer["error_kind"] == "timeout"
    assert answer["elapsed_s"] < 5


def test_raw_payload_uses_the_given_serializer():
    data = base64.encodebytes(pickle.dumps({"a": [1, 2]}))
    answer = sandbox_decode(data=data, serializer_config={"type": "pickle"}, layout="v3-raw")
    assert answer["value"]["children"][0]["children"][1]["value"] == 2


def test_corrupt_payload_is_a_clear_error():
    answer = sandbox_decode(data=b"not base64 !!!", serializer_config={"type": "pickle"}, layout="v3-raw")
    assert answer["ok"] is False
    assert answer["error_kind"] == "corrupt"
    assert answer["error"].startswith("cannot decode")


def test_the_worker_sees_no_secrets_and_cannot_write_files(tmp_path, monkeypatch):
    monkeypatch.setenv("DJANGO_SECRET_KEY", "secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("DATABASE_URL", "postgres://secret")
    environment = sandbox_environment(home=str(tmp_path))
    assert not {"DJANGO_SECRET_KEY", "AWS_SECRET_ACCESS_KEY", "DATABASE_URL"} & set(environment)
    target = Path(tmp_path) / "written"

    class Writer:
        def __reduce__(self):
            return (Path.write_text, (target, "x"))

    answer = sandbox_decode(data=pickle_record(Writer()), serializer_config=None, layout="v3-record")
    assert answer["error_kind"] == "refused"
    assert not target.exists()


class Call:
    """Pickles as a call of ``function`` with ``args``, as a hostile file can."""

    def __init__(self, function, args) -> None:
        self.function, self.args = function, args

    def __reduce__(self):
        return (self.function, self.args)


def decode_raw_pickle(data: bytes, **options) -> dict:
    return sandbox_decode(
        data=base64.encodebytes(data), serializer_config={"type": "pickle"}, layout="v3-raw", **options
    )


def test_a_standard_library_module_outside_the_allowlist_is_refused_before_it_is_imported():
    # Importing "this" prints to stdout: the answer would be garbled had it been imported.
    answer = decode_raw_pickle(b"cthis\nx\n.")
    assert answer["ok"] is False and answer["error_kind"] == "refused"
    assert answer["refused"] == "this.x" and "not imported" in answer["error"]


def test_output_of_an_imported_module_cannot_garble_the_answer(tmp_path):
    (tmp_path / "noisy_models.py").write_text(
        'import dataclasses\nprint(\'{"ok": false, "noise": 1}\')\n\n'
        "@dataclasses.dataclass\nclass Point:\n    x: int\n"
    )
    answer = decode_raw_pickle(
        b"\x80\x04cnoisy_models\nPoint\n)\x81}X\x01\x00\x00\x00xK\x07sb.", import_paths=[str(tmp_path)]
    )
    assert answer["ok"] is True, answer
    assert answer["type"] == "noisy_models.Point" and "noise" not in answer


def test_a_time_zone_string_cannot_tell_whether_a_file_exists(tmp_path):
    existing = tmp_path / "present"
    existing.write_bytes(b"not a zone file")
    answers = [
        decode_raw_pickle(pickle.dumps(Call(pd.DatetimeTZDtype, ("ns", f"dateutil/{path}"))))
        for path in (existing, tmp_path / "absent")
    ]
    assert [answer["error_kind"] for answer in answers] == ["refused", "refused"]
    assert answers[0]["error"] == answers[1]["error"]
    zone = decode_raw_pickle(pickle.dumps(Call(pd.DatetimeTZDtype, ("ns", "dateutil/Europe/Paris"))))
    assert zone["ok"] is True, zone


def test_a_serializer_given_as_a_plain_string_is_accepted():
    plain = sandbox_decode(data=b"[1, 2]", serializer_config="json", layout="v3-raw")
    compressed = sandbox_decode(
        data=base64.encodebytes(lzma.compress(base64.encodebytes(pickle.dumps({"a": 1})))),
        serializer_config="compressed/pickle",
        layout="v3-raw",
    )
    assert plain["ok"] is True and plain["type"] == "builtins.list"
    assert compressed["ok"] is True and compressed["type"] == "builtins.dict"
