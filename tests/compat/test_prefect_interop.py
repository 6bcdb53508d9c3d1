"""Real Prefect 3.9.1 reads what our ResultStore writes, with every serializer it can read.

Prefect runs in its own throwaway venv (scripts/prefect_venv.py; cached between runs), in a
subprocess with a private PREFECT_HOME and no server: ``prefect.results.ResultStore.read`` needs
none. Values are compared in the corpus's canonical form (``canon`` of the corpus verify.py), so
both sides agree on what "equal" means across two Python environments.
"""

from __future__ import annotations

import datetime as dt
import decimal
import importlib.util
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from apps.blocks.filesystems import LocalFileSystem
from apps.results.serializers import CompressedSerializer, JSONSerializer, PickleSerializer
from apps.results.store import ResultStore

PROJECT_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
from prefect_venv import prefect_venv_ensure  # noqa: E402

pytestmark = pytest.mark.slow

UTC_INSTANT = dt.datetime(2024, 3, 10, 12, 34, 56, 789012, tzinfo=dt.UTC)
OFFSET_INSTANT = dt.datetime(2024, 3, 10, 12, 34, 56, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))

PLAIN_VALUE = {"a": [1, 2.5, "x", None, True], "ü": "ñ", "nested": {"deep": [[[1]]], "empty": ""}}
PICKLE_VALUE = {
    **PLAIN_VALUE,
    "bytes": b"\x00\x01binary",
    "when": UTC_INSTANT,
    "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "decimal": decimal.Decimal("3.14159"),
    "set": {1, 2, 3},
    "tuple": (1, "two"),
    "array": np.arange(12, dtype=np.float64).reshape(3, 4),
}
# What the Prefect JSON encoding carries losslessly (through {"__class__": ..., "data": ...}).
JSON_VALUE = {
    **PLAIN_VALUE,
    "when": OFFSET_INSTANT,
    "day": dt.date(2024, 3, 10),
    "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "decimal": decimal.Decimal("3.14159"),
    "set": {1, 2, 3},
}

# (case id, serializer, value): everything Prefect 3.9.1 can read back.
CASES = [
    ("pickle-cloudpickle", PickleSerializer(), PICKLE_VALUE),
    ("pickle-stdlib", PickleSerializer(picklelib="pickle"), PICKLE_VALUE),
    ("pickle-shortcut", "pickle", PICKLE_VALUE),
    ("json", JSONSerializer(), JSON_VALUE),
    ("json-shortcut", "json", JSON_VALUE),
    ("compressed-pickle", "compressed/pickle", PICKLE_VALUE),
    ("compressed-json", "compressed/json", JSON_VALUE),
    *(
        (f"compressed-{name}-{lib}", CompressedSerializer(serializer=inner(), compressionlib=lib), value)
        for name, inner, value, libraries in (
            ("pickle", PickleSerializer, PICKLE_VALUE, ("lzma", "zlib", "bz2", "gzip")),
            ("json", JSONSerializer, JSON_VALUE, ("zlib", "bz2")),
        )
        for lib in libraries
    ),
]

PREFECT_READER = r"""
import json, sys, traceback
sys.path.insert(0, sys.argv[3])
from verify import canon
from prefect.filesystems import LocalFileSystem
from prefect.results import ResultStore

cases = json.loads(open(sys.argv[1]).read())
out = {}
for case in cases:
    metadata_storage = None
    if case.get("metadata_basepath"):
        metadata_storage = LocalFileSystem(basepath=case["metadata_basepath"])
    store = ResultStore(
        result_storage=LocalFileSystem(basepath=case["basepath"]),
        metadata_storage=metadata_storage,
        cache_result_in_memory=False,
    )
    entry = {}
    try:
        entry["exists"] = store.exists(case["key"])
        if case.get("read", True):
            record = store.read(case["key"])
            entry["value"] = canon(record.result)
            entry["serializer_type"] = record.metadata.serializer.type
    except Exception:
        entry["error"] = traceback.format_exc(limit=3)
    out[case["id"]] = entry
open(sys.argv[2], "w").write(json.dumps(out))
"""


