"""Specification of the storage filesystems: local directories, any fsspec URL, and S3.

S3 cases run against the real SeaweedFS server (it checks request signatures); the same behaviour
is asked of every backend through the parametrised ``filesystem`` fixture.
"""

import os
import shutil
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from apps.blocks.filesystems import (
    FILESYSTEM_CLASSES,
    PROBE_KEY_PREFIX,
    S3,
    SECRET_MASK,
    TEMP_FILE_SUFFIX,
    AccessDeniedError,
    BucketNotFoundError,
    DeleteReport,
    EndpointUnreachableError,
    InvalidSettingsError,
    LocalFileSystem,
    NotWritableError,
    ObjectInfo,
    ObjectNotFoundError,
    RemoteFileSystem,
    StorageError,
    UnsafeKeyError,
    WritableFileSystem,
    filesystem_from_settings,
    key_normalize,
)

BACKENDS = ["local", "s3", "remote-memory", "remote-s3"]
UNSAFE_KEYS = ["../escape", "a/../../escape", "a/b/../../../escape", "bad\x00key", "", "/", "."]


def _s3_remote_settings(s3_settings: dict) -> dict:
    return {
        "key": s3_settings["aws_access_key_id"],
        "secret": s3_settings["aws_secret_access_key"],
        "client_kwargs": {
            "endpoint_url": s3_settings["endpoint_url"],
            "region_name": s3_settings["region_name"],
        },
        "skip_instance_cache": True,
    }


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def local_fs(tmp_path) -> LocalFileSystem:
    return LocalFileSystem(basepath=tmp_path / "store")


@pytest.fixture
def s3_fs(s3_settings, s3_bucket) -> S3:
    return S3(bucket_path=f"{s3_bucket}/results", **s3_settings)


@pytest.fixture
def memory_fs() -> RemoteFileSystem:
    return RemoteFileSystem(basepath=f"memory://area-{uuid.uuid4().hex}/results")


@pytest.fixture
def remote_s3_fs(s3_settings, s3_bucket) -> RemoteFileSystem:
    return RemoteFileSystem(basepath=f"s3://{s3_bucket}/results", settings=_s3_remote_settings(s3_settings))


BACKEND_FIXTURES = {
    "local": "local_fs",
    "s3": "s3_fs",
    "remote-memory": "memory_fs",
    "remote-s3": "remote_s3_fs",
}


@pytest.fixture(params=BACKENDS)
def filesystem(request) -> WritableFileSystem:
    return request.getfixturevalue(BACKEND_FIXTURES[request.param])


@pytest.fixture(params=[backend for backend in BACKENDS if backend != "local"])
def remote_filesystem(request) -> WritableFileSystem:
    return request.getfixturevalue(BACKEND_FIXTURES[request.param])


# --------------------------------------------------------------------------------------------------
# Behaviour every backend shares


