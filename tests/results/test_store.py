"""ResultStore: Prefect 3's result store, on local disk and S3, with locks, expiration and streaming."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import json
import multiprocessing
import os
import tracemalloc
import uuid
from pathlib import Path

import pytest

from apps.blocks.filesystems import S3, LocalFileSystem
from apps.results.locking import FileSystemLockManager, MemoryLockManager, RedisLockManager
from apps.results.records import Layout, layout_detect
from apps.results.store import (
    IsolationLevel,
    LockedByAnotherHolderError,
    LockManagerRequiredError,
    ResultNotFoundError,
    ResultStore,
    storage_write_spooled,
)

VALUE = {"a": [1, 2.5, "x", None, True], "nested": {"deep": [[1]]}, "ü": "ñ"}
MIB = 1024 * 1024


def local_store(path: Path, **options) -> ResultStore:
    return ResultStore(result_storage=LocalFileSystem(basepath=str(path)), **options)


def in_a_day() -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=1)


# -- round trips -----------------------------------------------------------------------------------


@pytest.mark.parametrize("serializer", ["pickle", "json", "compressed/pickle", "compressed/json"])
def test_local_round_trip_writes_a_prefect_3_record_keyed_by_its_absolute_path(tmp_path, serializer):
    record = local_store(tmp_path, serializer=serializer).write(VALUE, key="answer")

    stored = (tmp_path / "answer").read_bytes()
    assert layout_detect(stored) == Layout.V3_RECORD
    assert json.loads(stored)["metadata"]["storage_key"] == str(tmp_path.resolve() / "answer")
    assert record.metadata.storage_key == str(tmp_path.resolve() / "answer")
    assert record.metadata.storage_block_id is None
    fresh = local_store(tmp_path, serializer="pickle")  # the record's own serializer is used to read
    assert fresh.read("answer").result == VALUE


def test_s3_round_trip_keys_the_record_by_its_url(s3_settings, s3_bucket, s3_client):
    storage = S3(bucket_path=f"{s3_bucket}/results", **s3_settings)
    record = ResultStore(result_storage=storage).write(VALUE, key="answer")

    assert record.metadata.storage_key == f"s3://{s3_bucket}/results/answer"
    body = s3_client.get_object(Bucket=s3_bucket, Key="results/answer")["Body"].read()
    assert layout_detect(body) == Layout.V3_RECORD
    fresh = ResultStore(result_storage=S3(bucket_path=f"{s3_bucket}/results", **s3_settings))
    assert fresh.read("answer").result == VALUE
    assert fresh.exists("answer")
    assert not fresh.exists("missing")


def test_a_saved_block_records_the_relative_key_and_its_id(tmp_path):
    block_id = str(uuid.uuid4())
    store = local_store(tmp_path, storage_block_id=block_id)
    record = store.write(VALUE, key="folder/answer")

    metadata = json.loads((tmp_path / "folder" / "answer").read_bytes())["metadata"]
    assert metadata["storage_key"] == record.metadata.storage_key == "folder/answer"
    assert metadata["storage_block_id"] == block_id
    assert local_store(tmp_path, storage_block_id=block_id).read("folder/answer").result == VALUE


def test_default_keys_are_fresh_uuids_and_absolute_keys_read_back(tmp_path):
    store = local_store(tmp_path)
    first, second = store.write(1), store.write(2)

    assert first.metadata.storage_key != second.metadata.storage_key
    assert len(Path(first.metadata.storage_key).name) == 32
    fresh = local_store(tmp_path, cache_result_in_memory=False)
    assert fresh.read(second.metadata.storage_key).result == 2


def test_default_storage_is_the_configured_path_else_dot_results(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RESULTS_LOCAL_STORAGE_PATH", raising=False)
    ResultStore().write(VALUE, key="here")
    assert (tmp_path / ".results" / "here").is_file()

    monkeypatch.setenv("RESULTS_LOCAL_STORAGE_PATH", str(tmp_path / "configured"))
    ResultStore().write(VALUE, key="there")
    assert (tmp_path / "configured" / "there").is_file()


def test_create_then_persist_is_what_write_does(tmp_path):
    store = local_store(tmp_path, serializer="json")
    record = store.create_result_record(VALUE, key="two-step", expiration=in_a_day())
    assert not (tmp_path / "two-step").exists()

    store.persist_result_record(record)

    assert local_store(tmp_path, cache_result_in_memory=False).read("two-step").result == VALUE


def test_reading_a_missing_key_names_the_key(tmp_path):
    with pytest.raises(ResultNotFoundError, match="'nothing-here'"):
        local_store(tmp_path).read("nothing-here")


def test_reads_real_prefect_3_files(prefect_corpus):
    spec = importlib.util.spec_from_file_location("corpus_verify", prefect_corpus / "verify.py")
    verify = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(verify)
    manifest = [json.loads(line) for line in (prefect_corpus / "manifest.jsonl").read_text().splitlines()]
    record_entry = next(item for item in manifest if item["path"] == "v3/direct/pickle-nested")
    raw_entry = next(item for item in manifest if item["path"].startswith("v3/flows/"))

    record = local_store(prefect_corpus / "v3" / "direct").read("pickle-nested")
    # A flow's return value is the bare payload: the store's serializer is the fallback.
    raw = local_store(prefect_corpus / "v3" / "flows", serializer="pickle").read(Path(raw_entry["path"]).name)

    assert verify.canon(record.result) == record_entry["expected"]
    assert record.metadata.storage_key == record_entry["storage_key"]
    assert verify.canon(raw.result) == raw_entry["expected"]


# -- expiration ------------------------------------------------------------------------------------


def test_an_expired_record_no_longer_exists(tmp_path):
    store = local_store(tmp_path)
    store.write(VALUE, key="stale", expiration=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    store.write(VALUE, key="fresh", expiration=in_a_day())
    store.write(VALUE, key="forever")

    assert not store.exists("stale")
    assert store.exists("fresh")
    assert store.exists("forever")
    assert not store.exists("never-written")
    stored = json.loads((tmp_path / "fresh").read_bytes())
    assert stored["metadata"]["expiration"].endswith("Z")


def test_an_expired_record_is_not_served_from_the_cache(tmp_path):
    store = local_store(tmp_path)
    store.write(VALUE, key="stale", expiration=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    (tmp_path / "stale").unlink()

    with pytest.raises(ResultNotFoundError):
        store.read("stale")


def test_garbage_is_no_record(tmp_path):
    (tmp_path / "garbage").write_bytes(b"\x00\x01 not a record")
    assert not local_store(tmp_path).exists("garbage")


# -- split layout ----------------------------------------------------------------------------------


def test_metadata_storage_splits_the_raw_value_from_its_metadata(tmp_path):
    results, metadata = tmp_path / "results", tmp_path / "metadata"
    store = ResultStore(
        result_storage=LocalFileSystem(basepath=str(results)),
        metadata_storage=LocalFileSystem(basepath=str(metadata)),
        serializer="json",
    )
    store.write(VALUE, key="split", expiration=in_a_day())

    assert layout_detect((results / "split").read_bytes()) == Layout.V3_RAW
    assert json.loads((results / "split").read_bytes()) == VALUE
    assert layout_detect((metadata / "split").read_bytes()) == Layout.V3_METADATA
    assert json.loads((metadata / "split").read_bytes())["storage_key"] == str(results.resolve() / "split")
    fresh = ResultStore(
        result_storage=LocalFileSystem(basepath=str(results)),
        metadata_storage=LocalFileSystem(basepath=str(metadata)),
        cache_result_in_memory=False,
    )
    assert fresh.read("split").result == VALUE
    assert fresh.exists("split")
    assert not fresh.exists("other")


# -- in-memory cache -------------------------------------------------------------------------------


def test_the_cache_keeps_the_most_recently_used_records(tmp_path):
    store = local_store(tmp_path, cache_size=2)
    for key in ("one", "two"):
        store.write(key, key=key)
    store.read("one")  # "two" is now the least recently used
    store.write("three", key="three")
    for key in ("one", "two", "three"):
        (tmp_path / key).unlink()

    assert store.read("one").result == "one"
    assert store.read("three").result == "three"
    with pytest.raises(ResultNotFoundError):
        store.read("two")


def test_without_the_cache_every_read_goes_to_storage(tmp_path):
    store = local_store(tmp_path, cache_result_in_memory=False)
    store.write(VALUE, key="uncached")
    (tmp_path / "uncached").unlink()

    with pytest.raises(ResultNotFoundError):
        store.read("uncached")


# -- locks -----------------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "filesystem", "redis"])
def lock_manager(request, tmp_path):
    if request.param == "memory":
        return MemoryLockManager()
    if request.param == "filesystem":
        return FileSystemLockManager(tmp_path / "locks")
    return RedisLockManager(request.getfixturevalue("redis_url"))


def test_a_locked_key_refuses_other_holders(tmp_path, lock_manager):
    store = local_store(tmp_path / "results", lock_manager=lock_manager)
    key = f"locked-{uuid.uuid4().hex}"
    assert store.supports_isolation_level(IsolationLevel.SERIALIZABLE)
    assert store.acquire_lock(key, holder="alice", timeout=1)
    try:
        assert store.is_locked(key)
        assert store.is_lock_holder(key, holder="alice")
        assert not store.is_lock_holder(key, holder="bob")

        with pytest.raises(LockedByAnotherHolderError, match=f"{key}.*locked by another holder"):
            store.write("bob's", key=key, holder="bob")
        store.write("alice's", key=key, holder="alice")
        assert store.read(key, holder="alice").result == "alice's"
    finally:
        store.release_lock(key, holder="alice")
    assert not store.is_locked(key)
    store.write("bob's", key=key, holder="bob")
    assert local_store(tmp_path / "results", cache_result_in_memory=False).read(key).result == "bob's"


def test_wait_for_lock_returns_once_the_holder_releases(tmp_path):
    store = local_store(tmp_path, lock_manager=MemoryLockManager())
    key = f"waited-{uuid.uuid4().hex}"
    store.acquire_lock(key, holder="alice")
    assert store.wait_for_lock(key, timeout=0.05) is False
    store.release_lock(key, holder="alice")
    assert store.wait_for_lock(key, timeout=0.05) is True


def test_without_a_lock_manager_only_read_committed_is_supported(tmp_path):
    store = local_store(tmp_path)
    assert store.supports_isolation_level(IsolationLevel.READ_COMMITTED)
    assert not store.supports_isolation_level(IsolationLevel.SERIALIZABLE)
    with pytest.raises(LockManagerRequiredError, match="lock manager"):
        store.acquire_lock("k")


def race_to_write(
    storage_dir: str, lock_spec: tuple[str, str], key: str, name: str, barrier, done, outcomes
) -> None:
    """One contender: lock the key (briefly), write on success, else try to write anyway."""
    kind, where = lock_spec
    manager = FileSystemLockManager(where) if kind == "filesystem" else RedisLockManager(where)
    store = ResultStore(result_storage=LocalFileSystem(basepath=storage_dir), lock_manager=manager)
    barrier.wait(timeout=30)
    if store.acquire_lock(key, holder=name, timeout=0.3):
        store.write(name, key=key, holder=name)
        outcomes.put((name, "won"))
        done.wait(timeout=30)
        store.release_lock(key, holder=name)
        return
    try:
        store.write(name, key=key, holder=name)
        outcomes.put((name, "wrote without the lock"))
    except LockedByAnotherHolderError:
        outcomes.put((name, "locked out"))
    finally:
        done.set()


@pytest.mark.parametrize("kind", ["filesystem", "redis"])
def test_two_processes_race_for_one_key_and_exactly_one_wins(tmp_path, kind, request):
    where = str(tmp_path / "locks") if kind == "filesystem" else request.getfixturevalue("redis_url")
    key = f"contested-{uuid.uuid4().hex}"
    context = multiprocessing.get_context("spawn")
    barrier, done, outcomes = context.Barrier(2), context.Event(), context.Queue()
    contenders = [
        context.Process(
            target=race_to_write,
            args=(str(tmp_path / "results"), (kind, where), key, name, barrier, done, outcomes),
        )
        for name in ("first", "second")
    ]
    for process in contenders:
        process.start()
    for process in contenders:
        process.join(timeout=60)
        assert process.exitcode == 0

    results = dict(outcomes.get(timeout=5) for _ in contenders)
    assert sorted(results.values()) == ["locked out", "won"], results
    winner = next(name for name, outcome in results.items() if outcome == "won")
    assert local_store(tmp_path / "results").read(key).result == winner


# -- async -----------------------------------------------------------------------------------------


def test_async_variants_round_trip(tmp_path):
    async def scenario():
        store = local_store(tmp_path, lock_manager=MemoryLockManager())
        await store.awrite(VALUE, key="async")
        record = store.create_result_record([1, 2], key="async-two")
        await store.apersist_result_record(record)
        fresh = local_store(tmp_path, cache_result_in_memory=False)
        lock_key = f"async-{uuid.uuid4().hex}"
        assert await store.aacquire_lock(lock_key, holder="me")
        assert store.is_lock_holder(lock_key, holder="me")
        store.release_lock(lock_key, holder="me")
        return (
            (await fresh.aread("async")).result,
            (await fresh.aread("async-two")).result,
            await fresh.aexists("async"),
            await fresh.aexists("nope"),
        )

    assert asyncio.run(scenario()) == (VALUE, [1, 2], True, False)


# -- large values ----------------------------------------------------------------------------------


def test_a_50_mib_value_streams_without_extra_copies(tmp_path):
    value = os.urandom(50 * MIB)
    store = local_store(tmp_path, cache_result_in_memory=False)

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        store.write(value, key="large")
        write_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        read_back = store.read("large").result
        read_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert read_back == value
    assert write_peak < 2 * len(value), f"writing peaked at {write_peak / MIB:.0f} MiB"
    assert read_peak < 2 * len(value), f"reading peaked at {read_peak / MIB:.0f} MiB (the value itself is 50)"


# -- spooled writes --------------------------------------------------------------------------------


class CountingFileSystem(LocalFileSystem):
    """Local storage that counts which write method stored each object."""

    whole_writes: int = 0
    streamed_writes: int = 0

    def write_path(self, path, content):
        self.whole_writes += 1
        return super().write_path(path, content)

    def open_write(self, path):
        self.streamed_writes += 1
        return super().open_write(path)


def test_small_values_are_written_whole_and_large_ones_streamed(tmp_path):
    storage = CountingFileSystem(basepath=tmp_path)
    store = ResultStore(result_storage=storage, cache_result_in_memory=False)
    store.write(VALUE, key="small")
    assert (storage.whole_writes, storage.streamed_writes) == (1, 0)
    large = os.urandom(3 * MIB)
    store.write(large, key="large")
    assert (storage.whole_writes, storage.streamed_writes) == (1, 1)
    assert store.read("small").result == VALUE
    assert store.read("large").result == large
    assert sorted(os.listdir(tmp_path)) == ["large", "small"]


def test_a_failing_spooled_write_stores_nothing(tmp_path):
    storage = LocalFileSystem(basepath=tmp_path)
    for size in (10, 5000):
        with (
            pytest.raises(RuntimeError, match="serializer broke"),
            storage_write_spooled(storage, "broken", spool_limit=1000) as stream,
        ):
            stream.write(b"x" * size)
            raise RuntimeError("serializer broke")
    assert os.listdir(tmp_path) == []
    with storage_write_spooled(storage, "fine", spool_limit=1000) as stream:
        for _ in range(5):
            stream.write(b"y" * 700)
    assert storage.read_path("fine") == b"y" * 3500
