"""Indexing a block adopts the files real Prefect wrote: every result file, with its layout and
serializer, in a local folder and in an S3 bucket; a second run adds nothing; metadata files are
attached to their payloads; lock, temporary and probe files are skipped."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from apps.blocks import services
from apps.results.indexing import block_index
from apps.results.models import ResultReference
from apps.results.references import serializer_label
from apps.results.retention import retention_policy_save
from apps.results.store import ResultStore

pytestmark = pytest.mark.django_db


def manifest(corpus: Path) -> dict[str, dict]:
    entries = [
        json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines() if line.strip()
    ]
    return {entry["path"]: entry for entry in entries}


def assert_matches_manifest(expected: dict[str, dict], block) -> None:
    references = {reference.key: reference for reference in ResultReference.objects.filter(block=block)}
    metadata_paths = {entry["metadata_path"] for entry in expected.values() if entry.get("metadata_path")}
    assert set(references) == set(expected), "exactly the manifest's result files, nothing else"
    for path, entry in expected.items():
        reference = references[path]
        assert reference.layout == entry["layout"], path
        if entry["layout"] == "v3-raw" and not entry.get("metadata_path"):
            # No metadata anywhere: the serializer is recognised from the payload itself.
            assert reference.serializer_type == serializer_label(entry["serializer"]), path
        else:
            assert reference.serializer_config == entry["serializer"], path
        if entry.get("metadata_path"):
            assert reference.metadata_location == entry["metadata_path"]
        assert reference.size_bytes == (entry.get("size_bytes") or reference.size_bytes)
        expiration = entry.get("expiration")
        assert (reference.expiration.isoformat() if reference.expiration else None) == (
            dt.datetime.fromisoformat(expiration.replace("Z", "+00:00")).isoformat() if expiration else None
        ), path
    assert not metadata_paths & set(references)


def test_the_corpus_in_a_local_block_is_indexed_with_layouts_and_serializers(prefect_corpus, tmp_path):
    root = tmp_path / "corpus"
    shutil.copytree(prefect_corpus, root)
    (root / "v3" / "pickle" / "int.lock").write_text("holder")
    (root / "leftover.resultdeck-tmp").write_bytes(b"partial")
    block = services.block_create(
        block_type="local-file-system", name="corpus", settings={"basepath": str(root)}
    )
    report = block_index(block=block)
    expected = manifest(prefect_corpus)
    assert report.added == len(expected)
    assert report.skipped["lock file"] == 1
    assert report.skipped["not a result file"] >= 4  # README, manifest, verify.py, corpus_types.py
    assert_matches_manifest(expected, block)

    (root / "v3" / "new-one").write_bytes((root / "v3" / "pickle" / "int").read_bytes())
    again = block_index(block=block)
    assert (again.added, again.already_known) == (1, len(expected))


def test_the_corpus_in_an_s3_bucket_is_indexed_the_same_way(
    prefect_corpus, s3_settings, s3_client, s3_bucket
):
    expected = manifest(prefect_corpus)
    for path in prefect_corpus.rglob("*"):
        if path.is_file():
            s3_client.put_object(
                Bucket=s3_bucket, Key=f"prefect/{path.relative_to(prefect_corpus)}", Body=path.read_bytes()
            )
    block = services.block_create(
        block_type="s3",
        name="corpus",
        settings={
            "bucket_path": f"{s3_bucket}/prefect",
            "aws_access_key_id": s3_settings["aws_access_key_id"],
            "aws_secret_access_key": s3_settings["aws_secret_access_key"],
            "endpoint_url": s3_settings["endpoint_url"],
            "region_name": s3_settings["region_name"],
        },
    )
    report = block_index(block=block)
    assert report.added == len(expected) and not report.errors
    assert_matches_manifest(expected, block)
    assert ResultReference.objects.filter(block=block).first().storage_location == f"s3://{s3_bucket}/prefect"
    assert block_index(block=block).added == 0


def test_split_metadata_is_attached_to_its_payload_and_expiration_comes_from_it(tmp_path):
    from apps.blocks.filesystems import LocalFileSystem

    root = tmp_path / "split"
    store = ResultStore(
        result_storage=LocalFileSystem(basepath=str(root / "results")),
        metadata_storage=LocalFileSystem(basepath=str(root / "metadata")),
        serializer="json",
    )
    expiration = dt.datetime(2031, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    store.write({"a": 1}, key="abc", expiration=expiration)
    block = services.block_create(
        block_type="local-file-system", name="split", settings={"basepath": str(root)}
    )
    report = block_index(block=block)
    reference = ResultReference.objects.get(block=block)
    assert (report.added, report.metadata_files) == (1, 1)
    assert (reference.key, reference.metadata_location, reference.layout) == (
        "results/abc",
        "metadata/abc",
        "v3-raw",
    )
    assert (reference.serializer_type, reference.expiration, reference.expiration_source) == (
        "json",
        expiration,
        "record",
    )


def test_results_without_an_expiration_get_the_blocks_policy(tmp_path):
    from apps.blocks.filesystems import LocalFileSystem

    ResultStore(result_storage=LocalFileSystem(basepath=str(tmp_path)), serializer="json").write(1, key="one")
    block = services.block_create(
        block_type="local-file-system", name="p", settings={"basepath": str(tmp_path)}
    )
    policy = retention_policy_save(block=block, flow_name="", expire_after=dt.timedelta(days=30))
    block_index(block=block)
    reference = ResultReference.objects.get(block=block)
    assert reference.expiration == reference.created + dt.timedelta(days=30)
    assert (reference.expiration_source, reference.retention_policy) == ("policy", policy)