class TestEveryBackend:
    def test_write_then_read_returns_the_same_bytes(self, filesystem):
        resolved = filesystem.write_path("task/result-1", b"\x80\x05hello")
        assert filesystem.read_path("task/result-1") == b"\x80\x05hello"
        assert resolved == filesystem.resolve_path("task/result-1")

    def test_write_replaces_an_existing_object(self, filesystem):
        filesystem.write_path("k", b"first value")
        filesystem.write_path("k", b"second")
        assert filesystem.read_path("k") == b"second"
        assert filesystem.size("k") == 6

    def test_empty_values_are_stored(self, filesystem):
        filesystem.write_path("empty", b"")
        assert filesystem.exists("empty")
        assert filesystem.read_path("empty") == b""
        assert filesystem.size("empty") == 0

    def test_reading_a_missing_key_raises_object_not_found(self, filesystem):
        with pytest.raises(ObjectNotFoundError, match="no stored object") as raised:
            filesystem.read_path("never-written")
        assert isinstance(raised.value, FileNotFoundError)
        with pytest.raises(ObjectNotFoundError):
            filesystem.size("never-written")
        with pytest.raises(ObjectNotFoundError):
            filesystem.open_read("never-written")

    def test_exists_and_size(self, filesystem):
        assert not filesystem.exists("a/b")
        filesystem.write_path("a/b", b"12345")
        assert filesystem.exists("a/b")
        assert filesystem.size("a/b") == 5

    def test_delete_reports_whether_something_was_removed(self, filesystem):
        filesystem.write_path("doomed", b"x")
        assert filesystem.delete("doomed") is True
        assert not filesystem.exists("doomed")
        assert filesystem.delete("doomed") is False

    def test_read_range_returns_the_half_open_slice(self, filesystem):
        filesystem.write_path("ranged", bytes(range(100)))
        assert filesystem.read_range("ranged", 10, 20) == bytes(range(10, 20))
        assert filesystem.read_range("ranged", 0, 1) == b"\x00"
        assert filesystem.read_range("ranged", 90, 1000) == bytes(range(90, 100))
        assert filesystem.read_range("ranged", 150, 200) == b""
        assert filesystem.read_range("ranged", 5, 5) == b""

    def test_read_range_refuses_backwards_ranges_and_reports_missing_objects(self, filesystem):
        filesystem.write_path("ranged", b"abc")
        with pytest.raises(ValueError, match="start <= end"):
            filesystem.read_range("ranged", 2, 1)
        with pytest.raises(ValueError, match="start <= end"):
            filesystem.read_range("ranged", -1, 2)
        with pytest.raises(ObjectNotFoundError):
            filesystem.read_range("missing", 0, 10)
        with pytest.raises(ObjectNotFoundError):
            filesystem.read_range("missing", 0, 0)

    def test_open_write_streams_chunks_and_open_read_seeks(self, filesystem):
        chunks = [bytes([n]) * 1000 for n in range(50)]
        with filesystem.open_write("streamed/value") as stream:
            for chunk in chunks:
                stream.write(chunk)
        expected = b"".join(chunks)
        with filesystem.open_read("streamed/value") as stream:
            assert stream.read(1000) == chunks[0]
            stream.seek(25_000)
            assert stream.read(10) == bytes([25]) * 10
            stream.seek(-5, os.SEEK_END)
            assert stream.read() == bytes([49]) * 5
            stream.seek(0)
            assert stream.read() == expected

    def test_a_failure_inside_open_write_leaves_the_previous_value(self, filesystem):
        filesystem.write_path("kept", b"old value")
        with (
            pytest.raises(RuntimeError, match="serializer exploded"),
            filesystem.open_write("kept") as stream,
        ):
            stream.write(b"half a new val")
            raise RuntimeError("serializer exploded")
        assert filesystem.read_path("kept") == b"old value"

    def test_a_failure_inside_open_write_creates_nothing(self, filesystem):
        with pytest.raises(RuntimeError), filesystem.open_write("never/complete") as stream:
            stream.write(b"partial")
            raise RuntimeError("crash")
        assert not filesystem.exists("never/complete")
        assert [info.key for info in filesystem.list()] == []

    def test_list_is_recursive_and_keys_read_back(self, filesystem):
        filesystem.write_path("top", b"1")
        filesystem.write_path("flow/a/one", b"22")
        filesystem.write_path("flow/a/two", b"333")
        filesystem.write_path("flow/b", b"4444")
        filesystem.write_path("flowers", b"55555")
        listed = {info.key: info for info in filesystem.list()}
        assert sorted(listed) == ["flow/a/one", "flow/a/two", "flow/b", "flowers", "top"]
        assert listed["flow/a/two"].size == 3
        for key, info in listed.items():
            assert len(filesystem.read_path(key)) == info.size
        modified = listed["top"].modified
        assert isinstance(listed["top"], ObjectInfo)
        assert modified is not None and modified.tzinfo is not None
        assert abs(modified - datetime.now(UTC)) < timedelta(minutes=5)

    def test_list_filters_by_prefix(self, filesystem):
        for key in ["flow/a/one", "flow/b", "flowers", "other/x"]:
            filesystem.write_path(key, b"v")
        assert sorted(info.key for info in filesystem.list("flow")) == ["flow/a/one", "flow/b", "flowers"]
        assert sorted(info.key for info in filesystem.list("flow/")) == ["flow/a/one", "flow/b"]
        assert sorted(info.key for info in filesystem.list("flow/a")) == ["flow/a/one"]
        assert list(filesystem.list("nothing-here/")) == []

    def test_list_of_an_empty_storage_is_empty(self, filesystem):
        assert list(filesystem.list()) == []

    @pytest.mark.parametrize("key", UNSAFE_KEYS)
    def test_unsafe_keys_are_refused_before_any_io(self, filesystem, key):
        with pytest.raises(UnsafeKeyError) as raised:
            filesystem.write_path(key, b"payload")
        assert isinstance(raised.value, ValueError)
        with pytest.raises(UnsafeKeyError):
            filesystem.read_path(key)
        with pytest.raises(UnsafeKeyError):
            filesystem.exists(key)
        with pytest.raises(UnsafeKeyError):
            filesystem.delete(key)
        assert list(filesystem.list()) == []

    def test_delete_many_reports_deleted_missing_and_refused_keys(self, filesystem):
        for index in range(5):
            filesystem.write_path(f"batch/{index}", b"x")
        report = filesystem.delete_many(
            ["batch/0", "batch/1", "gone/1", "batch/2", "../outside", "batch/3", "batch/4", "gone/2"],
            batch_size=2,
        )
        assert isinstance(report, DeleteReport)
        assert sorted(report.deleted) == ["batch/0", "batch/1", "batch/2", "batch/3", "batch/4"]
        assert sorted(report.missing) == ["gone/1", "gone/2"]
        assert list(report.errors) == ["../outside"]
        assert ".." in report.errors["../outside"]
        assert list(filesystem.list()) == []

    def test_test_connection_succeeds_and_leaves_no_probe_behind(self, filesystem):
        filesystem.test_connection(timeout=10)
        assert not any(info.key.startswith(PROBE_KEY_PREFIX) for info in filesystem.list())

    def test_settings_rebuild_an_equal_filesystem(self, filesystem):
        rebuilt = filesystem_from_settings(
            block_type_slug=filesystem.block_type_slug,
            settings=filesystem.block_settings(include_secrets=True),
        )
        assert rebuilt == filesystem
        assert type(rebuilt) is type(filesystem)
        assert FILESYSTEM_CLASSES[filesystem.block_type_slug] is type(filesystem)


