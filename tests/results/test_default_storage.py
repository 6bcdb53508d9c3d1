"""The local default storage is the managed block local-file-system/default: new results written
there get it, existing detached ones are attached, and it can be scanned like any block."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from apps.blocks.models import StorageBlock
from apps.blocks.services import block_create
from apps.flows import flow, task
from apps.flows.engine.targets import targets_shared_clear
from apps.results.defaults import DEFAULT_BLOCK_SLUG, default_block_get_or_create, default_result_storage
from apps.results.models import ResultReference
from apps.results.orphans import orphans_scan
from tests.dashboard_data import stored_result

pytestmark = pytest.mark.django_db


@pytest.fixture
def default_dir(settings, tmp_path):
    folder = tmp_path / "default-storage"
    settings.RESULTS_LOCAL_STORAGE_PATH = str(folder)
    settings.RESULTS_DEFAULT_STORAGE_BLOCK = ""
    settings.VAR_DIR = tmp_path / "var"
    targets_shared_clear()
    yield folder
    targets_shared_clear()


@task(persist_result=True)
def double(x: int) -> int:
    return 2 * x


@flow(persist_result=True)
def doubled(x: int) -> int:
    return double(x)


def test_results_written_to_the_default_storage_belong_to_its_block(default_dir):
    assert doubled(21) == 42
    block = StorageBlock.objects.get_by_slug(DEFAULT_BLOCK_SLUG)
    assert block.points_to == str(default_dir.resolve())
    references = ResultReference.objects.all()
    assert references.count() >= 1 and all(reference.block_id == block.pk for reference in references)
    assert orphans_scan(block=block).object_count == 0


def test_the_block_is_made_once_and_detached_results_there_are_attached(default_dir, tmp_path):
    detached = stored_result(default_dir, {"a": 1}, key="before")
    elsewhere = stored_result(tmp_path / "other", 2, key="elsewhere")
    assert detached.block_id is None
    first = default_block_get_or_create()
    assert default_block_get_or_create() == first
    assert StorageBlock.objects.filter(name="default").count() == 1
    detached.refresh_from_db()
    elsewhere.refresh_from_db()
    assert detached.block_id == first.pk and elsewhere.block_id is None


def test_the_command_attaches_results_detached_since(default_dir, capsys):
    block = default_block_get_or_create()
    later = stored_result(default_dir, 3, key="later")  # written by code that named the path itself
    call_command("default_storage_block")
    later.refresh_from_db()
    assert later.block_id == block.pk and "1 detached result(s) attached" in capsys.readouterr().out


def test_a_user_block_of_that_name_elsewhere_is_left_alone(default_dir, tmp_path):
    (tmp_path / "mine").mkdir()
    mine = block_create(
        block_type="local-file-system", name="default", settings={"basepath": str(tmp_path / "mine")}
    )
    assert default_block_get_or_create() is None
    storage = default_result_storage()
    assert (
        str(storage.root) == str(default_dir.resolve())
        and getattr(storage, "_block_document_id", None) is None
    )
    assert StorageBlock.objects.get(pk=mine.pk).settings == {"basepath": str(tmp_path / "mine")}
