"""Specification of the record lock managers: in-memory, lock files (Prefect's format) and Redis."""

import asyncio
import json
import multiprocessing
import os
import re
import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from apps.results.locking import (
    EMPTY_LOCK_FILE_GRACE_SECONDS,
    FileSystemLockManager,
    LockError,
    LockManager,
    MemoryLockManager,
    RedisLockManager,
    default_holder,
    lock_file_expiration_parse,
)

MANAGERS = ["memory", "filesystem", "redis"]


@pytest.fixture
def redis_prefix(redis_url):
    prefix = f"test-locking:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def redis_manager(redis_url, redis_prefix):
    manager = RedisLockManager(redis_url, key_prefix=redis_prefix)
    yield manager
    manager.close()


@pytest.fixture
def filesystem_manager(tmp_path):
    return FileSystemLockManager(tmp_path / "locks")


@pytest.fixture(params=MANAGERS)
def manager(request) -> LockManager:
    if request.param == "memory":
        return MemoryLockManager()
    return request.getfixturevalue(f"{request.param}_manager")


@pytest.fixture
def key() -> str:
    # The memory manager is one per process: unique keys keep tests apart.
    return f"record-{uuid.uuid4().hex}"


# --------------------------------------------------------------------------------------------------
# What every manager does


class TestEveryManager:
    def test_acquire_then_release(self, manager, key):
        assert not manager.is_locked(key)
        assert manager.acquire_lock(key, "alice") is True
        assert manager.is_locked(key)
        assert manager.is_lock_holder(key, "alice")
        assert not manager.is_lock_holder(key, "bob")
        manager.release_lock(key, "alice")
        assert not manager.is_locked(key)
        assert not manager.is_lock_holder(key, "alice")

    def test_a_held_lock_refuses_another_holder(self, manager, key):
        manager.acquire_lock(key, "alice")
        assert manager.acquire_lock(key, "bob", acquire_timeout=0) is False
        started = time.monotonic()
        assert manager.acquire_lock(key, "bob", acquire_timeout=0.3) is False
        assert 0.25 <= time.monotonic() - started < 2
        assert manager.is_lock_holder(key, "alice")

    def test_the_holder_may_acquire_again(self, manager, key):
        assert manager.acquire_lock(key, "alice")
        assert manager.acquire_lock(key, "alice", acquire_timeout=0)
        manager.release_lock(key, "alice")
        assert not manager.is_locked(key)

    def test_after_release_another_holder_acquires(self, manager, key):
        manager.acquire_lock(key, "alice")
        manager.release_lock(key, "alice")
        assert manager.acquire_lock(key, "bob", acquire_timeout=0)
        assert manager.is_lock_holder(key, "bob")
        manager.release_lock(key, "bob")

    def test_releasing_someone_elses_lock_is_refused(self, manager, key):
        manager.acquire_lock(key, "alice")
        with pytest.raises(LockError, match="held by 'alice', not 'mallory'") as raised:
            manager.release_lock(key, "mallory")
        assert isinstance(raised.value, ValueError)
        assert manager.is_lock_holder(key, "alice")
        manager.release_lock(key, "alice")

    def test_releasing_a_free_lock_is_refused(self, manager, key):
        with pytest.raises(LockError, match="no one holds it"):
            manager.release_lock(key, "alice")

    def test_an_expired_lock_is_taken_over(self, manager, key):
        manager.acquire_lock(key, "alice", hold_timeout=0.3)
        assert manager.acquire_lock(key, "bob", acquire_timeout=0) is False
        started = time.monotonic()
        assert manager.acquire_lock(key, "bob", acquire_timeout=3) is True
        assert 0.15 <= time.monotonic() - started < 2
        assert manager.is_lock_holder(key, "bob")
        assert not manager.is_lock_holder(key, "alice")
        with pytest.raises(LockError):
            manager.release_lock(key, "alice")
        assert manager.is_lock_holder(key, "bob")
        manager.release_lock(key, "bob")

    def test_an_expired_lock_is_free(self, manager, key):
        manager.acquire_lock(key, "alice", hold_timeout=0.1)
        time.sleep(0.25)
        assert not manager.is_locked(key)
        assert not manager.is_lock_holder(key, "alice")
        with pytest.raises(LockError, match="expired"):
            manager.release_lock(key, "alice")

    def test_reacquiring_extends_the_hold(self, manager, key):
        manager.acquire_lock(key, "alice", hold_timeout=0.3)
        time.sleep(0.2)
        manager.acquire_lock(key, "alice", hold_timeout=1.0)
        time.sleep(0.25)
        assert manager.is_lock_holder(key, "alice")
        manager.release_lock(key, "alice")

    def test_wait_for_lock_times_out_while_held(self, manager, key):
        manager.acquire_lock(key, "alice")
        started = time.monotonic()
        assert manager.wait_for_lock(key, timeout=0.2) is False
        assert 0.15 <= time.monotonic() - started < 2
        manager.release_lock(key, "alice")

    def test_wait_for_lock_returns_when_released(self, manager, key):
        assert manager.wait_for_lock(key, timeout=0) is True
        manager.acquire_lock(key, "alice")
        releaser = threading.Timer(0.2, manager.release_lock, args=(key, "alice"))
        releaser.start()
        started = time.monotonic()
        assert manager.wait_for_lock(key, timeout=5) is True
        assert 0.1 <= time.monotonic() - started < 2
        releaser.join()

    def test_wait_for_lock_returns_when_the_lock_expires(self, manager, key):
        manager.acquire_lock(key, "alice", hold_timeout=0.2)
        assert manager.wait_for_lock(key) is True
        assert not manager.is_locked(key)

    def test_waiting_acquire_gets_the_lock_when_released(self, manager, key):
        manager.acquire_lock(key, "alice")
        threading.Timer(0.2, manager.release_lock, args=(key, "alice")).start()
        assert manager.acquire_lock(key, "bob", acquire_timeout=5) is True
        assert manager.is_lock_holder(key, "bob")
        manager.release_lock(key, "bob")

    def test_async_variants(self, manager, key):
        async def scenario() -> None:
            assert await manager.aacquire_lock(key, "alice", hold_timeout=5)
            assert await manager.aacquire_lock(key, "bob", acquire_timeout=0.1) is False
            assert await manager.await_for_lock(key, timeout=0.1) is False
            loop = asyncio.get_running_loop()
            loop.call_later(0.1, manager.release_lock, key, "alice")
            assert await manager.await_for_lock(key, timeout=5) is True
            assert await manager.aacquire_lock(key, "bob", acquire_timeout=0)
            async with manager.alock(f"{key}-ctx", "carol") as holder:
                assert manager.is_lock_holder(f"{key}-ctx", holder)
            assert not manager.is_locked(f"{key}-ctx")
            manager.release_lock(key, "bob")

        asyncio.run(scenario())

    def test_lock_context_manager_releases_on_error(self, manager, key):
        with pytest.raises(RuntimeError), manager.lock(key, "alice"):
            assert manager.is_lock_holder(key, "alice")
            raise RuntimeError("task failed")
        assert not manager.is_locked(key)
        manager.acquire_lock(key, "bob")
        with (
            pytest.raises(LockError, match="could not acquire"),
            manager.lock(key, "alice", acquire_timeout=0),
        ):
            pass
        manager.release_lock(key, "bob")

    def test_threads_racing_for_one_key_produce_one_winner(self, manager, key):
        barrier = threading.Barrier(8)
        results: dict[str, bool] = {}

        def contend(holder: str) -> None:
            barrier.wait()
            results[holder] = manager.acquire_lock(key, holder, acquire_timeout=0)

        threads = [threading.Thread(target=contend, args=(f"thread-{index}",)) for index in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [holder for holder, won in results.items() if won]
        assert len(winners) == 1
        assert manager.is_lock_holder(key, winners[0])
        manager.release_lock(key, winners[0])

    def test_bad_timeouts_are_refused(self, manager, key):
        with pytest.raises(LockError, match="positive"):
            manager.acquire_lock(key, "alice", hold_timeout=0)
        with pytest.raises(LockError, match="negative"):
            manager.acquire_lock(key, "alice", acquire_timeout=-1)


def test_default_holder_names_host_process_and_thread():
    holder = default_holder()
    host, pid, thread_id, thread_name = holder.split(":", 3)
    assert host == socket.gethostname()
    assert pid == str(os.getpid())
    assert thread_id == str(threading.get_ident())
    assert thread_name == threading.current_thread().name
    other: list[str] = []
    worker = threading.Thread(target=lambda: other.append(default_holder()))
    worker.start()
    worker.join()
    assert other[0] != holder


def test_the_memory_manager_is_one_per_process(key):
    first = MemoryLockManager()
    first.acquire_lock(key, "alice")
    second = MemoryLockManager()
    assert second is first
    assert second.is_lock_holder(key, "alice")
    second.release_lock(key, "alice")


# --------------------------------------------------------------------------------------------------
# Lock files in Prefect's format

PREFECT_EXPIRATION = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?\+00:00")


class TestFileSystemLockManager:
    def test_lock_files_are_written_as_prefect_writes_them(self, tmp_path):
        manager = FileSystemLockManager(tmp_path)
        manager.acquire_lock("abc123", "host:1:2:MainThread")
        path = tmp_path / "abc123.lock"
        assert path.read_bytes() == b'{"holder":"host:1:2:MainThread","expiration":null}'
        manager.release_lock("abc123", "host:1:2:MainThread")
        assert not path.exists()

    def test_hold_timeouts_are_written_as_utc_datetimes(self, tmp_path):
        manager = FileSystemLockManager(tmp_path)
        before = datetime.now(UTC)
        manager.acquire_lock("timed", "holder-ü", hold_timeout=60)
        document = json.loads((tmp_path / "timed.lock").read_text(encoding="utf-8"))
        assert list(document) == ["holder", "expiration"]
        assert document["holder"] == "holder-ü"
        assert PREFECT_EXPIRATION.fullmatch(document["expiration"])
        expiration = datetime.fromisoformat(document["expiration"])
        assert before + timedelta(seconds=59) < expiration < datetime.now(UTC) + timedelta(seconds=61)

    def test_lock_paths_follow_prefects_naming(self, tmp_path):
        manager = FileSystemLockManager(tmp_path)
        assert manager.lock_path("key") == tmp_path.resolve() / "key.lock"
        assert manager.lock_path("result.json") == tmp_path.resolve() / "result.lock"
        assert manager.lock_path("flow/task") == tmp_path.resolve() / "flow" / "task.lock"
        manager.acquire_lock("flow/task", "alice")
        assert (tmp_path / "flow" / "task.lock").exists()

    @pytest.mark.parametrize("key", ["../escape", "a/../../escape", "/etc/passwd", "", "a\x00b", "a//b", "."])
    def test_keys_that_would_escape_the_directory_are_refused(self, tmp_path, key):
        manager = FileSystemLockManager(tmp_path / "locks")
        with pytest.raises(LockError):
            manager.acquire_lock(key, "alice")
        assert [path.name for path in tmp_path.rglob("*.lock")] == []

    @pytest.mark.parametrize(
        "expiration",
        ["2999-01-01 00:00:00+00:00", "2999-01-01T00:00:00.123456+00:00", "2999-01-01T00:00:00Z", None],
    )
    def test_locks_written_by_prefect_are_respected(self, tmp_path, expiration):
        (tmp_path / "shared.lock").write_bytes(
            json.dumps({"holder": "prefect-host:99:1:MainThread", "expiration": expiration}).encode()
        )
        manager = FileSystemLockManager(tmp_path)
        assert manager.is_locked("shared")
        assert manager.is_lock_holder("shared", "prefect-host:99:1:MainThread")
        assert manager.acquire_lock("shared", "resultdeck", acquire_timeout=0) is False
        manager.release_lock("shared", "prefect-host:99:1:MainThread")
        assert not (tmp_path / "shared.lock").exists()

    def test_an_expired_prefect_lock_is_taken_over(self, tmp_path):
        past = str(datetime.now(UTC) - timedelta(minutes=1))
        (tmp_path / "old.lock").write_bytes(json.dumps({"holder": "gone", "expiration": past}).encode())
        manager = FileSystemLockManager(tmp_path)
        assert not manager.is_locked("old")
        assert manager.acquire_lock("old", "resultdeck", acquire_timeout=0)
        assert json.loads((tmp_path / "old.lock").read_bytes())["holder"] == "resultdeck"

    def test_a_lock_file_being_written_counts_as_held_until_its_grace_period_ends(self, tmp_path):
        manager = FileSystemLockManager(tmp_path)
        empty = tmp_path / "half.lock"
        empty.write_bytes(b"")
        assert manager.is_locked("half")
        assert manager.acquire_lock("half", "alice", acquire_timeout=0) is False
        old = time.time() - EMPTY_LOCK_FILE_GRACE_SECONDS - 1
        os.utime(empty, (old, old))
        assert not manager.is_locked("half")
        assert manager.acquire_lock("half", "alice", acquire_timeout=0)

    def test_a_corrupt_lock_file_is_reported(self, tmp_path):
        (tmp_path / "bad.lock").write_bytes(b"{not json")
        manager = FileSystemLockManager(tmp_path)
        with pytest.raises(LockError, match="not a valid lock file"):
            manager.is_locked("bad")

    def test_expiration_parsing_accepts_prefects_forms(self):
        expected = datetime(2030, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)
        assert lock_file_expiration_parse("2030-01-02 03:04:05.600000+00:00") == expected
        assert lock_file_expiration_parse("2030-01-02T03:04:05.6Z") == expected
        assert lock_file_expiration_parse(None) is None


# --------------------------------------------------------------------------------------------------
# Redis


class TestRedisLockManager:
    def test_locks_are_keys_with_the_prefix_holding_the_holder(self, redis_manager, redis_url, redis_prefix):
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        redis_manager.acquire_lock("k", "alice", hold_timeout=10)
        assert client.get(f"{redis_prefix}k") == "alice"
        assert 9000 < client.pttl(f"{redis_prefix}k") <= 10000
        redis_manager.acquire_lock("forever", "alice")
        assert client.pttl(f"{redis_prefix}forever") == -1
        client.close()

    def test_release_never_deletes_a_lock_taken_over_by_someone_else(
        self, redis_manager, redis_url, redis_prefix
    ):
        redis_manager.acquire_lock("k", "alice", hold_timeout=0.1)
        time.sleep(0.2)
        assert redis_manager.acquire_lock("k", "bob", acquire_timeout=0)
        with pytest.raises(LockError, match="held by 'bob'"):
            redis_manager.release_lock("k", "alice")
        assert redis_manager.is_lock_holder("k", "bob")

    def test_an_unreachable_redis_raises_a_connection_error(self):
        manager = RedisLockManager("redis://127.0.0.1:1/0", socket_timeout=1)
        with pytest.raises(redis.ConnectionError):
            manager.acquire_lock("k", "alice", acquire_timeout=0)


# --------------------------------------------------------------------------------------------------
# Processes racing


def _manager_build(kind: str, location: str) -> LockManager:
    if kind == "filesystem":
        manager: LockManager = FileSystemLockManager(Path(location))
    else:
        url, prefix = location.split("|", 1)
        manager = RedisLockManager(url, key_prefix=prefix)
    manager.poll_interval = 0.002
    return manager


def _race(kind: str, location: str, keys: list[str], holder: str, barrier, results) -> None:
    manager = _manager_build(kind, location)
    for key in keys:
        barrier.wait(timeout=30)
        results.put((key, holder, manager.acquire_lock(key, holder, acquire_timeout=0)))


def _increment_under_lock(kind: str, location: str, counter: str, holder: str, rounds: int) -> None:
    manager = _manager_build(kind, location)
    for _ in range(rounds):
        assert manager.acquire_lock("counter", holder, acquire_timeout=30)
        value = int(Path(counter).read_text())
        time.sleep(0.001)  # widen the window a missing lock would let another process into
        Path(counter).write_text(str(value + 1))
        manager.release_lock("counter", holder)


def _location(kind: str, tmp_path: Path, redis_url: str, redis_prefix: str) -> str:
    return str(tmp_path / "locks") if kind == "filesystem" else f"{redis_url}|{redis_prefix}"


@pytest.mark.parametrize("kind", ["filesystem", "redis"])
class TestProcessesRacing:
    PROCESSES = 4

    def _run_race(self, kind: str, location: str, keys: list[str]) -> dict[str, list[str]]:
        context = multiprocessing.get_context("fork")
        barrier = context.Barrier(self.PROCESSES)
        results = context.Queue()
        processes = [
            context.Process(target=_race, args=(kind, location, keys, f"process-{index}", barrier, results))
            for index in range(self.PROCESSES)
        ]
        for process in processes:
            process.start()
        outcomes = [results.get(timeout=60) for _ in range(len(keys) * self.PROCESSES)]
        for process in processes:
            process.join(timeout=30)
            assert process.exitcode == 0
        winners: dict[str, list[str]] = {key: [] for key in keys}
        for key, holder, won in outcomes:
            if won:
                winners[key].append(holder)
        return winners

    def test_exactly_one_process_wins_each_free_key(self, kind, tmp_path, redis_url, redis_prefix):
        location = _location(kind, tmp_path, redis_url, redis_prefix)
        keys = [f"race-{index}" for index in range(25)]
        winners = self._run_race(kind, location, keys)
        assert {key: len(holders) for key, holders in winners.items()} == dict.fromkeys(keys, 1)
        manager = _manager_build(kind, location)
        for key, holders in winners.items():
            assert manager.is_lock_holder(key, holders[0])

    def test_exactly_one_process_takes_over_each_expired_key(self, kind, tmp_path, redis_url, redis_prefix):
        location = _location(kind, tmp_path, redis_url, redis_prefix)
        keys = [f"expired-{index}" for index in range(25)]
        manager = _manager_build(kind, location)
        for key in keys:
            assert manager.acquire_lock(key, "crashed-worker", hold_timeout=0.05)
        time.sleep(0.1)
        winners = self._run_race(kind, location, keys)
        assert {key: len(holders) for key, holders in winners.items()} == dict.fromkeys(keys, 1)

    def test_a_lock_excludes_other_processes_from_a_read_modify_write(
        self, kind, tmp_path, redis_url, redis_prefix
    ):
        location = _location(kind, tmp_path, redis_url, redis_prefix)
        counter = tmp_path / "counter"
        counter.write_text("0")
        context = multiprocessing.get_context("fork")
        processes = [
            context.Process(
                target=_increment_under_lock, args=(kind, location, str(counter), f"p{index}", 15)
            )
            for index in range(3)
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=60)
            assert process.exitcode == 0
        assert counter.read_text() == "45"
