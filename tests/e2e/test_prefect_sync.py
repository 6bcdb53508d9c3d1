"""In Chromium: a run synced from a real Prefect 3.9.1 server, its Prefect badge and link back, and
the decoded values of its task results."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from apps.flows.models import FlowRun, TaskRun
from apps.prefect_servers.services import connection_save
from apps.prefect_servers.sync import prefect_sync
from tests.prefect_servers.conftest import prefect3_server  # noqa: F401 (the fixture, made visible here)

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_synced_run_shows_its_task_results(page, live_server, login, make_user, screenshot, request):
    server = request.getfixturevalue("prefect3_server")
    connection = connection_save(name="e2e", api_url=server.api_url, ui_url="http://127.0.0.1:4200")
    assert prefect_sync(connection=connection).ok
    run = FlowRun.objects.get(source_connection_id=connection.pk, flow_name="sync-me")
    add = TaskRun.objects.get(flow_run=run, task_name="add")

    login(make_user("viewer"))
    page.goto(f"{live_server.url}/runs/")
    expect(page.locator(f"#run-{run.pk} .source-prefect")).to_have_text("Prefect")
    page.locator(f"#run-{run.pk} .run-name a").first.click()
    expect(page.get_by_role("heading", name=run.name)).to_be_visible()
    expect(page.locator(".prefect-link")).to_have_attribute("href", run.external_url)
    task_row = page.locator(f"#task-{add.pk}")
    expect(task_row.locator(".result-badge")).to_contain_text("json")
    expect(task_row.locator(".result-badge")).to_contain_text("local-file-system/e2e-synced-results")
    screenshot("synced-run")

    task_row.locator(".result-badge").click()
    expect(page.locator(".badge.format-json")).to_be_visible()
    expect(page.locator(".tree")).to_contain_text("sum")
    expect(page.locator(".tree")).to_contain_text("7")
    screenshot("synced-result")