@pytest.fixture(scope="session")
def prefect_python() -> Path:
    return prefect_venv_ensure()


@pytest.fixture(scope="session")
def canon(prefect_corpus):
    spec = importlib.util.spec_from_file_location("corpus_verify", prefect_corpus / "verify.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.canon


def prefect_read(*, prefect_python: Path, corpus: Path, cases: list[dict], workdir: Path) -> dict:
    """Read ``cases`` with real Prefect in its venv; returns {case id: {exists, value|error}}."""
    cases_path, out_path, script = workdir / "cases.json", workdir / "out.json", workdir / "reader.py"
    cases_path.write_text(json.dumps(cases))
    script.write_text(PREFECT_READER)
    home = workdir / "prefect-home"
    home.mkdir(exist_ok=True)
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "ERROR",
    }
    completed = subprocess.run(
        [str(prefect_python), str(script), str(cases_path), str(out_path), str(corpus)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, f"the Prefect reader failed:\n{completed.stderr[-4000:]}"
    return json.loads(out_path.read_text())


def test_prefect_reads_records_we_write_with_every_serializer(
    tmp_path, prefect_python, prefect_corpus, canon
):
    basepath = tmp_path / "results"
    cases, expected = [], {}
    for case_id, serializer, value in CASES:
        store = ResultStore(result_storage=LocalFileSystem(basepath=str(basepath)), serializer=serializer)
        store.write(value, key=case_id)
        cases.append({"id": case_id, "basepath": str(basepath), "key": case_id})
        expected[case_id] = canon(value)

    read = prefect_read(prefect_python=prefect_python, corpus=prefect_corpus, cases=cases, workdir=tmp_path)

    for case_id in expected:
        assert "error" not in read[case_id], (
            f"{case_id}: Prefect failed to read it:\n{read[case_id]['error']}"
        )
        assert read[case_id]["exists"] is True, case_id
        assert read[case_id]["value"] == expected[case_id], case_id


def test_prefect_reads_the_split_layout_and_honours_expiration(
    tmp_path, prefect_python, prefect_corpus, canon
):
    results, metadata = tmp_path / "results", tmp_path / "metadata"
    split_store = ResultStore(
        result_storage=LocalFileSystem(basepath=str(results)),
        metadata_storage=LocalFileSystem(basepath=str(metadata)),
        serializer="compressed/pickle",
    )
    split_store.write(PICKLE_VALUE, key="split")
    plain_store = ResultStore(result_storage=LocalFileSystem(basepath=str(results)), serializer="json")
    plain_store.write(PLAIN_VALUE, key="fresh", expiration=dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    plain_store.write(
        PLAIN_VALUE, key="expired", expiration=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    )
    block_store = ResultStore(
        result_storage=LocalFileSystem(basepath=str(results)),
        serializer="pickle",
        storage_block_id=str(uuid.uuid4()),
    )
    block_store.write(PLAIN_VALUE, key="from-saved-block")
    cases = [
        {"id": "split", "basepath": str(results), "metadata_basepath": str(metadata), "key": "split"},
        {"id": "fresh", "basepath": str(results), "key": "fresh"},
        {"id": "expired", "basepath": str(results), "key": "expired", "read": False},
        {"id": "from-saved-block", "basepath": str(results), "key": "from-saved-block"},
    ]

    read = prefect_read(prefect_python=prefect_python, corpus=prefect_corpus, cases=cases, workdir=tmp_path)

    assert read["split"].get("value") == canon(PICKLE_VALUE), read["split"]
    assert read["split"]["exists"] is True
    assert read["fresh"].get("value") == canon(PLAIN_VALUE), read["fresh"]
    assert read["fresh"]["exists"] is True
    assert read["expired"]["exists"] is False
    assert read["from-saved-block"].get("value") == canon(PLAIN_VALUE), read["from-saved-block"]
