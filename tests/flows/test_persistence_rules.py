"""Every row of DESIGN.md's persistence table, on local storage and on S3: which results are
written, where, with which serializer, and which are literals kept in the database."""

from __future__ import annotations

import pytest

from apps.blocks.filesystems import LocalFileSystem
from apps.flows import flow, task
from apps.flows.models import FlowRun, TaskRun
from apps.flows.rules import PersistenceDisabledError
from apps.results.models import ResultReference
from apps.results.store import ResultStore
from tests.flows.conftest import path_keys

pytestmark = pytest.mark.django_db


def task_run(name: str) -> TaskRun:
    return TaskRun.objects.select_related("result").get(task_name=name)


def flow_run(name: str) -> FlowRun:
    return FlowRun.objects.select_related("result").get(flow_name=name)


def stored_value(storage, reference: ResultReference):
    return ResultStore(result_storage=storage.filesystem).read(reference.key).result


# -- persist_result=True ------------------------------------------------------------------------


def test_task_persist_true_is_always_written_to_the_flow_storage(storage):
    @task(persist_result=True)
    def plain():
        return {"rows": 3}

    @flow(result_storage=storage.filesystem, persist_result=False)
    def pipeline():
        plain()

    pipeline()
    reference = task_run("plain").result
    assert reference is not None and not reference.is_literal
    assert storage.keys() == {reference.key}
    assert stored_value(storage, reference) == {"rows": 3}
    assert flow_run("pipeline").result is None


def test_flow_persist_true_writes_its_result_and_makes_its_tasks_persist(storage):
    @task
    def inner():
        return "inner value"

    @flow(persist_result=True, result_storage=storage.filesystem)
    def pipeline():
        inner()
        return "flow value"

    pipeline()
    flow_reference, task_reference = flow_run("pipeline").result, task_run("inner").result
    assert storage.keys() == {flow_reference.key, task_reference.key}
    assert stored_value(storage, flow_reference) == "flow value"
    assert stored_value(storage, task_reference) == "inner value"


# -- persist_result=False -----------------------------------------------------------------------


def test_task_persist_false_is_never_written_even_with_retries_or_a_persisting_flow(storage):
    @task(persist_result=False, retries=2)
    def not_kept():
        return "secret"

    @flow(persist_result=True, result_storage=storage.filesystem)
    def pipeline():
        return not_kept()

    assert pipeline() == "secret"
    assert task_run("not_kept").result is None
    assert storage.keys() == {flow_run("pipeline").result.key}


def test_task_persist_false_with_retries_fails_clearly_at_the_retry_attempt(storage):
    @task(persist_result=False, retries=3)
    def fragile():
        raise ValueError("boom")

    @flow(result_storage=storage.filesystem)
    def pipeline():
        fragile()

    with pytest.raises(PersistenceDisabledError, match=r"retries=3 but persist_result=False"):
        pipeline()
    run = task_run("fragile")
    assert run.state == "FAILED" and run.run_count == 1
    assert "cannot be retried" in run.state_message


def test_task_persist_false_with_a_cache_key_fails_clearly(storage):
    @task(persist_result=False, cache_key_fn=lambda context, parameters: "fixed-key")
    def cached():
        return 1

    @flow(result_storage=storage.filesystem)
    def pipeline():
        cached()

    with pytest.raises(PersistenceDisabledError, match="cache key"):
        pipeline()
    # Nothing of the task is stored; the failed flow keeps its exception, as Prefect writes it.
    assert storage.keys() == {flow_run("pipeline").result.key}
    assert task_run("cached").state == "FAILED"


def test_flow_persist_false_is_never_written_even_with_storage_set(storage):
    @flow(persist_result=False, result_storage=storage.filesystem, result_serializer="json")
    def pipeline():
        return "nothing kept"

    assert pipeline() == "nothing kept"
    assert flow_run("pipeline").result is None
    assert storage.keys() == set()


def test_flow_persist_false_with_retries_fails_clearly_on_retry(storage):
    @flow(persist_result=False, retries=1, result_storage=storage.filesystem)
    def pipeline():
        raise RuntimeError("upstream down")

    with pytest.raises(PersistenceDisabledError, match="cannot be retried"):
        pipeline()
    assert flow_run("pipeline").state == "FAILED"


# -- persist_result=None, tasks -------------------------------------------------------------------


