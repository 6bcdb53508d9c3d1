"""Where the engine's results go and how their references are saved: apps.results.resolve and
apps.results.references.references_save, as the engine uses them."""

from __future__ import annotations

import pytest

from apps.blocks.filesystems import LocalFileSystem, RemoteFileSystem
from apps.blocks.models import StorageBlock
from apps.flows import flow, task
from apps.flows.engine.targets import result_persist, target_build
from apps.flows.rules import ConfigurationError
from apps.results.models import ResultReference
from apps.results.references import PendingReference, references_save
from apps.results.resolve import (
    ResultTargetError,
    lock_manager_for,
    serializer_resolve,
    storage_resolve,
)

pytestmark = pytest.mark.django_db


def test_storage_resolve_gives_a_filesystem_for_each_way_of_naming_one(tmp_path, result_settings):
    default, block_id = storage_resolve()
    assert isinstance(default, LocalFileSystem)
    assert block_id == StorageBlock.objects.get_by_slug("local-file-system/default").pk
    assert str(default.root) == str(result_settings.RESULTS_LOCAL_STORAGE_PATH)
    local, _ = storage_resolve(path=tmp_path / "here")
    assert str(local.root) == str(tmp_path / "here")
    remote, _ = storage_resolve(url="memory://bucket/results")
    assert isinstance(remote, RemoteFileSystem)
    given = LocalFileSystem(basepath=tmp_path)
    assert storage_resolve(filesystem=given) == (given, None)


def test_names_that_do_not_exist_are_refused_with_what_was_asked():
    with pytest.raises(ResultTargetError, match="s3/nowhere"):
        storage_resolve(block_slug="s3/nowhere")
    with pytest.raises(ResultTargetError, match="'yaml' is neither a serializer type"):
        serializer_resolve(spec="yaml")
    assert serializer_resolve(spec=None).to_config()["type"] == "pickle"


def test_a_flow_naming_a_missing_storage_or_serializer_fails_with_a_configuration_error():
    with pytest.raises(ConfigurationError, match=r"result_storage='s3/nowhere': no storage block"):
        target_build(storage_spec="s3/nowhere", serializer_spec=None)
    with pytest.raises(ConfigurationError, match=r"^result_serializer='yaml' is neither"):
        target_build(storage_spec=None, serializer_spec="yaml")

    @task(persist_result=True, result_serializer="yaml")
    def one():
        return 1

    @flow
    def pipeline():
        return one()

    with pytest.raises(ConfigurationError, match="result_serializer='yaml'"):
        pipeline()


def test_lock_managers_are_kept_per_place(tmp_path):
    first = lock_manager_for(redis_url="", var_dir=tmp_path)
    assert lock_manager_for(redis_url="", var_dir=tmp_path) is first
    assert lock_manager_for(redis_url="", var_dir=tmp_path / "other") is not first


def test_a_key_written_again_updates_its_row_unless_the_result_was_read_back(tmp_path):
    target = target_build(storage_spec=tmp_path, serializer_spec="json")
    first = result_persist([1, 2], target=target, key="named")
    assert first.fresh_key is False
    references_save(pending=[first])
    again = result_persist(list(range(100)), target=target, key="named")
    references_save(pending=[again])
    assert again.reference.pk == first.reference.pk
    row = ResultReference.objects.get(pk=first.reference.pk)
    assert row.size_bytes == again.reference.size_bytes != first.reference.size_bytes

    read_back = PendingReference(result_persist([3], target=target, key="named").reference, reused=True)
    references_save(pending=[read_back])
    assert read_back.reference.pk == row.pk
    assert ResultReference.objects.get(pk=row.pk).size_bytes == again.reference.size_bytes
    assert ResultReference.objects.filter(key="named").count() == 1


def test_fresh_keys_and_literals_are_inserted_without_looking_anything_up(
    tmp_path, django_assert_num_queries
):
    target = target_build(storage_spec=tmp_path, serializer_spec="json")
    pending = [result_persist({"i": i}, target=target, key=None) for i in range(3)]
    pending.append(result_persist(None, target=target, key=None))
    assert [item.fresh_key for item in pending] == [True, True, True, False]
    with django_assert_num_queries(1):
        references_save(pending=pending)
    assert all(item.reference.pk is not None for item in pending)
    assert ResultReference.objects.filter(is_literal=True).count() == 1
