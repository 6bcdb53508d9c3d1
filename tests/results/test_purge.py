"""references_purge: objects first, in batches, tolerant of missing ones; then the references."""

import pytest

from apps.blocks import services
from apps.results.models import ResultReference
from apps.results.purge import references_purge

pytestmark = pytest.mark.django_db


@pytest.fixture
def local_block(tmp_path):
    return services.block_create(
        block_type="local-file-system", name="l", settings={"basepath": str(tmp_path)}
    )


def test_objects_are_deleted_in_batches_and_missing_ones_count_as_purged(local_block, tmp_path, make_user):
    user = make_user("admin")
    filesystem = local_block.filesystem()
    for index in range(5):
        filesystem.write_path(f"k{index}", b"x" * 10)
        ResultReference.objects.create(
            block=local_block, storage_location=str(tmp_path), key=f"k{index}", size_bytes=10
        )
    ResultReference.objects.create(
        block=local_block, storage_location=str(tmp_path), key="missing", size_bytes=99
    )
    ResultReference.objects.create(block=local_block, is_literal=True, literal_value=True)
    report = references_purge(references=ResultReference.objects.all(), user=user, batch_size=2)
    assert (report.deleted, report.missing, report.errors, report.bytes_freed, report.purged) == (
        5,
        1,
        {},
        50,
        7,
    )
    assert list(tmp_path.iterdir()) == []
    assert not ResultReference.objects.live().exists()
    assert set(ResultReference.objects.values_list("purged_by", flat=True)) == {user.pk}


def test_already_purged_references_are_skipped(local_block, tmp_path):
    local_block.filesystem().write_path("a", b"1")
    ResultReference.objects.create(block=local_block, storage_location=str(tmp_path), key="a", size_bytes=1)
    first = references_purge(references=ResultReference.objects.all())
    second = references_purge(references=ResultReference.objects.all())
    assert (first.purged, second.purged, second.deleted, second.missing) == (1, 0, 0, 0)


def test_detached_local_results_are_purged_from_their_recorded_location(tmp_path):
    (tmp_path / "a").write_bytes(b"12")
    ResultReference.objects.create(storage_location=str(tmp_path), key="a", size_bytes=2)
    report = references_purge(references=list(ResultReference.objects.all()))
    assert (report.deleted, report.bytes_freed) == (1, 2)
    assert not (tmp_path / "a").exists()


def test_unreachable_storage_leaves_the_references_live_with_a_reason():
    reference = ResultReference.objects.create(storage_location="s3://bucket/prefix", key="a")
    report = references_purge(references=ResultReference.objects.all())
    assert "not saved as a block" in report.errors[reference.id]
    assert report.purged == 0 and ResultReference.objects.live().count() == 1


def test_keys_that_escape_the_storage_are_errors_not_deletions(local_block, tmp_path):
    outside = tmp_path.parent / "outside-file"
    outside.write_text("keep me")
    reference = ResultReference.objects.create(
        block=local_block, storage_location=str(tmp_path), key="../outside-file"
    )
    report = references_purge(references=ResultReference.objects.all())
    assert reference.id in report.errors and outside.exists()
    assert ResultReference.objects.live().count() == 1