@pytest.mark.parametrize("feature", ["cache_key_fn", "retries"])
def test_task_default_persists_when_a_feature_needs_it(storage, feature):
    options = (
        {"cache_key_fn": lambda c, p: "k-" + storage.kind} if feature == "cache_key_fn" else {"retries": 1}
    )

    @task(**options)
    def needs_it():
        return [1, 2, 3]

    @task
    def does_not():
        return [4, 5, 6]

    @flow(result_storage=storage.filesystem, persist_result=False)
    def pipeline():
        needs_it()
        does_not()

    pipeline()
    assert task_run("does_not").result is None
    reference = task_run("needs_it").result
    assert storage.keys() == {reference.key}
    assert stored_value(storage, reference) == [1, 2, 3]


def test_task_default_persists_when_the_setting_says_so(storage, result_settings):
    result_settings.RESULTS_PERSIST_BY_DEFAULT = True

    @task
    def plain():
        return "kept by the setting"

    @flow(result_storage=storage.filesystem, persist_result=False)
    def pipeline():
        plain()

    pipeline()
    reference = task_run("plain").result
    assert storage.keys() == {reference.key}


def test_task_default_is_not_persisted_when_the_flow_only_infers_persistence(storage):
    """The quiz's first task: a flow persisting because it sets result_storage does not make tasks persist."""

    @task
    def plain():
        return "not kept"

    @flow(result_storage=storage.filesystem)
    def pipeline():
        plain()
        return "kept"

    pipeline()
    assert task_run("plain").result is None
    assert storage.keys() == {flow_run("pipeline").result.key}


# -- persist_result=None, flows -------------------------------------------------------------------


@pytest.mark.parametrize("option", ["retries", "result_storage", "result_serializer", "setting", "nothing"])
def test_flow_default_persists_for_retries_storage_serializer_or_the_setting(
    storage, default_storage, result_settings, option
):
    options = {
        "retries": {"retries": 1},
        "result_storage": {"result_storage": storage.filesystem},
        "result_serializer": {"result_serializer": "json"},
        "setting": {},
        "nothing": {},
    }[option]
    if option == "setting":
        result_settings.RESULTS_PERSIST_BY_DEFAULT = True

    @flow(**options)
    def pipeline():
        return {"answer": 42}

    pipeline()
    reference = flow_run("pipeline").result
    if option == "nothing":
        assert reference is None
        assert default_storage.keys() == set() and storage.keys() == set()
        return
    where = storage if option == "result_storage" else default_storage
    assert where.keys() == {reference.key}
    assert stored_value(where, reference) == {"answer": 42}
    assert reference.serializer_type == ("json" if option == "result_serializer" else "pickle")


# -- storage and serializer inheritance -----------------------------------------------------------


def test_task_inherits_storage_and_serializer_from_its_flow(storage):
    @task(persist_result=True)
    def inherits():
        return {"a": 1}

    @flow(result_storage=storage.filesystem, result_serializer="json", persist_result=False)
    def pipeline():
        inherits()

    pipeline()
    reference = task_run("inherits").result
    assert reference.serializer_type == "json"
    assert storage.keys() == {reference.key}
    raw = storage.filesystem.read_path(reference.key)
    assert b'"type":"json"' in raw.replace(b" ", b"")


def test_task_own_storage_and_serializer_win_over_the_flow(storage, other_storage):
    @task(persist_result=True, result_storage=other_storage.filesystem, result_serializer="compressed/pickle")
    def own():
        return "mine"

    @flow(persist_result=True, result_storage=storage.filesystem, result_serializer="json")
    def pipeline():
        own()
        return "flow's"

    pipeline()
    task_reference, flow_reference = task_run("own").result, flow_run("pipeline").result
    assert other_storage.keys() == {task_reference.key}
    assert storage.keys() == {flow_reference.key}
    assert task_reference.serializer_type == "compressed/pickle"
    assert flow_reference.serializer_type == "json"


def test_task_without_a_flow_uses_the_local_storage_setting_then_the_default_serializer(
    default_storage, result_settings
):
    result_settings.RESULTS_DEFAULT_SERIALIZER = "json"

    @task(persist_result=True)
    def alone():
        return {"alone": True}

    assert alone() == {"alone": True}
    reference = task_run("alone").result
    assert reference.serializer_type == "json"
    assert default_storage.keys() == {reference.key}


def test_without_a_local_storage_path_results_go_to_dot_results_in_the_working_directory(
    result_settings, tmp_path, monkeypatch
):
    result_settings.RESULTS_LOCAL_STORAGE_PATH = ""
    monkeypatch.chdir(tmp_path)

    @flow(persist_result=True)
    def pipeline():
        return "here"

    pipeline()
    reference = flow_run("pipeline").result
    assert (tmp_path / ".results" / reference.key).is_file()