class TestRemoteKeys:
    """A remote key is a name: its spellings are not folded into one, and nothing hides a dot segment."""

    @pytest.mark.parametrize("spelling", ["./dir//value", "dir//value", "dir/./value", "dir/value/"])
    def test_other_spellings_of_a_key_are_refused(self, remote_filesystem, spelling):
        remote_filesystem.write_path("dir/value", b"same")
        with pytest.raises(UnsafeKeyError, match=r"empty or '\.' segments"):
            remote_filesystem.write_path(spelling, b"other")
        assert remote_filesystem.read_path("/dir/value") == b"same"
        assert [info.key for info in remote_filesystem.list()] == ["dir/value"]

    @pytest.mark.parametrize(
        "key",
        ["%2e%2e/x", ".%2e/x", "%2E%2E", "a/%2e%2e/%2e%2e/x", "..\\x", "a\\..\\..\\x", "a%2fb", "a%5C..%5Cb"],
    )
    def test_hidden_dot_segments_and_encoded_slashes_are_outside(self, remote_filesystem, key):
        with pytest.raises(UnsafeKeyError, match="outside the base path"):
            remote_filesystem.write_path(key, b"intruder")
        with pytest.raises(UnsafeKeyError, match="outside the base path"):
            remote_filesystem.write_path(f"{remote_filesystem.basepath}/{key}", b"intruder")
        assert list(remote_filesystem.list()) == []


# --------------------------------------------------------------------------------------------------
# Keys


def test_key_normalize_produces_the_canonical_relative_form():
    assert key_normalize("a/b") == "a/b"
    assert key_normalize("/a//./b/") == "a/b"
    assert key_normalize("a b/ü.json") == "a b/ü.json"
    with pytest.raises(UnsafeKeyError, match=r"'\.\.'"):
        key_normalize("a/../b")
    with pytest.raises(UnsafeKeyError, match="NUL"):
        key_normalize("a\x00b")
    with pytest.raises(UnsafeKeyError, match="empty"):
        key_normalize("//")


# --------------------------------------------------------------------------------------------------
# Local files


