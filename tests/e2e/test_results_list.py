"""The results list's row actions in Chromium, at a desktop and a phone width: tick rows, then
change their expiration or delete them with their stored objects; and the same without JavaScript."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from apps.results.models import ResultReference
from tests.dashboard_data import flow_run, stored_result, task_run
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def results(settings, tmp_path):
    settings.CELERY_TASK_ALWAYS_EAGER = True  # cleanup jobs run in a thread of the live server
    folder = tmp_path / "results"
    references = [stored_result(folder, {"n": i}, key=f"row-{i}") for i in range(4)]
    run = flow_run(flow_name="nightly")
    for i, reference in enumerate(references[:2]):
        task_run(run, task_name=f"step-{i}", result=reference)
    return folder, references


def _sign_in(page, live_server, user):
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


@pytest.mark.parametrize("width", [1280, 390])
def test_an_admin_deletes_ticked_results_with_their_objects(
    page, live_server, make_user, results, screenshot, width
):
    folder, references = results
    page.set_viewport_size({"width": width, "height": 900})
    _sign_in(page, live_server, make_user("admin", is_staff=True))
    page.goto(live_server.url + reverse("results:result-list"))
    row = page.locator(f"#result-{references[0].pk}")
    expect(row.locator(".writer-flow")).to_have_text("nightly")
    expect(row.locator(".writer-task")).to_have_text("step-0")
    delete = page.locator('[data-bulk-action="delete"]')
    expect(delete).to_be_disabled()
    for reference in references[:2]:
        page.check(f'#result-{reference.pk} input[name="ids"]')
    expect(page.locator("[data-page-selected]")).to_have_text("2")
    expect(delete).to_be_enabled()
    screenshot("ticked")
    delete.click()
    expect(page.get_by_role("heading", name="Delete 2 results and their stored objects?")).to_be_visible()
    screenshot("confirm")
    page.get_by_role("button", name="Delete 2 results").click()
    expect(page.locator("#job-status")).to_have_attribute("data-status", "done", timeout=20_000)
    expect(page.locator('[data-outcome="deleted"]')).to_have_text("2")
    screenshot("done")
    purged = set(ResultReference.objects.filter(purged_at__isnull=False).values_list("key", flat=True))
    assert purged == {"row-0", "row-1"}
    assert sorted(path.name for path in folder.iterdir()) == ["row-2", "row-3"]


def test_without_javascript_an_operator_changes_the_expiration_of_ticked_rows(
    browser, live_server, make_user, results, screenshot
):
    _, references = results
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 900})
    page = context.new_page()
    try:
        _sign_in(page, live_server, make_user("operator"))
        page.goto(live_server.url + reverse("results:result-list"))
        expect(page.locator('[data-bulk-action="delete"]')).to_have_count(0)
        page.check(f'#result-{references[3].pk} input[name="ids"]')
        page.click('[data-bulk-action="expiration"]')
        expect(page.get_by_role("heading", name="Change the expiration of 1 result")).to_be_visible()
        page.fill('input[name="by"]', "2d")
        page.get_by_role("button", name="Change 1 result").click()
        # Without JavaScript the job page does not poll: the reader reloads it.
        for _ in range(60):
            if page.locator("#job-status").get_attribute("data-status") == "done":
                break
            page.wait_for_timeout(250)
            page.reload()
        expect(page.locator("#job-status")).to_have_attribute("data-status", "done")
        page.screenshot(path=str(screenshot("no-js-done")), full_page=True)
    finally:
        context.close()
    expirations = dict(ResultReference.objects.values_list("key", "expiration"))
    assert expirations["row-3"] is not None
    assert [expirations[f"row-{i}"] for i in range(3)] == [None, None, None]
