"""Run logger lines under the usual logging set-up (the run log handler and a plain console handler):
kept and echoed as the handler chain would, with the echo written on its own thread before the run
ends; a set-up the direct path cannot reproduce (a filter, a caller field) goes through the chain."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import re
import threading

import pytest

from apps.flows import flow, get_run_logger, task
from apps.flows.logs.capture import RunLogHandler, formatter_echoable, run_logging_install
from apps.flows.models import FlowRun, RunLog, TaskRun

pytestmark = pytest.mark.django_db

PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"
STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"


class ThreadNoting(logging.Formatter):
    """Notes the thread each line is formatted on."""

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)
        self.threads: list[str] = []

    def format(self, record: logging.LogRecord) -> str:
        self.threads.append(threading.current_thread().name)
        return super().format(record)


@pytest.fixture
def console():
    """A console handler on a StringIO with the plain format."""
    run_logging_install()
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(ThreadNoting(PLAIN))
    return handler


@contextlib.contextmanager
def only(console: logging.Handler):
    """The root logger with only the run log handler and ``console`` (pytest's capture handlers,
    which would send every record through the chain, set aside meanwhile)."""
    root = logging.getLogger()
    saved, saved_level = root.handlers[:], root.level
    root.handlers = [h for h in saved if isinstance(h, RunLogHandler)] + [console]
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.handlers, root.level = saved, saved_level


@task
def step(i: int) -> int:
    logger = get_run_logger()
    logger.info("task %d: %s", i, "started")
    logger.debug("below the level")
    logger.warning("task %d done", i)
    return i


@flow(name="echoed")
def echoed() -> int:
    get_run_logger().info("flow line %d", 1)
    return step(7)


def test_lines_are_kept_with_level_time_and_task_and_echoed_before_the_run_ends(console):
    before = dt.datetime.now(dt.UTC)
    with only(console):
        assert echoed() == 7
    after = dt.datetime.now(dt.UTC)
    run, task_run = FlowRun.objects.get(), TaskRun.objects.get()
    rows = list(RunLog.objects.filter(flow_run=run).order_by("id"))
    assert [(r.logger, r.level, r.message, r.task_run_id) for r in rows] == [
        ("resultdeck.flow_runs", logging.INFO, "flow line 1", None),
        ("resultdeck.task_runs", logging.INFO, "task 7: started", task_run.pk),
        ("resultdeck.task_runs", logging.WARNING, "task 7 done", task_run.pk),
    ]
    assert all(before - dt.timedelta(seconds=1) <= r.timestamp <= after for r in rows)
    assert rows[0].timestamp <= rows[1].timestamp <= rows[2].timestamp
    echo = console.stream.getvalue().splitlines()
    assert len(echo) == 3, echo
    assert re.fullmatch(f"{STAMP} INFO resultdeck.flow_runs: flow line 1", echo[0])
    assert re.fullmatch(f"{STAMP} INFO resultdeck.task_runs: task 7: started", echo[1])
    assert re.fullmatch(f"{STAMP} WARNING resultdeck.task_runs: task 7 done", echo[2])
    # Formatted and written on the echo thread, not in the run's.
    assert console.formatter.threads[-3:] == ["run-log-echo"] * 3


def test_the_echo_names_the_run_as_a_record_s_extra_fields_would(console):
    console.setFormatter(logging.Formatter("%(levelname)s | %(flow_run_name)s | %(flow_name)s - %(message)s"))
    with only(console):
        echoed()
    run = FlowRun.objects.get()
    assert console.stream.getvalue().splitlines() == [
        f"INFO | {run.name} | echoed - flow line 1",
        f"INFO | {run.name} | echoed - task 7: started",
        f"WARNING | {run.name} | echoed - task 7 done",
    ]


def test_a_handler_level_above_a_line_s_keeps_it_from_the_console_only(console):
    console.setLevel(logging.WARNING)
    with only(console):
        echoed()
    assert RunLog.objects.count() == 3
    assert [line.split(" ", 2)[2] for line in console.stream.getvalue().splitlines()] == [
        "WARNING resultdeck.task_runs: task 7 done"
    ]


def test_a_format_naming_the_caller_and_a_filter_get_real_records(console):
    console.setFormatter(logging.Formatter("%(funcName)s:%(lineno)d %(message)s"))
    assert not formatter_echoable(console.formatter)
    assert formatter_echoable(logging.Formatter(PLAIN))
    seen: list[logging.LogRecord] = []
    console.addFilter(lambda record: seen.append(record) or True)
    with only(console):
        echoed()
    assert [record.getMessage() for record in seen] == ["flow line 1", "task 7: started", "task 7 done"]
    assert seen[1].task_run_name == TaskRun.objects.get().name
    assert console.stream.getvalue().splitlines()[0].startswith("echoed:")
    assert RunLog.objects.count() == 3


def test_a_bad_format_string_is_reported_as_logging_does_and_the_run_goes_on(console, capsys):
    @flow
    def careless() -> str:
        get_run_logger().info("%d rows", "many")
        return "done"

    with only(console):
        assert careless() == "done"
    assert "--- Logging error ---" in capsys.readouterr().err
    assert RunLog.objects.count() == 0


def test_a_disabled_run_logger_keeps_and_shows_nothing(console):
    task_logger = logging.getLogger("resultdeck.task_runs")
    task_logger.disabled = True
    try:
        with only(console):
            echoed()
    finally:
        task_logger.disabled = False
    assert list(RunLog.objects.values_list("message", flat=True)) == ["flow line 1"]
    assert [line.split(": ", 1)[1] for line in console.stream.getvalue().splitlines()] == ["flow line 1"]
