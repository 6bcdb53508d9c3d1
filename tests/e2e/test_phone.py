"""Every main page at a desktop and a phone width: nothing wider than the phone, a menu that
collapses into a toggle that opens, no link the colour of its background, timeline ticks apart.
The screenshots of both widths are in test-artifacts/screenshots/."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from apps.blocks.services import block_create
from tests.dashboard_data import flow_run, stored_result, task_run

pytestmark = pytest.mark.django_db(transaction=True)
PHONE, DESKTOP = 390, 1280

# Links whose colour is too close to what is behind them (contrast ratio under 2).
FAINT_LINKS_JS = """() => {
  const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => {
    const channel = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  const background = (element) => {
    for (let node = element; node; node = node.parentElement) {
      const value = rgb(getComputedStyle(node).backgroundColor);
      if (value.length === 3 || (value.length === 4 && value[3] > 0.5)) return value.slice(0, 3);
    }
    return [255, 255, 255];
  };
  return [...document.querySelectorAll("a")].filter((link) => {
    const box = link.getBoundingClientRect();
    if (!box.width || !box.height || !link.textContent.trim()) return false;
    const [a, b] = [luminance(rgb(getComputedStyle(link).color)), luminance(background(link))];
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) < 2;
  }).map((link) => link.textContent.trim());
}"""
# The outermost elements that reach past the viewport, to name in a failure.
OVERFLOWING_JS = """(width) => {
  const right = (el) => Math.round(el.getBoundingClientRect().right);
  const over = [...document.body.querySelectorAll("*")].filter((el) => right(el) > width + 1);
  return over.filter((el) => !over.includes(el.parentElement)).slice(0, 6)
    .map((el) => `${el.tagName.toLowerCase()}.${[...el.classList].join(".")} (${right(el)})`);
}"""
TICKS_OVERLAP_JS = """() => {
  const boxes = [...document.querySelectorAll(".gantt-tick")]
    .map((tick) => tick.getBoundingClientRect()).filter((box) => box.width > 0);
  return boxes.some((box, i) => i > 0 && box.left < boxes[i - 1].right);
}"""


@pytest.fixture
def pages(live_server, tmp_path):
    """The main pages, with enough in them to be wide: runs with tasks, results, a block."""
    (tmp_path / "block").mkdir()
    block_create(
        block_type="local-file-system", name="phone-check", settings={"basepath": str(tmp_path / "block")}
    )
    result = stored_result(tmp_path / "results", {"rows": [{"id": i, "name": f"row {i}"} for i in range(20)]})
    for i in range(6):
        stored_result(tmp_path / "results", list(range(i * 10)), key=f"a-rather-long-result-key-number-{i}")
    run = flow_run(flow_name="nightly-warehouse-refresh", result=result, duration=dt.timedelta(minutes=3))
    for i, name in enumerate(["extract-orders", "transform-orders-into-facts", "load"]):
        task_run(run, task_name=name, offset=dt.timedelta(seconds=20 * i), duration=dt.timedelta(seconds=50))
    base = live_server.url
    return {
        "home": f"{base}/",
        "runs": base + reverse("flows:run-list"),
        "run": base + reverse("flows:run-detail", args=[run.pk]),
        "results": base + reverse("results:result-list"),
        "result": base + reverse("results:result-detail", args=[result.pk]),
        "cleanup": base + reverse("results:cleanup"),
        "blocks": base + reverse("blocks:block-list"),
        "flows": base + reverse("flows:flow-list"),
        "serializers": base + reverse("results:serializer-list"),
    }


def _check(page, name: str, width: int, problems: list[str]) -> None:
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    if width == PHONE and scroll_width > PHONE:
        culprits = page.evaluate(OVERFLOWING_JS, width)
        problems.append(f"{name} at {width} px is {scroll_width} px wide: {culprits}")
    faint = page.evaluate(FAINT_LINKS_JS)
    if faint:
        problems.append(f"{name} at {width} px has links that do not stand out: {faint}")
    if page.evaluate(TICKS_OVERLAP_JS):
        problems.append(f"{name} at {width} px has timeline labels that collide")


def test_every_main_page_fits_a_phone(page, browser, live_server, login, make_user, pages, screenshot):
    login(make_user("admin", is_staff=True))
    problems: list[str] = []
    for width in (DESKTOP, PHONE):
        page.set_viewport_size({"width": width, "height": 844})
        for name, url in pages.items():
            page.goto(url)
            page.wait_for_load_state("networkidle")
            screenshot(f"{width}-{name}")
            _check(page, name, width, problems)
    # The admin's own login page, signed out.
    for width in (DESKTOP, PHONE):
        context = browser.new_context(viewport={"width": width, "height": 844})
        signed_out = context.new_page()
        signed_out.goto(f"{live_server.url}/admin/login/")
        signed_out.screenshot(path=str(screenshot(f"{width}-admin-login")), full_page=True)
        _check(signed_out, "admin login", width, problems)
        context.close()
    assert not problems, "\n".join(problems)


def test_the_menu_collapses_on_a_phone_and_its_toggle_opens_it(
    page, live_server, login, make_user, screenshot
):
    login(make_user("admin", is_staff=True))
    page.set_viewport_size({"width": PHONE, "height": 844})
    page.goto(f"{live_server.url}/")
    results_link = page.locator(".nav-links").get_by_role("link", name="Results")
    expect(results_link).to_be_hidden()
    page.locator(".nav-menu-toggle").click()
    expect(results_link).to_be_visible()
    screenshot("menu-open")
    results_link.click()
    expect(page).to_have_url(f"{live_server.url}/results/")
    # At desktop width the links show without the toggle.
    page.set_viewport_size({"width": DESKTOP, "height": 844})
    page.goto(f"{live_server.url}/")
    expect(page.locator(".nav-menu-toggle")).to_be_hidden()
    expect(page.locator(".nav-links").get_by_role("link", name="Results")).to_be_visible()