def test_default_storage_block_setting_wins_over_the_local_path(
    result_settings, s3_settings, s3_bucket, default_storage
):
    from apps.blocks.services import block_save
    from tests.flows.conftest import s3_filesystem

    block = block_save(s3_filesystem(s3_settings, s3_bucket, prefix="by-block"), name="defaults")
    result_settings.RESULTS_DEFAULT_STORAGE_BLOCK = "s3/defaults"

    @flow(persist_result=True)
    def pipeline():
        return "in the block"

    pipeline()
    reference = flow_run("pipeline").result
    assert reference.block_id == block.pk
    assert reference.storage_location == f"s3://{s3_bucket}/by-block"
    assert default_storage.keys() == set()
    assert (
        s3_filesystem(s3_settings, s3_bucket, prefix="by-block")
        .read_path(reference.key)
        .startswith(b'{"metadata"')
    )


def test_a_configured_default_storage_block_turns_persistence_on(result_settings, tmp_path):
    from apps.blocks.services import block_save

    block_save(LocalFileSystem(basepath=tmp_path / "block"), name="results-here")
    result_settings.RESULTS_DEFAULT_STORAGE_BLOCK = "local-file-system/results-here"

    @task
    def inner():
        return "task value"

    @flow
    def pipeline():
        return inner()

    assert pipeline() == "task value"
    # As in Prefect 3.9.1: naming a default block for results says they are wanted there.
    flow_reference, task_reference = flow_run("pipeline").result, task_run("inner").result
    assert {flow_reference.key, task_reference.key} == path_keys(tmp_path / "block")


def test_a_failed_flow_writes_its_exception_even_with_persist_result_false(default_storage):
    @flow(persist_result=False)
    def broken():
        raise KeyError("gone")

    state = broken(return_state=True)
    assert isinstance(state.result(raise_on_failure=False), KeyError)
    reference = flow_run("broken").result
    assert default_storage.keys() == {reference.key}
    assert isinstance(
        ResultStore(result_storage=default_storage.filesystem).read(reference.key).result, KeyError
    )


# -- literals -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, True, False])
def test_literal_results_are_stored_in_the_database_with_no_file(storage, value):
    @task(persist_result=True)
    def literal():
        return value

    @flow(persist_result=True, result_storage=storage.filesystem)
    def pipeline():
        literal()
        return value

    assert pipeline() is value
    for reference in (task_run("literal").result, flow_run("pipeline").result):
        assert reference.is_literal and reference.literal_value is value
        assert reference.key == "" and reference.size_bytes == 0
    assert storage.keys() == set()


def test_a_persisted_reference_records_block_key_serializer_size_and_type(storage):
    @flow(persist_result=True, result_storage=storage.filesystem)
    def pipeline():
        return {"numbers": list(range(100))}

    pipeline()
    reference = flow_run("pipeline").result
    assert reference.layout == "v3-record"
    assert reference.value_type == "dict"
    assert reference.size_bytes == storage.filesystem.size(reference.key) > 100
    assert reference.serializer_config["type"] == "pickle"
    assert reference.storage_location == (
        str(storage.filesystem.root) if storage.kind == "local" else storage.filesystem.basepath
    )


def test_data_passes_between_tasks_in_memory_without_persistence(default_storage):
    @task
    def produce():
        return object()

    @task
    def consume(value):
        return type(value).__name__

    @flow
    def pipeline():
        return consume(produce())

    assert pipeline() == "object"
    assert default_storage.keys() == set()
    assert not ResultReference.objects.exists()


# -- the seed guide's quiz and Q1-Q3 --------------------------------------------------------------


@pytest.fixture
def seed_storage(storage, s3_settings, request):
    """The seed flows name blocks (s3/dev, s3/prod); on S3 those blocks are saved, locally the flow's
    storage is swapped for a directory with .with_options()."""
    if storage.kind == "s3":
        from apps.blocks.services import block_save

        for name in ("dev", "prod"):
            block_save(storage.filesystem, name=name)
    return storage


def seed_flow(module_flow, storage):
    if storage.kind == "s3":
        return module_flow
    return module_flow.with_options(result_storage=storage.filesystem)


