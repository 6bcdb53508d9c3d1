"""Run records written in bulk: multi-row INSERTs, reserved ids, and the one-statement end of a run
store the same values the ORM would."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import connection

from apps.core.bulk import (
    ids_reserve,
    insert_statement,
    instance_from_row,
    returning_columns,
    rows_insert,
    statements_run_as_one,
    update_statement,
)
from apps.flows.models import FlowRun, StateType, TaskRun
from apps.results.models import ResultReference

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)


def a_flow_run(**fields) -> FlowRun:
    values = {
        "id": uuid.uuid4(),
        "name": "f-1",
        "flow_name": "f",
        "parameters": {"n": 1, "nested": {"a": [1, None]}},
        "state": StateType.RUNNING,
        "state_history": [{"state": "RUNNING", "message": "é"}],
        "created": NOW,
    }
    return FlowRun(**{**values, **fields})


def test_one_statement_writes_references_task_runs_and_the_flow_runs_end():
    flow_run = a_flow_run()
    rows_insert(FlowRun, [flow_run])
    reference = ResultReference(
        storage_location="/tmp/x", key="k1", serializer_type="pickle", serializer_config={"type": "pickle"}
    )
    literal = ResultReference(layout="literal", is_literal=True, literal_value=True, size_bytes=0)
    reference.pk, literal.pk = ids_reserve(ResultReference, 2, connection=connection)
    task_run = TaskRun(
        id=uuid.uuid4(),
        flow_run_id=flow_run.pk,
        name="t-1",
        task_name="t",
        state="COMPLETED",
        state_history=[],
        parameters={"x": "y"},
        created=NOW,
        start_time=NOW,
        end_time=NOW,
        run_count=1,
        result_id=reference.pk,
    )
    statements_run_as_one(
        [
            insert_statement(ResultReference, [reference, literal], connection=connection),
            insert_statement(TaskRun, [task_run], connection=connection),
            update_statement(
                FlowRun,
                flow_run.pk,
                {"state": "COMPLETED", "end_time": NOW, "result_id": literal.pk, "celery_task_id": "m"},
                connection=connection,
            ),
        ],
        connection=connection,
    )
    stored = FlowRun.objects.select_related("result").get(pk=flow_run.pk)
    assert stored.state == "COMPLETED" and stored.end_time == NOW and stored.celery_task_id == "m"
    assert stored.result.is_literal and stored.result.literal_value is True
    assert stored.parameters == flow_run.parameters and stored.state_history == flow_run.state_history
    stored_task = TaskRun.objects.select_related("result").get(pk=task_run.pk)
    assert stored_task.parameters == {"x": "y"} and stored_task.start_time == NOW
    assert stored_task.result.key == "k1" and stored_task.result.serializer_config == {"type": "pickle"}
    assert stored_task.result.created is not None  # model defaults are filled in


def test_reserved_ids_are_distinct_and_unused():
    first = ids_reserve(ResultReference, 3, connection=connection)
    second = ids_reserve(ResultReference, 300, connection=connection)
    assert len(set(first + second)) == 303
    saved = ResultReference.objects.create(storage_location="/tmp/y", key="k2")
    assert saved.pk not in first + second


def test_a_returned_row_becomes_the_same_instance_the_orm_loads():
    flow_run = a_flow_run(start_time=NOW)
    rows_insert(FlowRun, [flow_run])
    with connection.cursor() as cursor:
        columns = returning_columns(FlowRun, connection=connection)
        cursor.execute(f"SELECT {columns} FROM flows_flowrun WHERE id = %s", [flow_run.pk])  # noqa: S608
        loaded = instance_from_row(FlowRun, cursor.fetchone(), connection=connection)
    expected = FlowRun.objects.get(pk=flow_run.pk)
    for field in FlowRun._meta.concrete_fields:
        assert getattr(loaded, field.attname) == getattr(expected, field.attname), field.name
    assert not loaded._state.adding


def test_an_insert_needs_primary_keys():
    with pytest.raises(ValueError, match="primary keys"):
        insert_statement(ResultReference, [ResultReference(key="k")], connection=connection)


def sqlite_connection():
    from django.db.backends.sqlite3.base import DatabaseWrapper

    return DatabaseWrapper({**connection.settings_dict, "NAME": ":memory:"}, alias="parity-sqlite")


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
def test_fast_adaptation_gives_what_the_fields_give(database):
    from apps.core.bulk import adaptation_plan, rows_params

    target = connection if database == "postgresql" else sqlite_connection()
    assert target.vendor == database
    objects = [
        TaskRun(
            id=uuid.uuid4(),
            flow_run_id=uuid.uuid4(),
            name="t-1",
            task_name="t",
            state=StateType.COMPLETED,  # an enum member goes through the field
            state_history=[{"state": "RUNNING"}],
            parameters={"x": [1, None]},
            created=NOW,
            start_time=NOW.astimezone(dt.timezone(dt.timedelta(hours=2))),
            end_time=None,
            run_count=2,
            result_id=7,
        ),
        ResultReference(
            id=9, storage_location="/s", key="k", is_literal=True, literal_value=False, expiration=NOW
        ),
    ]
    for obj in objects:
        model = type(obj)
        fields = model._meta.concrete_fields
        fast = rows_params(adaptation_plan(model, target), [obj], connection=target)
        expected = [field.get_db_prep_save(getattr(obj, field.attname), target) for field in fields]
        for field, got, want in zip(fields, fast, expected, strict=True):
            if field.get_internal_type() == "JSONField":
                assert repr(got) == repr(want), field.name
            else:
                assert got == want and type(got) is type(want), field.name


def test_a_fast_new_instance_equals_the_orms_and_saves():
    from apps.results.references import model_instance_new

    values = {"id": uuid.uuid4(), "name": "t-1", "task_name": "t", "created": NOW, "result_id": None}
    fast = model_instance_new(TaskRun, **values)
    slow = TaskRun(**values)
    for field in TaskRun._meta.concrete_fields:
        assert getattr(fast, field.attname) == getattr(slow, field.attname), field.name
    assert fast.state_history == [] and fast.state_history is not model_instance_new(TaskRun).state_history
    reference = model_instance_new(ResultReference, key="k3", storage_location="/tmp/z")
    reference.save()
    assert ResultReference.objects.get(pk=reference.pk).key == "k3"
    with pytest.raises(TypeError, match="no fields named colour"):
        model_instance_new(TaskRun, colour="red")


def test_run_records_skip_debugs_query_log_unless_queries_are_captured(settings):
    from django.db import reset_queries
    from django.test.utils import CaptureQueriesContext

    from apps.flows import flow, task

    @task
    def square(i):
        return i * i

    @flow
    def squares():
        return [square(i) for i in range(20)]

    settings.DEBUG = True
    reset_queries()
    assert squares() == [i * i for i in range(20)]
    assert TaskRun.objects.count() == 20
    assert not any('INSERT INTO "flows_taskrun"' in query["sql"] for query in connection.queries)
    with CaptureQueriesContext(connection) as captured:
        squares()
    assert any('INSERT INTO "flows_taskrun"' in query["sql"] for query in captured.captured_queries)
