"""Cache keys: a persisted, unexpired result under the key is reused (Cached, no re-run);
cache_expiration sets the record's expiration; refresh_cache runs anyway; concurrent runs with
one key compute once under a lock."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from apps.flows import flow, task, task_input_hash
from apps.flows.models import TaskRun
from apps.results.models import ResultReference
from apps.results.store import ResultStore

pytestmark = pytest.mark.django_db


def test_a_cached_result_is_reused_without_running_the_task(storage):
    calls = []

    @task(cache_key_fn=lambda context, parameters: f"square-{parameters['x']}")
    def square(x):
        calls.append(x)
        return x * x

    @flow(result_storage=storage.filesystem, persist_result=False)
    def pipeline(x: int):
        return square(x, return_state=True).name, square(x)

    # A cache hit is Completed under the name Cached, as in Prefect 3; its run record says CACHED.
    assert pipeline(3) == ("Completed", 9)
    assert pipeline(3) == ("Cached", 9)
    assert calls == [3]
    states = list(TaskRun.objects.order_by("created").values_list("state", flat=True))
    assert states == ["COMPLETED", "CACHED", "CACHED", "CACHED"]
    # The file is named by the cache key, and one reference row serves every cached run.
    assert storage.keys() == {"square-3"}
    assert ResultReference.objects.filter(key="square-3").count() == 1
    assert {run.result_id for run in TaskRun.objects.all()} == {
        ResultReference.objects.get(key="square-3").pk
    }
    assert TaskRun.objects.filter(cache_key="square-3").count() == 4


def test_task_input_hash_caches_by_arguments(storage):
    calls = []

    @task(cache_key_fn=task_input_hash)
    def fetch(city: str):
        calls.append(city)
        return {"city": city}

    @flow(result_storage=storage.filesystem, persist_result=False)
    def pipeline():
        return [fetch("Oslo"), fetch("Lima"), fetch("Oslo")]

    assert pipeline() == [{"city": "Oslo"}, {"city": "Lima"}, {"city": "Oslo"}]
    assert calls == ["Oslo", "Lima"]
    assert len(storage.keys()) == 2


def test_cache_expiration_is_written_to_the_record_and_an_expired_result_is_recomputed(default_storage):
    calls = []

    @task(cache_key_fn=lambda c, p: "short-lived", cache_expiration=dt.timedelta(seconds=1))
    def compute():
        calls.append(1)
        return len(calls)

    @flow
    def pipeline():
        return compute()

    before = dt.datetime.now(dt.UTC)
    assert pipeline() == 1
    reference = ResultReference.objects.get(key="short-lived")
    assert (
        before + dt.timedelta(seconds=1)
        <= reference.expiration
        <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    )
    record = ResultStore(result_storage=default_storage.filesystem).read("short-lived")
    assert record.metadata.expiration is not None
    assert pipeline() == 1  # still fresh
    time.sleep(1.1)
    assert pipeline() == 2  # expired: computed again, same key, same reference row updated
    assert ResultReference.objects.filter(key="short-lived").count() == 1


def test_refresh_cache_runs_the_task_and_overwrites_the_cached_result(default_storage):
    calls = []

    @task(cache_key_fn=lambda c, p: "refreshable")
    def compute():
        calls.append(1)
        return len(calls)

    refreshing = compute.with_options(refresh_cache=True)

    @flow
    def pipeline(refresh: bool):
        return refreshing() if refresh else compute()

    assert pipeline(False) == 1
    assert pipeline(True) == 2
    assert pipeline(False) == 2


def test_a_cache_key_fn_returning_none_means_no_caching(default_storage):
    calls = []

    @task(cache_key_fn=lambda c, p: None)
    def compute():
        calls.append(1)
        return "value"

    @flow
    def pipeline():
        compute()
        compute()

    pipeline()
    assert len(calls) == 2


def test_concurrent_runs_with_one_key_compute_once(default_storage):
    calls = []
    guard = threading.Lock()

    @task(cache_key_fn=lambda c, p: "shared-key")
    def expensive(i):
        with guard:
            calls.append(i)
        time.sleep(0.3)
        return "computed once"

    @flow
    def pipeline():
        return expensive.map(range(6)).result()

    assert pipeline() == ["computed once"] * 6
    assert len(calls) == 1
    assert sorted(TaskRun.objects.values_list("state", flat=True)) == ["CACHED"] * 5 + ["COMPLETED"]


def test_concurrent_runs_with_redis_locks_compute_once(default_storage, redis_url, monkeypatch):
    from apps.results.locking import RedisLockManager
    from apps.results.resolve import lock_manager_default, lock_managers_clear

    monkeypatch.setenv("REDIS_URL", redis_url)
    lock_managers_clear()
    calls = []

    @task(cache_key_fn=lambda c, p: f"redis-shared-{id(calls)}")
    def expensive(i):
        calls.append(i)
        time.sleep(0.2)
        return i

    @flow
    def pipeline():
        return expensive.map(range(4)).result()

    results = pipeline()
    assert len(calls) == 1 and len(set(results)) == 1
    assert isinstance(lock_manager_default(), RedisLockManager)
