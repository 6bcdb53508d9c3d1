"""A symbolic link planted inside a local block never serves, lists or receives files outside it."""

import os

import pytest
from django.urls import reverse

from apps.blocks import services
from apps.blocks.filesystems import LocalFileSystem, ObjectNotFoundError, UnsafeKeyError
from apps.results.indexing import block_index
from apps.results.models import ResultReference

SECRET = b"outside the base path: must never be served"


@pytest.fixture
def planted(tmp_path):
    """A base path holding one real result, a link to an outside file and a link to an outside folder."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(SECRET)
    base = tmp_path / "base"
    base.mkdir()
    (base / "real").write_bytes(b"a stored result")
    os.symlink(outside / "secret", base / "file-link")
    os.symlink(outside, base / "dir-link")
    return base, outside


@pytest.mark.parametrize("key", ["file-link", "dir-link/secret"])
def test_reads_through_a_link_leaving_the_base_path_are_refused(planted, key):
    base, _ = planted
    filesystem = LocalFileSystem(basepath=base)
    for read in (
        filesystem.read_path,
        lambda path: filesystem.read_range(path, 0, 10),
        lambda path: filesystem.open_read(path).read(),
        filesystem.size,
        filesystem.exists,
    ):
        with pytest.raises(UnsafeKeyError, match="symbolic link"):
            read(key)
    with pytest.raises(UnsafeKeyError, match="symbolic link"):
        filesystem.read_path(str(base / key))
    assert filesystem.read_path("real") == b"a stored result"


def test_writes_and_deletes_through_a_linked_folder_are_refused(planted):
    base, outside = planted
    filesystem = LocalFileSystem(basepath=base)
    with pytest.raises(UnsafeKeyError, match="symbolic link"):
        filesystem.write_path("dir-link/planted", b"x")
    with pytest.raises(UnsafeKeyError, match="symbolic link"):
        filesystem.write_path("dir-link/new-folder/planted", b"x")
    with (
        pytest.raises(UnsafeKeyError, match="symbolic link"),
        filesystem.open_write("dir-link/planted") as stream,
    ):
        stream.write(b"x")
    with pytest.raises(UnsafeKeyError, match="symbolic link"):
        filesystem.delete("dir-link/secret")
    assert sorted(path.name for path in outside.iterdir()) == ["secret"]
    assert (outside / "secret").read_bytes() == SECRET


def test_a_link_inside_the_base_path_is_still_read_and_a_planted_link_can_be_replaced(planted):
    base, outside = planted
    os.symlink(base / "real", base / "inner-link")
    filesystem = LocalFileSystem(basepath=base)
    assert filesystem.read_path("inner-link") == b"a stored result"
    filesystem.write_path("file-link", b"replaced")
    assert filesystem.read_path("file-link") == b"replaced"
    assert (outside / "secret").read_bytes() == SECRET


def test_listing_does_not_follow_links(planted):
    base, _ = planted
    filesystem = LocalFileSystem(basepath=base)
    assert [info.key for info in filesystem.list()] == ["real"]
    assert list(filesystem.list("dir-link/")) == []


@pytest.mark.django_db
def test_indexing_a_block_skips_planted_links(planted):
    base, _ = planted
    block = services.block_create(
        block_type="local-file-system", name="planted", settings={"basepath": str(base)}
    )
    report = block_index(block=block)
    assert report.listed == 1
    assert set(ResultReference.objects.values_list("key", flat=True)) <= {"real"}


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["file-link", "dir-link/secret"])
def test_previews_and_raw_downloads_do_not_serve_a_linked_file(viewer_client, planted, key):
    base, _ = planted
    reference = ResultReference.objects.create(
        storage_location=str(LocalFileSystem(basepath=base).root),
        key=key,
        layout="v3-record",
        serializer_type="json",
        value_type="unknown",
        size_bytes=len(SECRET),
    )
    for name in ("results:result-detail", "results:result-raw"):
        response = viewer_client.get(reverse(name, args=[reference.pk]))
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert SECRET not in body and b"outside the base path: must" not in body, name


def test_a_missing_key_under_the_base_path_is_still_not_found(planted):
    base, _ = planted
    with pytest.raises(ObjectNotFoundError):
        LocalFileSystem(basepath=base).read_path("missing")