class TestLocalFileSystem:
    def test_spellings_of_a_key_name_the_same_file(self, local_fs):
        local_fs.write_path("./dir//value", b"same")
        assert local_fs.read_path("dir/./value") == b"same"
        assert [info.key for info in local_fs.list()] == ["dir/value"]

    def test_keys_resolve_inside_the_basepath(self, tmp_path):
        filesystem = LocalFileSystem(basepath=tmp_path / "store")
        written = filesystem.write_path("flow/result", b"v")
        assert written == str((tmp_path / "store" / "flow" / "result").resolve())
        assert Path(written).read_bytes() == b"v"
        assert filesystem.block_type_slug == "local-file-system"

    def test_absolute_paths_inside_the_basepath_are_accepted(self, tmp_path):
        filesystem = LocalFileSystem(basepath=tmp_path / "store")
        absolute = str((tmp_path / "store" / "deep" / "key").resolve())
        filesystem.write_path(absolute, b"absolute")
        assert filesystem.read_path("deep/key") == b"absolute"
        assert filesystem.read_path(absolute) == b"absolute"
        assert [info.key for info in filesystem.list()] == ["deep/key"]

    @pytest.mark.parametrize(
        "outside", ["/etc/passwd", "{tmp}/elsewhere", "{tmp}/store-sibling/x", "{tmp}/store/../x"]
    )
    def test_absolute_paths_outside_the_basepath_are_refused_and_nothing_is_written(self, tmp_path, outside):
        filesystem = LocalFileSystem(basepath=tmp_path / "store")
        before = sorted(str(path) for path in tmp_path.rglob("*"))
        with pytest.raises(UnsafeKeyError):
            filesystem.write_path(outside.format(tmp=tmp_path), b"intruder")
        with pytest.raises(UnsafeKeyError):
            filesystem.read_path(outside.format(tmp=tmp_path))
        assert sorted(str(path) for path in tmp_path.rglob("*")) == before

    def test_dot_dot_keys_never_write_outside(self, tmp_path):
        filesystem = LocalFileSystem(basepath=tmp_path / "store" / "inner")
        for key in ["../x", "../../x", "a/../../x", "../inner2/x"]:
            with pytest.raises(UnsafeKeyError):
                filesystem.write_path(key, b"intruder")
            with pytest.raises(UnsafeKeyError), filesystem.open_write(key) as stream:
                stream.write(b"intruder")
        assert list(tmp_path.rglob("x")) == []

    def test_basepath_defaults_to_the_current_directory(self, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        filesystem = LocalFileSystem()
        filesystem.write_path("here", b"cwd")
        assert (tmp_path / "here").read_bytes() == b"cwd"
        assert filesystem.block_settings() == {"basepath": None}

    def test_tilde_in_the_basepath_is_expanded(self, tmp_path, monkeypatch):
        monkeypatch.setenv("HOME", str(tmp_path))
        filesystem = LocalFileSystem(basepath="~/results")
        filesystem.write_path("k", b"home")
        assert (tmp_path / "results" / "k").read_bytes() == b"home"
        assert filesystem.read_path(str(tmp_path / "results" / "k")) == b"home"

    def test_a_crash_inside_open_write_leaves_neither_the_file_nor_a_temp_file(self, tmp_path):
        filesystem = LocalFileSystem(basepath=tmp_path)
        with pytest.raises(KeyboardInterrupt), filesystem.open_write("dir/result") as stream:
            stream.write(b"x" * 100_000)
            raise KeyboardInterrupt
        assert not (tmp_path / "dir" / "result").exists()
        assert os.listdir(tmp_path / "dir") == []

    def test_open_write_publishes_the_file_only_when_complete(self, tmp_path):
        filesystem = LocalFileSystem(basepath=tmp_path)
        with filesystem.open_write("result") as stream:
            stream.write(b"first half ")
            assert not (tmp_path / "result").exists()
            in_flight = os.listdir(tmp_path)
            assert len(in_flight) == 1 and in_flight[0].endswith(TEMP_FILE_SUFFIX)
            assert list(filesystem.list()) == []
            stream.write(b"second half")
        assert (tmp_path / "result").read_bytes() == b"first half second half"
        assert os.listdir(tmp_path) == ["result"]

    def test_written_files_follow_the_umask_not_private_temp_permissions(self, tmp_path):
        filesystem = LocalFileSystem(basepath=tmp_path)
        old_umask = os.umask(0o022)
        try:
            filesystem.write_path("perm", b"x")
        finally:
            os.umask(old_umask)
        assert (tmp_path / "perm").stat().st_mode & 0o777 == 0o644

    def test_a_basepath_under_a_regular_file_is_not_writable(self, tmp_path):
        blocker = tmp_path / "a-file"
        blocker.write_bytes(b"not a directory")
        filesystem = LocalFileSystem(basepath=blocker / "sub")
        with pytest.raises(NotWritableError, match="not writable") as raised:
            filesystem.write_path("k", b"v")
        assert str(blocker) in str(raised.value)
        with pytest.raises(NotWritableError):
            filesystem.test_connection(timeout=5)
        with pytest.raises(ObjectNotFoundError):
            filesystem.read_path("k")

    def test_a_directory_is_not_an_object(self, tmp_path):
        filesystem = LocalFileSystem(basepath=tmp_path)
        filesystem.write_path("dir/inner", b"x")
        assert not filesystem.exists("dir")
        with pytest.raises(StorageError, match="directory"):
            filesystem.read_path("dir")
        with pytest.raises(StorageError, match="directory"):
            filesystem.write_path("dir", b"x")

    def test_open_write_onto_a_directory_is_refused_and_leaves_no_temp_file(self, tmp_path):
        filesystem = LocalFileSystem(basepath=tmp_path)
        (tmp_path / "taken").mkdir()
        with (
            pytest.raises(StorageError, match="a directory of that name exists"),
            filesystem.open_write("taken") as stream,
        ):
            stream.write(b"x")
        assert os.listdir(tmp_path) == ["taken"]
        assert os.listdir(tmp_path / "taken") == []

    def test_a_directory_removed_after_a_write_is_created_again(self, tmp_path):
        filesystem = LocalFileSystem(basepath=tmp_path / "store")
        filesystem.write_path("deep/one", b"1")
        shutil.rmtree(tmp_path / "store")
        filesystem.write_path("deep/two", b"2")
        assert (tmp_path / "store" / "deep" / "two").read_bytes() == b"2"
        shutil.rmtree(tmp_path / "store")
        with filesystem.open_write("deep/three") as stream:
            stream.write(b"3")
        assert (tmp_path / "store" / "deep" / "three").read_bytes() == b"3"

    def test_overwriting_replaces_the_object_and_leaves_only_it(self, tmp_path):
        filesystem = LocalFileSystem(basepath=tmp_path)
        filesystem.write_path("k", b"old value")
        filesystem.write_path("k", b"new")
        assert filesystem.read_path("k") == b"new"
        with filesystem.open_write("k") as stream:
            stream.write(b"newest")
        assert filesystem.read_path("k") == b"newest"
        assert os.listdir(tmp_path) == ["k"]

    def test_concurrent_writers_of_one_key_never_collide_or_leave_temp_files(self, tmp_path):
        filesystem = LocalFileSystem(basepath=tmp_path)
        payloads = [bytes([index]) * 50_000 for index in range(8)]

        def write(payload: bytes) -> None:
            for _ in range(20):
                with filesystem.open_write("shared") as stream:
                    stream.write(payload[:25_000])
                    stream.write(payload[25_000:])
                filesystem.write_path("shared", payload)

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(write, payloads))
        assert filesystem.read_path("shared") in payloads
        assert os.listdir(tmp_path) == ["shared"]

    def test_absolute_keys_under_the_base_path_resolve_to_the_same_key(self, tmp_path):
        filesystem = LocalFileSystem(basepath=tmp_path)
        resolved = filesystem.resolve_path("a//b/./c")
        assert resolved == str(tmp_path.resolve() / "a" / "b" / "c")
        assert filesystem.relative_key(resolved) == "a/b/c"
        with pytest.raises(UnsafeKeyError):
            filesystem.relative_key(str(tmp_path.resolve()) + "/a/../../x")

    def test_listing_reports_file_sizes_and_modification_times(self, tmp_path):
        filesystem = LocalFileSystem(basepath=tmp_path)
        filesystem.write_path("sized", b"x" * 1234)
        os.utime(tmp_path / "sized", (1_700_000_000, 1_700_000_000))
        (info,) = list(filesystem.list())
        assert info == ObjectInfo(
            key="sized", size=1234, modified=datetime.fromtimestamp(1_700_000_000, tz=UTC)
        )

    def test_listing_is_lazy(self, tmp_path):
        filesystem = LocalFileSystem(basepath=tmp_path)
        for index in range(3):
            filesystem.write_path(f"k{index}", b"x")
        listing = filesystem.list()
        assert next(listing).key == "k0"

    def test_settings_have_no_secrets(self, tmp_path):
        filesystem = LocalFileSystem(basepath=tmp_path)
        assert filesystem.secret_fields == ()
        assert filesystem.block_settings() == {"basepath": str(tmp_path)}
        assert filesystem.dict() == {"basepath": str(tmp_path), "block_type_slug": "local-file-system"}


