"""purge_expired_results and index_block on the command line."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.blocks import services
from apps.results.models import ResultReference
from apps.results.store import ResultStore

pytestmark = pytest.mark.django_db


@pytest.fixture
def block(tmp_path):
    return services.block_create(
        block_type="local-file-system", name="cmd", settings={"basepath": str(tmp_path)}
    )


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_dry_run_changes_nothing_then_the_purge_deletes(block, tmp_path):
    now = timezone.now()
    for index, age in enumerate([40, 2]):
        (tmp_path / f"k{index}").write_bytes(b"x" * 2048)
        ResultReference.objects.create(
            block=block,
            storage_location=str(tmp_path),
            key=f"k{index}",
            size_bytes=2048,
            expiration=now - dt.timedelta(days=age),
        )
    assert "Would purge 2 expired result(s), 4.0 KiB" in run("purge_expired_results", "--dry-run")
    assert (tmp_path / "k0").exists() and ResultReference.objects.live().count() == 2
    output = run("purge_expired_results", "--older-than", "30d", "--block", block.slug, "--batch-size", "5")
    assert "1 result(s) purged: 1 object(s) deleted, 0 already gone" in output
    assert not (tmp_path / "k0").exists() and (tmp_path / "k1").exists()
    with pytest.raises(CommandError, match="no storage block"):
        run("purge_expired_results", "--block", "s3/nope")
    with pytest.raises(CommandError, match="older-than"):
        run("purge_expired_results", "--older-than", "soon")
    for text in ("nan", "inf", "-1d", "1e400"):
        with pytest.raises(CommandError, match=r"--older-than: .* out of range"):
            run("purge_expired_results", f"--older-than={text}")


def test_index_block_adds_files_once(block, tmp_path):
    store = ResultStore(result_storage=block.filesystem(), serializer="json")
    store.write([1, 2], key="a")
    store.write({"b": 1}, key="sub/b")
    assert "2 result(s) added (v3-record: 2)" in run("index_block", block.slug)
    assert "0 result(s) added" in run("index_block", block.slug)
    with pytest.raises(CommandError, match="no storage block"):
        run("index_block", "local-file-system/none")
