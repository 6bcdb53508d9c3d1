"""In Chromium, at 1280 and 390 px: a run's logs written by the engine, filtered by level and by
task run, and the live tail of a running run that stops when the run ends."""

from __future__ import annotations

import logging

import pytest
from playwright.sync_api import expect

from apps.flows import flow, get_run_logger, task
from apps.flows.models import FlowRun, RunLog, TaskRun
from tests.dashboard_data import flow_run

pytestmark = pytest.mark.django_db(transaction=True)


@task
def extract(rows: int) -> int:
    logger = get_run_logger()
    logger.info("reading %d rows from the orders table", rows)
    logger.warning("3 rows have no customer id; they are skipped")
    return rows - 3


@task(log_prints=True)
def load(rows: int) -> int:
    print(f"loaded {rows} rows into the warehouse")
    return rows


@flow(name="orders-etl-logs")
def orders_etl(rows: int = 1000) -> int:
    logger = get_run_logger()
    logger.info("starting with rows=%d", rows)
    loaded = load(extract(rows))
    logging.getLogger("warehouse.client").error("the warehouse answered slowly (12.5 s)")
    logger.info("done: %d rows", loaded)
    return loaded


@pytest.mark.parametrize("width", [1280, 390])
def test_a_run_s_logs_filter_by_level_and_by_task_run(page, live_server, login, make_user, screenshot, width):
    assert orders_etl() == 997
    run = FlowRun.objects.get()
    extract_run = TaskRun.objects.get(task_name="extract")
    page.set_viewport_size({"width": width, "height": 900})
    login(make_user("viewer"))
    page.goto(f"{live_server.url}/runs/{run.pk}/")
    logs = page.locator("#run-logs")
    expect(logs.locator(".log-line")).to_have_count(6)
    expect(logs).to_contain_text("loaded 997 rows into the warehouse")
    screenshot(f"logs-{width}")

    logs.get_by_label("Level").select_option("30")
    expect(logs.locator(".log-line")).to_have_count(2)
    expect(logs.locator(".log-line").first).to_contain_text("3 rows have no customer id")
    expect(logs.locator(".log-line").last).to_contain_text("the warehouse answered slowly")
    expect(page).to_have_url(f"{live_server.url}/runs/{run.pk}/?level=30&q=&task_run=")
    screenshot(f"logs-warning-{width}")

    page.locator(f"#task-{extract_run.pk} a.task-logs").click()
    expect(logs).to_contain_text(f"of task run {extract_run.name}")
    expect(logs.locator(".log-line")).to_have_count(2)
    expect(logs).not_to_contain_text("starting with rows")


def test_a_running_run_s_logs_are_tailed_until_it_ends(page, live_server, login, make_user, screenshot):
    run = flow_run(name="busy-heron", state="RUNNING", duration=None)

    def line(message: str) -> None:
        RunLog.objects.create(
            flow_run=run,
            level=logging.INFO,
            timestamp=run.start_time,
            logger="resultdeck.flow_runs",
            message=message,
        )

    line("batch 1 of 3")
    login(make_user("viewer"))
    page.goto(f"{live_server.url}/runs/{run.pk}/")
    logs = page.locator("#run-logs")
    expect(logs.locator(".log-line")).to_have_count(1)
    expect(page.locator("#log-tail")).to_have_attribute("hx-trigger", "every 2s")

    line("batch 2 of 3")
    expect(logs.locator(".log-line")).to_have_count(2)
    screenshot("tail-running")

    line("batch 3 of 3")
    FlowRun.objects.filter(pk=run.pk).update(state="COMPLETED", end_time=run.start_time)
    expect(logs.locator(".log-line")).to_have_count(3)
    expect(page.locator("#log-tail")).to_have_count(0)
    expect(logs.locator(".log-line").last).to_contain_text("batch 3 of 3")


@pytest.mark.parametrize("width", [1280, 390])
def test_a_300_task_run_page_shows_one_page_of_tasks(page, live_server, login, make_user, screenshot, width):
    import datetime as dt

    run = flow_run(name="wide-heron", duration=dt.timedelta(seconds=30))
    TaskRun.objects.bulk_create(
        TaskRun(
            flow_run=run,
            task_name=("extract", "transform", "load")[i % 3],
            name=f"task-{i:03d}",
            state="COMPLETED",
            created=run.start_time + dt.timedelta(milliseconds=90 * i),
            start_time=run.start_time + dt.timedelta(milliseconds=90 * i),
            end_time=run.start_time + dt.timedelta(milliseconds=90 * i + 400),
            run_count=1,
        )
        for i in range(301)
    )
    page.set_viewport_size({"width": width, "height": 900})
    login(make_user("viewer"))
    page.goto(f"{live_server.url}/runs/{run.pk}/")
    expect(page.locator("tr[id^=task-]")).to_have_count(100)
    expect(page.locator(".gantt-row")).to_have_count(100)
    expect(page.locator(".task-groups")).to_contain_text("transform")
    screenshot(f"tasks-{width}")
    page.get_by_role("link", name="extract", exact=True).click()
    expect(page.locator("tr[id^=task-]")).to_have_count(100)
    page.get_by_role("link", name="Next 100 ›").click()  # noqa: RUF001
    expect(page.locator("tr[id^=task-]")).to_have_count(1)
    expect(page.locator("tr[id^=task-]")).to_contain_text("task-300")
