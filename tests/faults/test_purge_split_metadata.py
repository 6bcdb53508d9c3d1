"""Purging a Prefect 3 result written with a separate metadata storage deletes its split metadata
file as well as its payload, whether the metadata lives inside the block (found by indexing) or
in a folder of its own."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone

from apps.blocks import services
from apps.blocks.filesystems import LocalFileSystem
from apps.results.indexing import block_index
from apps.results.models import ResultReference
from apps.results.purge import expired_purge
from apps.results.store import ResultStore

pytestmark = pytest.mark.django_db


def split_write(results: Path, metadata: Path, value) -> str:
    store = ResultStore(
        result_storage=LocalFileSystem(basepath=results),
        metadata_storage=LocalFileSystem(basepath=metadata),
        serializer="json",
    )
    record = store.write(value, expiration=timezone.now() - dt.timedelta(days=1))
    key = Path(record.metadata.storage_key).name
    assert (results / key).is_file() and (metadata / key).is_file()
    return key


def test_purge_deletes_the_metadata_file_that_indexing_paired_with_the_payload(tmp_path):
    root = tmp_path / "block"
    key = split_write(root / "results", root / "metadata", {"answer": 42})
    block = services.block_create(
        block_type="local-file-system", name="split", settings={"basepath": str(root)}
    )
    block_index(block=block)
    reference = ResultReference.objects.get(key=f"results/{key}")
    assert reference.metadata_location == f"metadata/{key}"

    report = expired_purge()

    assert report.purged == 1 and not report.errors
    assert not (root / "results" / key).exists()
    assert not (root / "metadata" / key).exists()
    assert ResultReference.objects.get(pk=reference.pk).purged_at is not None


def test_purge_deletes_a_metadata_file_kept_outside_the_results_folder(tmp_path):
    results, metadata = tmp_path / "results", tmp_path / "metadata"
    key = split_write(results, metadata, [1, 2, 3])
    block = services.block_create(
        block_type="local-file-system", name="payloads", settings={"basepath": str(results)}
    )
    block_index(block=block)
    reference = ResultReference.objects.get(key=key)
    reference.metadata_location = str(metadata / key)
    reference.expiration = timezone.now() - dt.timedelta(days=1)
    reference.save()

    report = expired_purge()

    assert report.purged == 1 and not report.errors
    assert not (results / key).exists()
    assert not (metadata / key).exists()
