"""Every flow in examples/ completes once `manage.py examples_setup` has made the S3 blocks they name,
run through the engine against the real S3 server of the test services; before that, the Flows page
warns about each flow whose storage block is missing."""

from __future__ import annotations

import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from apps.blocks.models import StorageBlock
from apps.flows.models import FlowRun
from apps.flows.registry import flow_registry, flow_registry_reset
from apps.flows.storage_check import flows_storage_missing

pytestmark = pytest.mark.django_db
EXAMPLES = ["examples.flows"]
# The flows that name a block, as the results guide writes them.
NAMED_BLOCKS = {
    "quiz": "s3/dev",
    "q1": "s3/prod",
    "q2": "s3/prod",
    "always-store-results": "s3/demo",
    "s3-completed-state": "s3/demo",
}


@pytest.fixture
def examples_registered(settings, tmp_path):
    settings.FLOW_MODULES = EXAMPLES
    settings.RESULTS_LOCAL_STORAGE_PATH = str(tmp_path / "storage")
    flow_registry_reset()
    yield flow_registry()
    flow_registry_reset()


@pytest.fixture
def example_buckets(s3_client):
    """The bucket prefix for one test; its buckets are emptied and removed afterwards."""
    prefix = f"ex-{uuid.uuid4().hex[:12]}"
    yield prefix
    for bucket in s3_client.list_buckets()["Buckets"]:
        if not bucket["Name"].startswith(prefix):
            continue
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:
                s3_client.delete_objects(Bucket=bucket["Name"], Delete={"Objects": keys})
        s3_client.delete_bucket(Bucket=bucket["Name"])


def examples_setup(s3_settings, prefix: str) -> str:
    out = StringIO()
    call_command(
        "examples_setup",
        endpoint_url=s3_settings["endpoint_url"],
        access_key_id=s3_settings["aws_access_key_id"],
        secret_access_key=s3_settings["aws_secret_access_key"],
        bucket_prefix=prefix,
        stdout=out,
    )
    return out.getvalue()


def test_every_example_flow_completes_once_its_blocks_exist(
    examples_registered, example_buckets, s3_settings, s3_client
):
    assert flows_storage_missing() == NAMED_BLOCKS

    output = examples_setup(s3_settings, example_buckets)
    assert {slug for slug in NAMED_BLOCKS.values()} <= {line.split(":")[0] for line in output.splitlines()}
    assert flows_storage_missing() == {}
    assert "exists, left as it is" in examples_setup(s3_settings, example_buckets)  # idempotent
    assert StorageBlock.objects.filter(block_type="s3").count() == 3

    for name, flow in examples_registered.items():
        state = flow(return_state=True)
        assert state.is_completed(), f"{name}: {state.type} {state.message}"
    assert set(FlowRun.objects.filter(parent_flow_run=None).values_list("flow_name", flat=True)) == set(
        examples_registered
    )
    assert FlowRun.objects.exclude(state="COMPLETED").count() == 0
    # The flows that name a block wrote their results there, in the real S3 server (a literal such
    # as None is kept in the database instead).
    stored = 0
    for name, slug in NAMED_BLOCKS.items():
        reference = FlowRun.objects.select_related("result__block").get(flow_name=name).result
        assert reference is not None, name
        if reference.is_literal:
            continue
        assert reference.block.slug == slug
        bucket = f"{example_buckets}-{slug.partition('/')[2]}"
        keys = {obj["Key"] for obj in s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])}
        assert f"results/{reference.key}" in keys, (name, keys)
        stored += 1
    assert stored >= 3


def test_the_flows_page_warns_about_a_missing_storage_block(examples_registered, viewer_client):
    html = viewer_client.get(reverse("flows:flow-list")).content.decode()
    assert html.count('class="storage-missing') == len(NAMED_BLOCKS)
    assert "Storage block <code>s3/prod</code> does not exist" in html


def test_the_run_form_warns_before_a_run_that_would_fail(examples_registered, operator_client):
    html = operator_client.get(reverse("flows:flow-run", args=["quiz"])).content.decode()
    assert "the block <code>s3/dev</code>, which does not exist" in html
    html = operator_client.get(reverse("flows:flow-run", args=["sum-numbers"])).content.decode()
    assert "storage-missing" not in html


def test_no_warning_when_the_blocks_exist(examples_registered, example_buckets, s3_settings, viewer_client):
    examples_setup(s3_settings, example_buckets)
    html = viewer_client.get(reverse("flows:flow-list")).content.decode()
    assert "storage-missing" not in html
