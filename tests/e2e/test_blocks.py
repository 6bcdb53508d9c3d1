"""An admin manages storage blocks in Chromium, and a result written through the block lands in S3."""

import pytest
from playwright.sync_api import expect

from apps.blocks.models import StorageBlock
from apps.blocks.services import block_load
from apps.results.models import ResultReference
from apps.results.serializer_configs import serializer_configs_builtins_ensure
from apps.results.store import ResultStore

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_admin_creates_tests_and_edits_blocks_and_results_land_in_s3(
    page, live_server, login, make_user, screenshot, s3_settings, s3_bucket, s3_client, tmp_path
):
    serializer_configs_builtins_ensure()
    secret = s3_settings["aws_secret_access_key"]
    login(make_user("admin", is_staff=True))

    page.get_by_role("link", name="Blocks", exact=True).click()
    expect(page.get_by_role("heading", name="Storage blocks", exact=True)).to_be_visible()
    screenshot("list-empty")

    # (1) an S3 block against the local S3 server, tested before saving
    page.get_by_role("button", name="New block").click()
    expect(page.get_by_label("Bucket path")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("demo")
    page.get_by_label("Bucket path").fill(f"{s3_bucket}/results")
    page.get_by_label("Endpoint URL").fill(s3_settings["endpoint_url"])
    page.get_by_label("Access key ID").fill(s3_settings["aws_access_key_id"])
    page.get_by_label("Secret access key").fill("a-wrong-secret")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#test-result")).to_contain_text(
        "Could not connect to the storage with these settings"
    )
    screenshot("create-s3-access-denied")
    page.get_by_label("Secret access key").fill(secret)
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#test-result")).to_contain_text("Connection works")
    screenshot("create-s3-tested")
    page.get_by_role("button", name="Create block").click()
    expect(page.get_by_role("heading", name="s3/demo")).to_be_visible()
    expect(page.locator(".messages")).to_contain_text("Storage block s3/demo created")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#test-result")).to_contain_text("Connection works")
    screenshot("detail-s3")

    # (2) edit without retyping the secret
    page.get_by_role("button", name="Edit", exact=True).click()
    expect(page.get_by_text("Set; leave blank to keep.")).to_be_visible()
    assert page.get_by_label("Secret access key").input_value() == ""
    page.get_by_label("Region").fill("us-east-1")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#test-result")).to_contain_text("Connection works")
    screenshot("edit-s3")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".messages")).to_contain_text("saved")
    assert StorageBlock.objects.get_by_slug("s3/demo").settings["region_name"] == "us-east-1"

    # (3) a local block: the fields follow the type without a reload
    page.goto(f"{live_server.url}/blocks/new/")
    page.get_by_label("Name", exact=True).fill("scratch")
    page.get_by_label("Type").select_option("remote-file-system")
    expect(page.get_by_label("Options (JSON)")).to_be_visible()
    expect(page.locator("#usage-code")).to_contain_text('result_storage="remote-file-system/NAME"')
    screenshot("create-remote")
    page.get_by_label("Type").select_option("local-file-system")
    expect(page.get_by_label("Base path")).to_be_visible()
    expect(page.get_by_label("Bucket path")).to_have_count(0)
    assert page.get_by_label("Name", exact=True).input_value() == "scratch"
    page.get_by_label("Base path").fill(str(tmp_path / "not-writable-file" / "sub"))
    (tmp_path / "not-writable-file").write_text("x")
    page.get_by_role("button", name="Create block").click()
    expect(page.locator(".field-error")).to_contain_text("not writable")
    page.get_by_label("Base path").fill(str(tmp_path / "results"))
    screenshot("create-local")
    page.get_by_role("button", name="Create block").click()
    expect(page.get_by_role("heading", name="local-file-system/scratch")).to_be_visible()

    # (4) a result written through "s3/demo" lands in the bucket
    store = ResultStore(result_storage=block_load("s3/demo"), serializer="json")
    store.write({"answer": 42}, key="answer")
    stored = s3_client.get_object(Bucket=s3_bucket, Key="results/answer")["Body"].read()
    assert b'"metadata"' in stored
    ResultReference.objects.create(
        block=StorageBlock.objects.get_by_slug("s3/demo"),
        storage_location=f"s3://{s3_bucket}/results",
        key="answer",
        size_bytes=len(stored),
        serializer_type="json",
    )

    page.get_by_role("link", name="Blocks", exact=True).click()
    row = page.locator("tr", has_text="s3/demo")
    expect(row).to_contain_text(f"{s3_bucket}/results")
    expect(row.locator("td.num").first).to_have_text("1")
    screenshot("list")

    row.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("1 result")).to_be_visible()
    screenshot("delete-confirmation")

    page.get_by_role("link", name="Serializers", exact=True).click()
    expect(page.get_by_role("cell", name="compressed/json built in")).to_be_visible()
    screenshot("serializer-list")
    page.get_by_role("button", name="New serializer").click()
    expect(page.get_by_label("JSON library")).to_be_visible()
    screenshot("serializer-form")

    for path in ("/blocks/", "/blocks/s3/demo/", "/blocks/s3/demo/edit/", "/blocks/s3/demo/delete/"):
        page.goto(f"{live_server.url}{path}")
        assert secret not in page.content()


def test_a_viewer_sees_blocks_but_no_way_to_change_them(
    page, live_server, login, make_user, tmp_path, screenshot
):
    StorageBlock.objects.create(
        block_type="local-file-system", name="shared", settings={"basepath": str(tmp_path)}
    )
    login(make_user("viewer"))
    page.goto(f"{live_server.url}/blocks/")
    expect(page.get_by_text("local-file-system/shared")).to_be_visible()
    expect(page.get_by_role("button", name="New block")).to_have_count(0)
    expect(page.get_by_role("button", name="Test")).to_have_count(0)
    screenshot("viewer-list")
    response = page.goto(f"{live_server.url}/blocks/new/")
    assert response.status == 403