# --------------------------------------------------------------------------------------------------
# S3 against SeaweedFS


class TestS3:
    def test_keys_resolve_under_the_bucket_prefix(self, s3_fs, s3_bucket, s3_client):
        assert s3_fs.block_type_slug == "s3"
        assert s3_fs.write_path("flow/result", b"v") == f"s3://{s3_bucket}/results/flow/result"
        stored = s3_client.get_object(Bucket=s3_bucket, Key="results/flow/result")["Body"].read()
        assert stored == b"v"
        assert s3_fs.basepath == f"s3://{s3_bucket}/results"

    def test_a_bucket_without_prefix_uses_the_bucket_root(self, s3_settings, s3_bucket, s3_client):
        filesystem = S3(bucket_path=s3_bucket, **s3_settings)
        filesystem.write_path("root-key", b"v")
        assert s3_client.head_object(Bucket=s3_bucket, Key="root-key")["ContentLength"] == 1
        assert [info.key for info in filesystem.list()] == ["root-key"]

    def test_url_keys_inside_the_base_path_are_accepted(self, s3_fs, s3_bucket):
        s3_fs.write_path(f"s3://{s3_bucket}/results/by-url", b"url")
        assert s3_fs.read_path("by-url") == b"url"
        assert s3_fs.read_path(s3_fs.resolve_path("by-url")) == b"url"

    @pytest.mark.parametrize(
        "url",
        [
            "s3://another-bucket/results/x",
            "s3://{bucket}/other-prefix/x",
            "s3://{bucket}/resultsx/x",
            "s3://{bucket}/results/../x",
            "gs://{bucket}/results/x",
        ],
    )
    def test_url_keys_outside_the_base_path_are_refused(self, s3_fs, s3_bucket, s3_client, url):
        with pytest.raises(UnsafeKeyError):
            s3_fs.write_path(url.format(bucket=s3_bucket), b"intruder")
        assert s3_client.list_objects_v2(Bucket=s3_bucket).get("KeyCount", 0) == 0

    @pytest.mark.parametrize(
        "bucket_path", ["", "UpperCase", "ab", "under_score", "a" * 64, "-dash", "192.168.0.1"]
    )
    def test_invalid_bucket_names_are_refused_with_a_clear_message(self, s3_settings, bucket_path):
        with pytest.raises(ValidationError, match="bucket"):
            S3(bucket_path=bucket_path, **s3_settings)

    def test_no_keys_means_the_environment_credentials_as_in_prefect(self, s3_settings):
        implicit = S3(bucket_path="some-bucket", endpoint_url=s3_settings["endpoint_url"])
        assert implicit.use_environment_credentials is True
        with pytest.raises(ValidationError, match="credentials"):
            S3(bucket_path="some-bucket", use_environment_credentials=False)
        with pytest.raises(ValidationError, match="both"):
            S3(bucket_path="some-bucket", aws_access_key_id="only-the-id")
        assert S3(bucket_path="some-bucket", use_environment_credentials=True).aws_access_key_id is None

    def test_a_wrong_secret_is_access_denied(self, s3_settings, s3_bucket, s3_fs):
        s3_fs.write_path("exists", b"v")
        wrong = S3(
            bucket_path=f"{s3_bucket}/results", **{**s3_settings, "aws_secret_access_key": "wrong-secret"}
        )
        with pytest.raises(AccessDeniedError, match="check the access key and secret"):
            wrong.write_path("k", b"v")
        with pytest.raises(AccessDeniedError):
            wrong.read_path("exists")
        with pytest.raises(AccessDeniedError):
            wrong.exists("exists")
        with pytest.raises(AccessDeniedError):
            list(wrong.list())
        with pytest.raises(AccessDeniedError, match="access denied: the credentials were rejected"):
            wrong.test_connection(timeout=5)

    def test_an_unknown_access_key_is_access_denied(self, s3_settings, s3_bucket):
        unknown = S3(bucket_path=s3_bucket, **{**s3_settings, "aws_access_key_id": "nobody"})
        with pytest.raises(AccessDeniedError):
            unknown.write_path("k", b"v")

    def test_a_missing_bucket_is_reported_as_such(self, s3_settings):
        missing = S3(bucket_path=f"missing-{uuid.uuid4().hex[:12]}/prefix", **s3_settings)
        with pytest.raises(BucketNotFoundError, match="does not exist"):
            missing.test_connection(timeout=5)
        with pytest.raises(BucketNotFoundError, match=missing.bucket):
            missing.read_path("k")
        with pytest.raises(BucketNotFoundError):
            list(missing.list())

    def test_a_closed_port_is_unreachable_within_a_few_seconds(self, s3_settings):
        unreachable = S3(
            bucket_path="some-bucket", **{**s3_settings, "endpoint_url": f"http://127.0.0.1:{_closed_port()}"}
        )
        started = time.monotonic()
        with pytest.raises(EndpointUnreachableError, match=r"could not reach http://127\.0\.0\.1"):
            unreachable.test_connection(timeout=2)
        assert time.monotonic() - started < 4
        started = time.monotonic()
        with pytest.raises(EndpointUnreachableError):
            unreachable.read_path("k")
        assert time.monotonic() - started < 10

    def test_a_silent_endpoint_times_out_with_the_timeout_in_the_message(self, s3_settings):
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen(1)  # accepts connections but never answers
            port = silent.getsockname()[1]
            filesystem = S3(
                bucket_path="some-bucket", **{**s3_settings, "endpoint_url": f"http://127.0.0.1:{port}"}
            )
            started = time.monotonic()
            with pytest.raises(EndpointUnreachableError, match=r"timed out after 1 s"):
                filesystem.test_connection(timeout=1)
            assert time.monotonic() - started < 3

    def test_large_values_stream_up_in_parts_and_read_back_by_range(self, s3_fs, s3_client, s3_bucket):
        part = 8 * 1024 * 1024
        blocks = [os.urandom(1024 * 1024) for _ in range(17)]
        calls: list[str] = []
        s3_fs.client.meta.events.register("before-call.s3.*", lambda model, **_: calls.append(model.name))
        with s3_fs.open_write("big") as stream:
            for block in blocks:
                stream.write(block)
        expected = b"".join(blocks)
        assert calls.count("UploadPart") == 3
        assert "CompleteMultipartUpload" in calls and "PutObject" not in calls
        assert s3_fs.size("big") == len(expected)
        assert s3_fs.read_range("big", part - 10, part + 10) == expected[part - 10 : part + 10]
        with s3_fs.open_read("big") as stream:
            stream.seek(16 * 1024 * 1024 + 5)
            assert stream.read(100) == expected[16 * 1024 * 1024 + 5 : 16 * 1024 * 1024 + 105]
            stream.seek(0)
            assert stream.read() == expected

    def test_a_failed_multipart_upload_is_aborted(self, s3_fs, s3_client, s3_bucket):
        with pytest.raises(RuntimeError), s3_fs.open_write("aborted") as stream:
            stream.write(os.urandom(9 * 1024 * 1024))
            raise RuntimeError("crash after the first part")
        assert not s3_fs.exists("aborted")
        uploads = s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])
        assert [upload["Key"] for upload in uploads] == []

    def test_small_streamed_values_take_a_single_put(self, s3_fs):
        calls: list[str] = []
        s3_fs.client.meta.events.register("before-call.s3.*", lambda model, **_: calls.append(model.name))
        with s3_fs.open_write("small") as stream:
            stream.write(b"tiny")
        assert calls == ["PutObject"]

    def test_listing_pages_and_delete_many_batches_at_most_1000_keys(self, s3_fs):
        keys = [f"many/{index:04d}" for index in range(1005)]
        for key in keys:
            s3_fs.write_path(key, b"x")
        assert [info.key for info in s3_fs.list("many/")] == keys
        batches: list[int] = []

        def count(params, **_):
            batches.append(len(params["Delete"]["Objects"]))

        s3_fs.client.meta.events.register("provide-client-params.s3.DeleteObjects", count)
        report = s3_fs.delete_many([*keys, "never/1", "never/2"], batch_size=5000)
        assert batches == [1000, 5]
        assert report.deleted == keys
        assert report.missing == ["never/1", "never/2"]
        assert list(s3_fs.list()) == []

    def test_delete_many_honours_smaller_batches(self, s3_fs):
        keys = [f"k{index}" for index in range(10)]
        for key in keys:
            s3_fs.write_path(key, b"x")
        batches: list[int] = []
        s3_fs.client.meta.events.register(
            "provide-client-params.s3.DeleteObjects",
            lambda params, **_: batches.append(len(params["Delete"]["Objects"])),
        )
        report = s3_fs.delete_many(keys, batch_size=3)
        assert batches == [3, 3, 3, 1]
        assert report.deleted == keys

    def test_delete_many_can_skip_existence_checks(self, s3_fs):
        s3_fs.write_path("present", b"x")
        report = s3_fs.delete_many(["present", "absent"], report_missing=False)
        assert report == DeleteReport(deleted=["present", "absent"], missing=[], errors={})
        assert not s3_fs.exists("present")

    def test_one_client_is_reused(self, s3_fs):
        assert s3_fs.client is s3_fs.client
        s3_fs.write_path("a", b"1")
        s3_fs.read_path("a")
        assert s3_fs.client is s3_fs.client

    def test_secrets_are_masked_unless_asked_for(self, s3_settings, s3_bucket):
        filesystem = S3(bucket_path=s3_bucket, aws_session_token="session-token", **s3_settings)
        masked = filesystem.block_settings()
        assert masked["aws_secret_access_key"] == SECRET_MASK
        assert masked["aws_session_token"] == SECRET_MASK
        assert masked["aws_access_key_id"] == s3_settings["aws_access_key_id"]
        assert filesystem.dict() == {**masked, "block_type_slug": "s3"}
        assert (
            filesystem.block_settings(include_secrets=True)["aws_secret_access_key"]
            == s3_settings["aws_secret_access_key"]
        )
        assert s3_settings["aws_secret_access_key"] not in repr(filesystem)
        assert set(S3.secret_fields) == {"aws_secret_access_key", "aws_session_token"}


