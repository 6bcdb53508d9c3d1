"""In Chromium: a run of the seeds' quiz flow, its task results, JSON and pickle previews, a malicious
pickle that never runs, and a sandbox decode of a 100,000-row DataFrame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import expect

from apps.flows.models import FlowRun, TaskRun
from tests.dashboard_data import stored_result
from tests.payloads import MarkerPayload

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def quiz_runs(s3_settings, s3_bucket, settings, tmp_path):
    """The quiz flow run by the engine twice: as written (pickle results on s3/dev) and with JSON results."""
    from apps.blocks.filesystems import S3
    from apps.blocks.services import block_save
    from examples.flows import quiz_flow

    settings.RESULTS_LOCAL_STORAGE_PATH = str(tmp_path / "default-storage")
    settings.VAR_DIR = tmp_path / "var"
    storage = S3(
        bucket_path=f"{s3_bucket}/results",
        aws_access_key_id=s3_settings["aws_access_key_id"],
        aws_secret_access_key=s3_settings["aws_secret_access_key"],
        endpoint_url=s3_settings["endpoint_url"],
        region_name=s3_settings["region_name"],
    )
    block_save(storage, name="dev")
    assert quiz_flow() == "Welcome, Marvin to the Club 42! 👋"
    pickle_run = FlowRun.objects.get()
    assert quiz_flow.with_options(result_serializer="json")() == "Welcome, Marvin to the Club 42! 👋"
    json_run = FlowRun.objects.exclude(pk=pickle_run.pk).get()
    return pickle_run, json_run


def test_a_user_browses_the_quiz_run_and_previews_its_results(
    page, live_server, login, make_user, screenshot, quiz_runs
):
    pickle_run, json_run = quiz_runs
    login(make_user("viewer"))
    page.get_by_role("link", name="Runs", exact=True).click()
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    expect(page.locator(f"#run-{pickle_run.pk} .badge")).to_have_text("Completed")
    screenshot("runs-list")

    # filters live in the URL, applied by htmx without a reload
    page.get_by_label("Serializer").select_option("json")
    expect(page).to_have_url(
        f"{live_server.url}/runs/?q=&flow=&state=&created_after=&created_before=&block=&serializer=json&has_result=&expired="
    )
    expect(page.locator(f"#run-{pickle_run.pk}")).to_have_count(0)
    expect(page.locator(f"#run-{json_run.pk}")).to_be_visible()
    screenshot("runs-filtered")

    page.goto(f"{live_server.url}/runs/")
    page.locator(f"#run-{pickle_run.pk} .run-name a").click()
    expect(page.get_by_role("heading", name=pickle_run.name)).to_be_visible()
    expect(page.locator(".gantt-bar")).to_have_count(3)
    number = TaskRun.objects.get(flow_run=pickle_run, task_name="extract_number")
    task_row = page.locator(f"#task-{number.pk}")
    expect(task_row).to_contain_text("extract_number")
    expect(task_row.locator(".result-badge")).to_contain_text("int")
    expect(task_row.locator(".result-badge")).to_contain_text("s3/dev")
    screenshot("run-detail")

    # the pickle preview: a static disassembly, nothing unpickled
    task_row.locator(".result-badge").click()
    expect(page.get_by_role("heading", name="Preview")).to_be_visible()
    expect(page.locator(".badge.format-pickle")).to_be_visible()
    expect(page.locator(".pickle-summary")).to_contain_text("Plain data pickle")
    expect(page.locator(".tree")).to_contain_text("42")
    expect(page.locator(".kv")).to_contain_text("Prefect 3 record")
    screenshot("pickle-preview")

    # the JSON preview: a tree of <details>, with expand / collapse all
    json_number = TaskRun.objects.get(flow_run=json_run, task_name="extract_number")
    page.goto(f"{live_server.url}/runs/{json_run.pk}/")
    page.locator(f"#task-{json_number.pk} .result-badge").click()
    expect(page.locator(".badge.format-json")).to_be_visible()
    expect(page.locator(".tree")).to_contain_text("42")
    page.goto(f"{live_server.url}/results/{json_run.result_id}/")
    expect(page.locator(".tree")).to_contain_text("Welcome, Marvin to the Club 42!")
    screenshot("json-preview")


def test_json_tree_expands_and_collapses(page, live_server, login, make_user, screenshot, tmp_path):
    value = {
        "customer": {"name": "Ada", "orders": [{"id": i, "total": i * 1.5} for i in range(3)]},
        "tags": ["a", "b"],
    }
    reference = stored_result(tmp_path, value)
    login(make_user("viewer"))
    page.goto(f"{live_server.url}/results/{reference.pk}/")
    deep = page.locator(".tree details details details").first
    expect(deep).not_to_have_attribute("open", "")
    page.get_by_role("button", name="Expand all").click()
    expect(deep).to_have_attribute("open", "")
    screenshot("expanded")
    page.get_by_role("button", name="Collapse all").click()
    expect(page.locator(".tree details[open]")).to_have_count(0)
    screenshot("collapsed")


def test_a_malicious_pickle_is_previewed_and_never_runs(
    page, live_server, login, make_user, screenshot, tmp_path
):
    marker = tmp_path / "created-by-the-pickle"
    reference = stored_result(tmp_path / "store", MarkerPayload(str(marker)), serializer="pickle")
    login(make_user("operator"))
    page.goto(f"{live_server.url}/results/{reference.pk}/")
    summary = page.locator(".pickle-summary")
    expect(summary).to_contain_text("Dangerous pickle")
    expect(summary).to_contain_text("posix.system")
    expect(summary.locator(".badge.danger-dangerous").first).to_be_visible()
    expect(page.locator(".tree")).to_contain_text("touch")
    screenshot("static-preview")
    assert not marker.exists()  # neither the web process nor a sandbox ran it

    page.get_by_role("button", name="Decode in sandbox").click()
    expect(page.locator("#decoded")).to_contain_text("refused to decode")
    expect(page.locator("#decoded")).to_contain_text("posix.system")
    screenshot("sandbox-refused")
    assert not marker.exists()


def test_the_sandbox_decodes_a_100000_row_dataframe_as_a_table(
    page, live_server, login, make_user, screenshot, tmp_path
):
    rows = 100_000
    frame = pd.DataFrame(
        {
            "id": np.arange(rows),
            "amount": np.round(np.linspace(0, 999.5, rows), 2),
            "region": np.array(["north", "south", "east", "west"])[np.arange(rows) % 4],
            "when": pd.date_range("2025-01-01", periods=rows, freq="min"),
        }
    )
    reference = stored_result(tmp_path, frame, serializer="pickle")
    login(make_user("operator"))
    page.goto(f"{live_server.url}/results/{reference.pk}/")
    page.get_by_role("button", name="Decode in sandbox").click()
    decoded = page.locator("#decoded")
    expect(decoded).to_contain_text("Decoded in the sandbox", timeout=30_000)
    expect(decoded.locator("caption")).to_contain_text("shape 100,000 \u00d7 4")
    expect(decoded.locator("thead")).to_contain_text("datetime64")
    expect(decoded.locator("tbody tr")).to_have_count(50)
    screenshot("dataframe-decoded")


def test_a_viewer_sees_no_decode_button_and_the_results_list_selects_all_matching(
    page, live_server, login, make_user, screenshot, tmp_path
):
    for index in range(3):
        stored_result(tmp_path, {"n": index}, key=f"report-{index}")
    stored_result(tmp_path, [1], serializer="pickle", key="other")
    login(make_user("viewer"))
    page.goto(f"{live_server.url}/results/?serializer=json")
    expect(page.locator(".results-table tbody tr")).to_have_count(3)
    page.get_by_role("link", name="Select all results matching this filter").click()
    expect(page.locator("#selection")).to_contain_text("3 selected")
    expect(page.locator("#selection")).to_contain_text("serializer=json")
    expect(page.locator("[data-select-row]:checked")).to_have_count(3)
    screenshot("results-selected")
    page.locator(".results-table a").first.click()
    expect(page.get_by_role("heading", name="Preview")).to_be_visible()
    expect(page.get_by_role("button", name="Decode in sandbox")).to_have_count(0)
