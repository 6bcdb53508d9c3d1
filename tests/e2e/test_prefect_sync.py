"""In Chromium: a run synced from a real Prefect 3.9.1 server, its Prefect badge and link back, and
the decoded values of its task results."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from apps.flows.models import FlowRun, TaskRun
from apps.prefect_servers.services import connection_save
from apps.prefect_servers.sync import prefect_sync
from tests.prefect_servers.conftest import prefect3_server, prefect_s3  # noqa: F401 (the fixtures, made visible here)

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


WIDTHS = (1280, 390)


def test_synced_runs_filter_read_their_history_and_mappings_edit_in_place(
    page, live_server, login, make_user, screenshot, request, tmp_path
):
    from apps.blocks.services import block_create

    server = request.getfixturevalue("prefect3_server")
    connection = connection_save(name="e2e-edit", api_url=server.api_url, ui_url="http://127.0.0.1:4200")
    assert prefect_sync(connection=connection).ok
    block_create(block_type="local-file-system", name="e2e-mapped", settings={"basepath": str(tmp_path)})
    run = FlowRun.objects.get(source_connection_id=connection.pk, flow_name="sync-me")
    login(make_user("admin", is_staff=True))

    # The runs list, filtered by connection, then by a deployment no run has.
    page.goto(f"{live_server.url}/runs/?connection={connection.pk}")
    expect(page.locator(f"#run-{run.pk}")).to_be_visible()
    page.fill("input[name=deployment]", "none-such")
    page.locator("form.filters button[type=submit]").click()
    expect(page.get_by_text("No runs match these filters")).to_be_visible()
    page.goto(f"{live_server.url}/runs/?connection={connection.pk}")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(f"runs-filtered-{width}")

    # The run page asks the server for the whole history by htmx.
    page.goto(f"{live_server.url}/runs/{run.pk}/")
    expect(page.locator("#state-history")).to_contain_text("Read from the Prefect server")
    expect(page.locator("#state-history")).to_contain_text("Running")
    page.reload()  # the task runs' states were read with it, and show in the task table now
    expect(page.locator("#state-history")).to_contain_text("As read from the Prefect server")
    page.locator(".task-states summary").first.click()
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(f"run-history-{width}")

    # Path mappings: added, edited and removed in place (htmx, CSRF header from the page).
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/prefect-servers/e2e-edit/")
    section = page.locator("#path-mappings")
    section.locator("input[name=path_prefix]").fill("/home/ada/.prefect/storage")
    section.locator("select[name=block]").select_option(label="local-file-system/e2e-mapped")
    section.get_by_role("button", name="Add mapping").click()
    expect(section).to_contain_text("/home/ada/.prefect/storage is mapped.")
    section.get_by_role("button", name="Edit").click()
    section.locator("input[name=edit-path_prefix]").fill("/srv/prefect/storage")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(f"mapping-edit-{width}")
    section.get_by_role("button", name="Save mapping").click()
    expect(section).to_contain_text("The mapping of /srv/prefect/storage is saved.")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(f"mappings-{width}")
    page.once("dialog", lambda dialog: dialog.accept())
    section.get_by_role("button", name="Delete").click()
    expect(section).to_contain_text("is removed")
    assert not connection.path_mappings.exists()
