"""The Workers page in Chromium, at desktop and phone width: a real worker online, then stopped."""

import os
import signal

import pytest
from playwright.sync_api import expect

from apps.flows.workers import workers_ping
from tests.flows.test_celery import start_worker, wait_until, worker_settings  # noqa: F401
from tests.flows.test_workers import broker_url, fresh_worker_memory, other_broker  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_the_workers_page_shows_a_live_worker_and_then_that_it_is_gone(
    page,
    live_server,
    login,
    make_user,
    screenshot,
    start_worker,  # noqa: F811
):
    worker = start_worker("browser", concurrency=2)
    wait_until(
        lambda: any(name.startswith("browser@") for name in workers_ping(timeout=0.5)),
        timeout=60,
        what="the worker to answer",
        workers=[worker],
    )
    login(make_user("viewer"))
    page.get_by_role("link", name="Workers").click()
    row = page.locator("#workers tr[data-worker^='browser@']")
    expect(row).to_be_visible()
    expect(row).to_contain_text("online")
    expect(row.locator("td.num")).to_have_text("2")
    expect(page.locator("#queues tr[data-queue='celery']")).to_contain_text("1")
    screenshot("online")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(row).to_be_visible()
    screenshot("online-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    os.killpg(worker.pid, signal.SIGTERM)
    worker.wait(20)
    page.reload()
    expect(page.get_by_text("No worker is up")).to_be_visible()
    expect(row).to_contain_text("gone")
    screenshot("gone")