# --------------------------------------------------------------------------------------------------
# fsspec URLs


class TestRemoteFileSystem:
    def test_base_paths_must_be_urls(self):
        with pytest.raises(ValidationError, match="scheme"):
            RemoteFileSystem(basepath="/plain/path")
        with pytest.raises(ValidationError, match="location"):
            RemoteFileSystem(basepath="s3://")
        with pytest.raises(InvalidSettingsError, match="scheme"):
            filesystem_from_settings(
                block_type_slug="remote-file-system", settings={"basepath": "/plain/path"}
            )

    def test_memory_urls_resolve_under_the_base_path(self, memory_fs):
        assert memory_fs.block_type_slug == "remote-file-system"
        url = memory_fs.write_path("k", b"v")
        assert url == f"{memory_fs.basepath}/k"
        assert memory_fs.read_path(url) == b"v"

    def test_url_keys_for_another_location_are_refused(self, memory_fs):
        area = memory_fs.basepath.split("://")[1].split("/")[0]
        for url in [
            "memory://other-area/results/k",
            f"memory://{area}/elsewhere/k",
            f"s3://{area}/results/k",
        ]:
            with pytest.raises(UnsafeKeyError):
                memory_fs.write_path(url, b"intruder")
        assert list(memory_fs.list()) == []

    def test_file_urls_work_like_a_local_directory(self, tmp_path):
        filesystem = RemoteFileSystem(basepath=f"file://{tmp_path}/store")
        filesystem.write_path("a/b", b"file url")
        assert (tmp_path / "store" / "a" / "b").read_bytes() == b"file url"
        with pytest.raises(RuntimeError), filesystem.open_write("a/b") as stream:
            stream.write(b"partial")
            raise RuntimeError("crash")
        assert (tmp_path / "store" / "a" / "b").read_bytes() == b"file url"
        assert [info.key for info in filesystem.list()] == ["a/b"]

    def test_s3_urls_reach_seaweedfs(self, remote_s3_fs, s3_client, s3_bucket):
        remote_s3_fs.write_path("via-s3fs", b"v")
        assert s3_client.get_object(Bucket=s3_bucket, Key="results/via-s3fs")["Body"].read() == b"v"

    def test_wrong_s3_credentials_are_access_denied(self, s3_settings, s3_bucket):
        settings = {**_s3_remote_settings(s3_settings), "secret": "wrong-secret"}
        filesystem = RemoteFileSystem(basepath=f"s3://{s3_bucket}/results", settings=settings)
        with pytest.raises(AccessDeniedError, match="check the access key and secret"):
            filesystem.write_path("k", b"v")

    def test_a_missing_s3_bucket_is_reported_as_such(self, s3_settings):
        missing = f"missing-{uuid.uuid4().hex[:12]}"
        filesystem = RemoteFileSystem(basepath=f"s3://{missing}/x", settings=_s3_remote_settings(s3_settings))
        with pytest.raises(BucketNotFoundError, match=missing):
            list(filesystem.list())

    def test_an_unreachable_endpoint_is_reported_within_the_timeout(self, s3_settings):
        settings = _s3_remote_settings(s3_settings)
        settings["client_kwargs"] = {
            **settings["client_kwargs"],
            "endpoint_url": f"http://127.0.0.1:{_closed_port()}",
        }
        filesystem = RemoteFileSystem(basepath="s3://some-bucket/x", settings=settings)
        started = time.monotonic()
        with pytest.raises(EndpointUnreachableError, match=r"could not reach http://127\.0\.0\.1"):
            filesystem.test_connection(timeout=2)
        assert time.monotonic() - started < 4

    def test_every_setting_is_masked(self):
        filesystem = RemoteFileSystem(
            basepath="memory://masked/x",
            settings={
                "key": "id",
                "secret": "s3cr3t",
                "anon": False,
                "client_kwargs": {"endpoint_url": "http://127.0.0.1:1", "aws_session_token": "tok"},
                "password": "pw",
            },
        )
        masked = filesystem.block_settings()
        assert masked["settings"] == {
            "key": SECRET_MASK,
            "secret": SECRET_MASK,
            "anon": SECRET_MASK,
            "client_kwargs": {"endpoint_url": SECRET_MASK, "aws_session_token": SECRET_MASK},
            "password": SECRET_MASK,
        }
        assert filesystem.block_settings(include_secrets=True)["settings"]["secret"] == "s3cr3t"
        assert "s3cr3t" not in repr(filesystem)