def test_quiz_only_extract_number_and_the_flow_result_are_persisted(seed_storage):
    from examples import seed_quiz

    assert seed_flow(seed_quiz.my_flow, seed_storage)() == "Welcome, Marvin to the Club 42! 👋"
    user, number, transform = task_run("extract_user"), task_run("extract_number"), task_run("transform")
    assert user.result is None  # no feature needs it
    assert transform.result is None  # persistence disabled
    assert number.result is not None and not number.result.is_literal  # retries need it
    final = FlowRun.objects.get().result
    assert seed_storage.keys() == {number.result.key, final.key}
    assert stored_value(seed_storage, number.result) == 42
    assert stored_value(seed_storage, final) == "Welcome, Marvin to the Club 42! 👋"
    if seed_storage.kind == "s3":
        assert final.block is not None and final.block.slug == "s3/dev"


def test_q1_the_task_persists_to_the_flow_storage_because_the_flow_sets_persist_result(seed_storage):
    from examples import seed_q1

    seed_flow(seed_q1.my_flow, seed_storage)()
    reference = task_run("my_task").result
    assert stored_value(seed_storage, reference) == "Hi! 👋"
    # The flow returns None: a literal in the database, no file.
    assert FlowRun.objects.get().result.is_literal
    assert seed_storage.keys() == {reference.key}
    if seed_storage.kind == "s3":
        assert reference.block.slug == "s3/prod"


def test_q2_the_task_is_not_persisted_and_a_retry_attempt_raises(seed_storage):
    from apps.flows.decorators import Task
    from examples import seed_q2

    seed_flow(seed_q2.my_flow, seed_storage)()
    assert task_run("my_task").result is None
    assert seed_storage.keys() == set()  # the flow's own result is None: a literal

    attempts = []

    def failing_once():
        attempts.append(1)
        raise ConnectionError("flaky")

    flaky = Task(failing_once, name="my_task_failing", persist_result=False, retries=3)

    @flow(persist_result=True, result_storage=seed_storage.filesystem)
    def my_flow():
        flaky()

    with pytest.raises(PersistenceDisabledError, match="cannot be retried"):
        my_flow()
    assert len(attempts) == 1


def test_q3_the_flow_persists_to_the_default_storage_and_the_task_does_not(default_storage):
    from examples import seed_q3

    state = seed_q3.my_flow(return_state=True)
    assert state.is_completed()
    assert task_run("my_task").result is None
    flow_reference = FlowRun.objects.get().result
    # The flow returns None, a literal: persisted (retries need it) in the database, not as a file.
    assert flow_reference is not None and flow_reference.is_literal
    assert default_storage.keys() == set()


def test_q3_with_a_value_the_flow_result_lands_in_the_default_storage(default_storage):
    from examples import seed_q3

    with_value = seed_q3.my_flow.with_options()
    with_value.fn = lambda: (seed_q3.my_task(), "done")[1]
    with_value(return_state=True)
    flow_reference = FlowRun.objects.get().result
    assert default_storage.keys() == {flow_reference.key}
    assert stored_value(default_storage, flow_reference) == "done"


def test_compressed_serializer_example_writes_both_results_compressed(default_storage):
    from examples.seed_compressed import flow_with_compressed_serializer

    assert flow_with_compressed_serializer().startswith("Hi from Results")
    task_reference = task_run("get_some_large_result").result
    flow_reference = FlowRun.objects.get().result
    assert task_reference.serializer_config["type"] == "compressed"
    assert task_reference.serializer_config["compressionlib"] == "zlib"
    assert task_reference.serializer_config["serializer"]["type"] == "pickle"
    assert flow_reference.serializer_type == "compressed/pickle"
    assert default_storage.keys() == {task_reference.key, flow_reference.key}
    assert stored_value(default_storage, task_reference) == 42


def test_s3_example_always_stores_results_in_the_demo_block(s3_settings, s3_bucket):
    from apps.blocks.services import block_save
    from examples.seed_s3 import always_store_results, foo
    from tests.flows.conftest import s3_filesystem

    demo = s3_filesystem(s3_settings, s3_bucket, prefix="demo")
    block_save(demo, name="demo")
    assert always_store_results() == "Hi from Results! 👋"
    assert foo() == "completed"
    references = [run.result for run in FlowRun.objects.select_related("result")]
    assert {info.key for info in demo.list("")} == {reference.key for reference in references}
    assert sorted(ResultStore(result_storage=demo).read(r.key).result for r in references) == [
        "Hi from Results! 👋",
        "completed",
    ]
