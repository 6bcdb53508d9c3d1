"""The blocks API: the same operations, validation and masking as the pages."""

import logging

import pytest
from django.db import connection

from apps.blocks import services
from apps.blocks.filesystems import SECRET_MASK
from apps.blocks.models import StorageBlock
from apps.results.models import ResultReference

pytestmark = pytest.mark.django_db


@pytest.fixture
def s3_payload(s3_block_settings):
    return {"block_type": "s3", "name": "demo", "settings": s3_block_settings}


def test_admins_create_and_the_response_masks_the_secret(admin_client_role, s3_payload):
    response = admin_client_role.post("/api/blocks/", s3_payload, content_type="application/json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slug"] == "s3/demo"
    assert body["settings"]["aws_secret_access_key"] == SECRET_MASK
    assert body["secrets_set"] == ["aws_secret_access_key"]
    assert s3_payload["settings"]["aws_secret_access_key"] not in response.content.decode()


def test_validation_errors_name_the_field(admin_client_role, s3_payload):
    bad = {**s3_payload, "settings": {**s3_payload["settings"], "bucket_path": "Bad Bucket"}}
    response = admin_client_role.post("/api/blocks/", bad, content_type="application/json")
    assert response.status_code == 400
    assert "invalid bucket name" in response.json()["bucket_path"][0]
    missing = admin_client_role.post(
        "/api/blocks/", {"block_type": "s3", "name": "x"}, content_type="application/json"
    )
    assert missing.status_code == 400 and "settings" in missing.json()


def test_a_patch_without_the_secret_keeps_it_and_the_type_cannot_change(admin_client_role, s3_payload):
    block_id = admin_client_role.post("/api/blocks/", s3_payload, content_type="application/json").json()[
        "id"
    ]
    settings = {**s3_payload["settings"], "aws_secret_access_key": SECRET_MASK, "region_name": "us-east-1"}
    response = admin_client_role.patch(
        f"/api/blocks/{block_id}/", {"settings": settings}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    block = StorageBlock.objects.get(pk=block_id)
    assert block.filesystem().aws_secret_access_key == s3_payload["settings"]["aws_secret_access_key"]
    assert block.settings["region_name"] == "us-east-1"
    renamed = admin_client_role.patch(
        f"/api/blocks/{block_id}/", {"name": "demo-2"}, content_type="application/json"
    )
    assert renamed.json()["slug"] == "s3/demo-2"
    retyped = admin_client_role.patch(
        f"/api/blocks/{block_id}/", {"block_type": "local-file-system"}, content_type="application/json"
    )
    assert retyped.status_code == 400 and "cannot change" in retyped.json()["block_type"][0]


def test_list_shows_usage_and_filters_by_type(viewer_client, s3_block_settings, tmp_path):
    block = services.block_create(block_type="s3", name="demo", settings=s3_block_settings)
    services.block_create(block_type="local-file-system", name="l", settings={"basepath": str(tmp_path)})
    ResultReference.objects.create(block=block, storage_location="s3://x", key="a", size_bytes=42)
    body = viewer_client.get("/api/blocks/?block_type=s3").json()
    assert body["count"] == 1
    assert (body["results"][0]["results_count"], body["results"][0]["results_bytes"]) == (1, 42)


def test_test_endpoints_report_success_and_failure(admin_client_role, s3_payload):
    unsaved = admin_client_role.post("/api/blocks/test/", s3_payload, content_type="application/json")
    assert unsaved.status_code == 200 and unsaved.json()["ok"] is True
    wrong = {**s3_payload, "settings": {**s3_payload["settings"], "aws_secret_access_key": "wrong"}}
    denied = admin_client_role.post("/api/blocks/test/", wrong, content_type="application/json").json()
    assert denied["ok"] is False and denied["message"].startswith(
        "Could not connect to the storage with these settings"
    )
    block_id = admin_client_role.post("/api/blocks/", s3_payload, content_type="application/json").json()[
        "id"
    ]
    saved = admin_client_role.post(f"/api/blocks/{block_id}/test/", {}, content_type="application/json")
    assert saved.json()["ok"] is True
    # Typed values, with the secret left masked: the stored one is used.
    typed = {"settings": {**s3_payload["settings"], "aws_secret_access_key": SECRET_MASK}}
    assert admin_client_role.post(
        f"/api/blocks/{block_id}/test/", typed, content_type="application/json"
    ).json()["ok"]


def test_delete_in_use_is_a_conflict_until_told_what_to_do(admin_client_role, tmp_path):
    block = services.block_create(
        block_type="local-file-system", name="l", settings={"basepath": str(tmp_path)}
    )
    ResultReference.objects.create(block=block, storage_location=str(tmp_path), key="a")
    conflict = admin_client_role.delete(f"/api/blocks/{block.pk}/")
    assert conflict.status_code == 409 and conflict.json()["references"] == 1
    assert admin_client_role.delete(f"/api/blocks/{block.pk}/?references=sideways").status_code == 400
    assert admin_client_role.delete(f"/api/blocks/{block.pk}/?references=detach").status_code == 204
    assert ResultReference.objects.get().block is None


def test_viewers_read_but_cannot_write_or_test(viewer_client, s3_payload, s3_block_settings):
    block = services.block_create(block_type="s3", name="demo", settings=s3_block_settings)
    assert viewer_client.get("/api/blocks/").status_code == 200
    assert viewer_client.get(f"/api/blocks/{block.pk}/").status_code == 200
    assert (
        viewer_client.post(
            "/api/blocks/", {**s3_payload, "name": "x"}, content_type="application/json"
        ).status_code
        == 403
    )
    assert (
        viewer_client.patch(
            f"/api/blocks/{block.pk}/", {"name": "y"}, content_type="application/json"
        ).status_code
        == 403
    )
    assert viewer_client.delete(f"/api/blocks/{block.pk}/").status_code == 403
    assert viewer_client.post(f"/api/blocks/{block.pk}/test/").status_code == 403
    assert (
        viewer_client.post("/api/blocks/test/", s3_payload, content_type="application/json").status_code
        == 403
    )
    assert StorageBlock.objects.get().name == "demo"


def test_no_api_response_or_log_line_carries_the_secret(admin_client_role, s3_payload, caplog):
    secret = s3_payload["settings"]["aws_secret_access_key"]
    caplog.set_level(logging.DEBUG)
    responses = [admin_client_role.post("/api/blocks/", s3_payload, content_type="application/json")]
    block_id = responses[0].json()["id"]
    responses += [
        admin_client_role.get("/api/blocks/"),
        admin_client_role.get(f"/api/blocks/{block_id}/"),
        admin_client_role.patch(
            f"/api/blocks/{block_id}/",
            {"settings": {**s3_payload["settings"], "region_name": "x"}},
            content_type="application/json",
        ),
        admin_client_role.post(f"/api/blocks/{block_id}/test/"),
        admin_client_role.get("/api/schema/"),
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT settings::text, encrypted_secrets FROM blocks_storageblock")
        stored = cursor.fetchone()
    responses.append(admin_client_role.delete(f"/api/blocks/{block_id}/"))
    assert [r.status_code for r in responses] == [201, 200, 200, 200, 200, 200, 204]
    assert all(secret not in r.content.decode() for r in responses)
    assert secret not in stored[0] and secret not in stored[1]
    assert caplog.records and all(secret not in record.getMessage() for record in caplog.records)


def test_the_schema_stays_valid():
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
