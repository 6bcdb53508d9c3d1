"""Every example flow submitted from the Flows page's run form ends Completed, at desktop and phone width.

As on scripts/dev.sh's defaults: the flows of ``examples.flows`` only, Celery's filesystem broker
(folders under the worker's var directory), a real worker, and the example S3 blocks made by
``manage.py examples_setup`` on the test S3 server. The database is the suite's PostgreSQL: the
live server and the worker process must share it.
"""

import pytest
from django.db.models import Q
from playwright.sync_api import expect

from apps.blocks.models import BlockType
from apps.flows.models import FlowRun
from apps.flows.registry import flow_registry, flow_registry_reset
from apps.flows.storage_check import storage_slug_of
from tests.flows.test_celery import start_worker, wait_until, worker_settings  # noqa: F401
from tests.flows.test_workers import other_broker  # noqa: F401
from tests.test_examples import example_buckets, examples_setup  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

EXAMPLE_MODULES = ["examples.flows"]
FINAL = ["COMPLETED", "FAILED", "CRASHED", "CANCELLED"]
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


@pytest.fixture
def broker_url(other_broker, tmp_path):  # noqa: F811
    """Celery's filesystem transport where the worker's settings put it (its var directory)."""
    folder = tmp_path / "var" / "broker"
    for sub in ("in", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    other_broker(
        "filesystem://",
        {
            "data_folder_in": str(folder / "in"),
            "data_folder_out": str(folder / "in"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
            "polling_interval": 0.25,
            "store_processed": False,
        },
    )
    return "filesystem://"


@pytest.fixture
def example_flows(worker_settings):  # noqa: F811
    """Only the examples' flows registered, as dev.sh's default FLOW_MODULES has it."""
    worker_settings.FLOW_MODULES = EXAMPLE_MODULES
    flow_registry_reset()
    yield sorted(flow_registry())
    flow_registry_reset()


def test_every_example_flow_run_from_the_ui_completes(
    page,
    live_server,
    login,
    make_user,
    screenshot,
    start_worker,  # noqa: F811
    worker_settings,  # noqa: F811
    example_flows,
    example_buckets,  # noqa: F811
    s3_settings,
    s3_client,
):
    examples_setup(s3_settings, example_buckets)
    worker = start_worker(
        "examples",
        concurrency=2,
        FLOW_MODULES=",".join(EXAMPLE_MODULES),
        # The development key is made per var directory: the worker's must read the blocks made here.
        RESULTDECK_SECRETS_KEY=",".join(worker_settings.RESULTDECK_SECRETS_KEYS),
    )
    login(make_user("operator"))
    for width_name, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{live_server.url}/flows/")
        expect(page.locator(".storage-missing")).to_have_count(0)
        screenshot(f"flows-{width_name}")
        run_urls = {}
        for name in example_flows:
            page.goto(f"{live_server.url}/flows/")
            row = page.get_by_role("row").filter(has=page.get_by_text(name, exact=True))
            row.get_by_role("button", name="Run…").click()
            expect(page.get_by_role("button", name="Submit to a worker")).to_be_visible()
            if page.locator("form input:not([type=hidden])").count():
                screenshot(f"{name}-form-{width_name}")
            page.get_by_role("button", name="Submit to a worker").click()
            page.wait_for_url("**/runs/*/")
            expect(page.get_by_text(f"Run of {name} submitted.")).to_be_visible()
            run_urls[name] = page.url
        ids = [url.rstrip("/").rsplit("/", 1)[1] for url in run_urls.values()]
        wait_until(
            lambda ids=ids: FlowRun.objects.filter(pk__in=ids, state__in=FINAL).count() == len(ids),
            timeout=180,
            what=f"the {len(ids)} example runs to end",
            workers=[worker],
        )
        states = dict(FlowRun.objects.filter(pk__in=ids).values_list("flow_name", "state"))
        assert states == dict.fromkeys(example_flows, "COMPLETED"), (
            FlowRun.objects.filter(pk__in=ids)
            .exclude(state="COMPLETED")
            .values_list("flow_name", "state_message")
        )
        for name, url in run_urls.items():
            page.goto(url)
            expect(page.locator("h1 .badge")).to_have_text("Completed")
            expect(page.get_by_text(f"Flow {name}", exact=False).first).to_be_visible()
            screenshot(f"{name}-{width_name}")
    # Each flow naming an S3 block stored its result, or its tasks', in that block's bucket; but
    # q2, whose flow returns None (kept inline) and whose only task does not persist.
    slugs = {name: storage_slug_of(flow) or "" for name, flow in flow_registry().items()}
    on_s3 = {name: slug.split("/") for name, slug in slugs.items() if slug.startswith(f"{BlockType.S3}/")}
    stored = {
        name
        for name, (kind, block) in on_s3.items()
        if FlowRun.objects.filter(
            Q(result__block__block_type=kind, result__block__name=block)
            | Q(task_runs__result__block__block_type=kind, task_runs__result__block__name=block),
            flow_name=name,
        ).exists()
    }
    assert set(on_s3) - stored == {"q2"}
    written = [
        item["Key"]
        for bucket in s3_client.list_buckets()["Buckets"]
        if bucket["Name"].startswith(f"{example_buckets}-")
        for item in s3_client.list_objects_v2(Bucket=bucket["Name"]).get("Contents", [])
    ]
    assert len(written) >= len(stored) * len(WIDTHS)
