"""Run logs as a flow's code sees them: get_run_logger, log_prints, the standard logging calls made
inside a run, the volume limit, and lines written in batches with the run's records."""

from __future__ import annotations

import logging
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import resultdeck
from apps.flows import flow, get_run_logger, task
from apps.flows.logs import buffer
from apps.flows.logs.capture import MissingContextError
from apps.flows.models import FlowRun, RunLog, TaskRun

pytestmark = pytest.mark.django_db


def lines(run: FlowRun | None = None) -> list[tuple[str, str, str | None]]:
    """(logger, message, task name or None) of every kept line, in order."""
    queryset = RunLog.objects.all() if run is None else RunLog.objects.filter(flow_run=run)
    names = dict(TaskRun.objects.values_list("id", "task_name"))
    return [(row.logger, row.message, names.get(row.task_run_id)) for row in queryset.order_by("id")]


def test_get_run_logger_is_importable_from_the_sdk():
    assert resultdeck.get_run_logger is get_run_logger


def test_run_logger_in_a_flow_and_a_task_carries_prefect_style_names(caplog):
    @task
    def extract():
        get_run_logger().info("extracting %d rows", 3)
        return 3

    @flow(name="etl-logs")
    def etl():
        get_run_logger().warning("starting")
        return extract()

    with caplog.at_level(logging.INFO):
        assert etl() == 3
    run, task_run = FlowRun.objects.get(), TaskRun.objects.get()
    flow_record = next(r for r in caplog.records if r.getMessage() == "starting")
    task_record = next(r for r in caplog.records if r.getMessage() == "extracting 3 rows")
    assert flow_record.name == "resultdeck.flow_runs"
    assert (flow_record.flow_run_id, flow_record.flow_run_name, flow_record.flow_name) == (
        str(run.pk),
        run.name,
        "etl-logs",
    )
    assert task_record.name == "resultdeck.task_runs"
    assert (task_record.task_run_id, task_record.task_run_name, task_record.task_name) == (
        str(task_run.pk),
        task_run.name,
        "extract",
    )
    assert task_record.flow_run_id == str(run.pk)
    assert lines(run) == [
        ("resultdeck.flow_runs", "starting", None),
        ("resultdeck.task_runs", "extracting 3 rows", "extract"),
    ]
    levels = list(RunLog.objects.order_by("id").values_list("level", flat=True))
    assert levels == [logging.WARNING, logging.INFO]


def test_get_run_logger_outside_a_run_says_so():
    with pytest.raises(MissingContextError, match="no active flow or task run"):
        get_run_logger()


def test_log_prints_on_the_flow_is_inherited_by_its_tasks_unless_they_opt_out(capsys):
    @task
    def inherits():
        print("from the task")

    @task(log_prints=False)
    def opts_out():
        print("to stdout only")

    @flow(log_prints=True)
    def chatty():
        print("from", "the flow")
        inherits()
        opts_out.submit().wait()

    chatty()
    assert lines() == [
        ("resultdeck.flow_runs", "from the flow", None),
        ("resultdeck.task_runs", "from the task", "inherits"),
    ]
    assert "to stdout only" in capsys.readouterr().out


def test_log_prints_on_a_task_alone_and_prints_without_it_are_not_kept(capsys):
    @task(log_prints=True)
    def loud():
        print("kept")

    @flow
    def quiet():
        print("not kept")
        loud()

    quiet()
    assert lines() == [("resultdeck.task_runs", "kept", "loud")]
    assert "not kept" in capsys.readouterr().out
    print("outside any run")
    assert capsys.readouterr().out == "outside any run\n"


def test_standard_logging_inside_a_run_is_kept_at_or_above_the_setting(settings):
    library = logging.getLogger("some.library")

    @task
    def work():
        library.info("task info")
        try:
            raise ValueError("boom")
        except ValueError:
            library.exception("it failed")

    @flow
    def uses_logging():
        library.debug("below the level")
        library.info("flow info")
        work.submit().wait()

    library.info("outside any run")
    uses_logging()
    kept = lines()
    assert kept[:2] == [("some.library", "flow info", None), ("some.library", "task info", "work")]
    assert kept[2][0] == "some.library" and kept[2][2] == "work"
    assert kept[2][1].startswith("it failed\nTraceback") and "ValueError: boom" in kept[2][1]
    assert len(kept) == 3

    settings.RESULTDECK_RUN_LOG_LEVEL = "WARNING"
    RunLog.objects.all().delete()
    uses_logging()
    assert [message.split("\n")[0] for _, message, _ in lines()] == ["it failed"]


