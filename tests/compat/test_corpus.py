"""Every file real Prefect 2.x/3.x wrote decodes to the manifest's expected value.

Decoding goes by what each file says (its layout and serializer); the manifest is only the
answer key, except for the serializer of metadata-less 3.x raw payloads, which Prefect itself
only knows from the writer's configuration.
"""

import io
import json
import sys

import pytest

from apps.results.records import Layout, ResultRecord, layout_detect, raw_payload_guess_serializer
from apps.results.serializers import allow_json_module, serializer_from
from tests.compat.corpus_canon import canon, corpus_dir, corpus_entries, storage_key_rebase

ROOT = corpus_dir()
ENTRIES = corpus_entries(ROOT)


@pytest.fixture(scope="module", autouse=True)
def corpus_types_importable():
    """Pickles and JSON objects in the corpus refer to the corpus's own ``corpus_types``."""
    sys.path.insert(0, str(ROOT))
    allow_json_module("corpus_types")
    yield
    sys.path.remove(str(ROOT))


def _record_read(entry: dict) -> ResultRecord:
    data = (ROOT / entry["path"]).read_bytes()
    if entry["layout"] != Layout.V3_RAW:
        return ResultRecord.deserialize(data)
    if entry.get("metadata_path"):
        metadata = (ROOT / entry["metadata_path"]).read_bytes()
        return ResultRecord.deserialize_from_result_and_metadata(data, metadata)
    return ResultRecord.deserialize(data, backup_serializer=serializer_from(entry["serializer"]))


def test_manifest_is_present(prefect_corpus):
    assert prefect_corpus.resolve() == ROOT.resolve()
    assert len(ENTRIES) > 0


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["path"] for e in ENTRIES])
def test_file_decodes_to_expected(entry):
    record = _record_read(entry)
    assert canon(record.result) == entry["expected"]
    assert (canon(record.result) == entry["original"]) == entry["lossless"]
    assert record.serializer.to_config() == entry["serializer"]
    assert serializer_from(record.serializer.to_config()) == record.serializer


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["path"] for e in ENTRIES])
def test_layout_detected(entry):
    data = (ROOT / entry["path"]).read_bytes()
    assert layout_detect(data) == entry["layout"]
    if entry.get("metadata_path"):
        assert layout_detect((ROOT / entry["metadata_path"]).read_bytes()) == Layout.V3_METADATA


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["path"] for e in ENTRIES])
def test_metadata_matches_manifest(entry):
    record = _record_read(entry)
    if entry["layout"] == Layout.V3_RAW and not entry.get("metadata_path"):
        assert record.storage_key is None
        return
    assert record.prefect_version == entry["prefect_version"]
    if entry["layout"] == Layout.V2_BLOB:
        assert record.storage_key is None
        assert record.expiration is None
        return
    assert record.storage_key == entry["storage_key"]
    block_id = record.metadata.storage_block_id
    assert (None if block_id is None else str(block_id)) == entry["storage_block_id"]
    if entry["storage_block_id"] is None:
        assert storage_key_rebase(record.storage_key, entry=entry, root=ROOT) == entry["path"]
    if entry["expiration"] is None:
        assert record.expiration is None
    else:
        written = json.loads(record.metadata.dump_bytes())["expiration"]
        assert written == entry["expiration"]


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["path"] for e in ENTRIES])
def test_streaming_read_agrees(entry):
    data = (ROOT / entry["path"]).read_bytes()
    backup = serializer_from(entry["serializer"]) if entry["layout"] == Layout.V3_RAW else None
    record = ResultRecord.deserialize_from(io.BytesIO(data), backup_serializer=backup)
    assert canon(record.result) == entry["expected"]


@pytest.mark.parametrize(
    "entry",
    [e for e in ENTRIES if e["layout"] == Layout.V3_RAW],
    ids=[e["path"] for e in ENTRIES if e["layout"] == Layout.V3_RAW],
)
def test_raw_payload_serializer_guessed(entry):
    guess = raw_payload_guess_serializer((ROOT / entry["path"]).read_bytes())
    assert guess is not None
    assert guess.to_config()["type"].replace("compressed/", "") == entry["serializer"]["type"].replace(
        "compressed/", ""
    )


@pytest.mark.parametrize(
    "entry",
    [e for e in ENTRIES if e["layout"] == Layout.V3_RECORD],
    ids=[e["path"] for e in ENTRIES if e["layout"] == Layout.V3_RECORD],
)
def test_rewritten_record_is_byte_identical(entry):
    """Prefect's record JSON comes back byte for byte when we write the same record."""
    data = (ROOT / entry["path"]).read_bytes()
    document = json.loads(data)
    record = ResultRecord.deserialize(data)
    rewritten = (
        b'{"metadata":'
        + record.metadata.dump_bytes()
        + b',"result":'
        + json.dumps(document["result"], ensure_ascii=False, separators=(",", ":")).encode()
        + b"}"
    )
    assert rewritten == data
