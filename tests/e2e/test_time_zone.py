"""A viewer in Tokyo reads the moments of a run in Tokyo time, from the page after the first."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.flows.models import FlowRun
from tests.dashboard_data import flow_run
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("width", [1280, 390])
def test_moments_follow_the_browsers_time_zone(browser, live_server, width, settings):
    settings.TIME_ZONE = "UTC"
    run = flow_run(name=f"tokyo-{width}")
    FlowRun.objects.filter(pk=run.pk).update(start_time=dt.datetime(2025, 7, 1, 12, 0, tzinfo=dt.UTC))
    user = UserFactory(username=f"tokyo{width}", role="viewer")
    context = browser.new_context(viewport={"width": width, "height": 900}, timezone_id="Asia/Tokyo")
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        page.goto(f"{live_server.url}/runs/{run.pk}/")
        started = page.locator("dd time").first
        assert started.inner_text() == "2025-07-01 21:00 JST"
        assert started.get_attribute("title").endswith("ago")
    finally:
        context.close()