def test_volume_is_bounded_and_a_last_line_says_how_many_were_dropped(settings):
    settings.RESULTDECK_RUN_LOG_MAX_LINES = 5
    settings.RESULTDECK_RUN_LOG_MAX_LINE_BYTES = 64

    @flow
    def noisy():
        logger = get_run_logger()
        logger.info("é" * 100)
        for i in range(11):
            logger.info("line %d", i)

    noisy()
    rows = list(RunLog.objects.order_by("id"))
    assert len(rows) == 6
    assert rows[0].message == "é" * 32 + buffer.TRUNCATED_SUFFIX
    assert [row.message for row in rows[1:5]] == ["line 0", "line 1", "line 2", "line 3"]
    assert rows[5].dropped == 7 and rows[5].level == logging.WARNING
    assert rows[5].message.startswith("7 more log lines dropped: this run kept its first 5")


def test_logging_adds_no_query_per_line():
    @task
    def step(i, lines):
        logger = get_run_logger()
        for j in range(lines):
            logger.info("task %d line %d", i, j)

    @flow
    def many(lines: int):
        for i in range(50):
            step(i, lines)

    counts = []
    for lines in (0, 10):
        with CaptureQueriesContext(connection) as queries:
            many(lines)
        counts.append(len(queries))
    # 500 lines are one batch (COPY on PostgreSQL, one INSERT elsewhere) at the run's end.
    assert counts[1] - counts[0] <= 1
    assert RunLog.objects.count() == 500


def test_lines_are_flushed_every_n_lines_while_the_run_goes_on(monkeypatch):
    monkeypatch.setattr(buffer, "LOG_FLUSH_EVERY", 3)
    seen: list[int] = []

    @flow
    def watched():
        logger = get_run_logger()
        for i in range(7):
            logger.info("line %d", i)
            seen.append(RunLog.objects.count())

    watched()
    assert seen == [0, 0, 3, 3, 3, 6, 6]
    assert RunLog.objects.count() == 7


def test_logs_are_deleted_with_their_runs():
    @task
    def step():
        get_run_logger().info("in the task")

    @flow
    def short():
        get_run_logger().info("in the flow")
        step()

    short()
    short()
    first, second = FlowRun.objects.order_by("created")
    assert RunLog.objects.filter(flow_run=first).count() == 2
    TaskRun.objects.filter(flow_run=first).delete()
    assert lines(first) == [("resultdeck.flow_runs", "in the flow", None)]
    first.delete()
    assert not RunLog.objects.filter(flow_run=first.pk).exists()
    assert RunLog.objects.filter(flow_run=second).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_submitted_task_s_lines_are_written_while_the_flow_waits_for_it():
    from django.db import connection as task_connection

    @task
    def long_running() -> bool:
        get_run_logger().info("started")
        try:
            # Another connection than the flow's: it sees the line once the flow's thread wrote it.
            for _ in range(100):
                if RunLog.objects.filter(message="started").exists():
                    return True
                time.sleep(0.1)
            return False
        finally:
            task_connection.close()

    @flow
    def waits() -> bool:
        return long_running.submit().result()

    assert waits() is True
    assert FlowRun.objects.get().state == "COMPLETED"


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
def test_log_rows_are_adapted_as_the_fields_adapt_them(database):
    import datetime as dt
    import uuid

    from apps.flows.logs.buffer import ROW_FIELDS, log_rows_adapt
    from tests.flows.test_bulk import sqlite_connection

    target = connection if database == "postgresql" else sqlite_connection()
    now = dt.datetime.now(dt.UTC)
    rows = [
        (uuid.uuid4(), uuid.uuid4(), logging.INFO, now, "resultdeck.task_runs", "a line", 0),
        (uuid.uuid4(), None, logging.WARNING, now.astimezone(dt.timezone(dt.timedelta(hours=2))), "x", "", 3),
    ]
    fields = [RunLog._meta.get_field(name.removesuffix("_id")) for name in ROW_FIELDS]
    expected = [
        tuple(f.get_db_prep_save(v, target) for f, v in zip(fields, row, strict=True)) for row in rows
    ]
    assert log_rows_adapt(rows, connection=target) == expected
