"""Pages looked at in Chromium at 1280 and 390 px: help text sits below its input, not over it; an
invalid filter's error shows beside the filter after an htmx swap; the result page reads well."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dashboard_data import stored_result
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
WIDTHS = [1280, 390]


@pytest.mark.parametrize("width", WIDTHS)
def test_help_text_sits_below_its_input(page, live_server, login, screenshot, width):
    page.set_viewport_size({"width": width, "height": 900})
    login(UserFactory(username=f"maker{width}", role="admin"))
    page.goto(f"{live_server.url}/blocks/new/")
    helps = page.locator(".field small.help")
    assert helps.count() > 0
    overlaps = page.evaluate(
        """() => [...document.querySelectorAll('.field small.help')].filter(help => help.offsetParent)
              .map(help => [help, help.closest('.field').querySelector('input, select, textarea')])
              .filter(([help, input]) => input && input.offsetParent
                      && help.getBoundingClientRect().top < input.getBoundingClientRect().bottom - 0.5)
              .map(([help]) => help.textContent)"""
    )
    screenshot(f"block-form-{width}")
    assert overlaps == []


@pytest.mark.parametrize("width", WIDTHS)
def test_an_invalid_filter_shows_its_error_beside_the_filter(page, live_server, login, screenshot, width):
    page.set_viewport_size({"width": width, "height": 900})
    login(UserFactory(username=f"viewer{width}", role="viewer"))
    page.goto(f"{live_server.url}/results/")
    page.select_option("select[name=state]", index=1)
    page.wait_for_load_state("networkidle")
    page.evaluate(
        """() => { const input = document.querySelector('input[name=created_after]');
                   input.type = 'text'; input.value = 'not-a-date';
                   input.dispatchEvent(new Event('change', {bubbles: true})); }"""
    )
    page.wait_for_selector("#result-table-error-created_after:has-text('Enter a valid date')")
    screenshot(f"results-filter-error-{width}")


@pytest.mark.parametrize("width", WIDTHS)
def test_the_result_page(page, live_server, login, screenshot, width, tmp_path: Path):
    page.set_viewport_size({"width": width, "height": 900})
    reference = stored_result(tmp_path, {"rows": [1, 2, 3]}, serializer="json")
    login(UserFactory(username=f"op{width}", role="operator"))
    page.goto(f"{live_server.url}/results/{reference.pk}/")
    assert "Resultdeck 0.1.0" in page.inner_text(".kv")
    assert page.get_by_role("button", name="Decode in sandbox").count() == 0
    assert page.locator("time[title$=ago]").count() >= 1
    screenshot(f"result-detail-{width}")
    page.goto(f"{live_server.url}/results/")
    screenshot(f"results-list-{width}")
    page.goto(f"{live_server.url}/results/serializers/")
    screenshot(f"serializers-{width}")
