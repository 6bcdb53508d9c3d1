"""Blocks in the Django admin: secrets masked, kept when left masked, validated like the pages."""

import json

import pytest

from apps.blocks import services
from apps.blocks.filesystems import SECRET_MASK
from apps.blocks.models import StorageBlock

pytestmark = pytest.mark.django_db


def test_the_change_page_masks_the_secret_and_saving_keeps_it(admin_client, s3_block_settings):
    block = services.block_create(block_type="s3", name="demo", settings=s3_block_settings)
    secret = s3_block_settings["aws_secret_access_key"]
    url = f"/admin/blocks/storageblock/{block.pk}/change/"
    page = admin_client.get(url)
    html = page.content.decode()
    assert page.status_code == 200 and SECRET_MASK in html and secret not in html
    shown = json.loads(page.context["adminform"].form.initial["settings_json"])
    shown["region_name"] = "us-east-1"
    response = admin_client.post(url, {"name": "demo", "settings_json": json.dumps(shown)})
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    block.refresh_from_db()
    assert block.settings["region_name"] == "us-east-1"
    assert block.filesystem().aws_secret_access_key == secret
    assert secret not in admin_client.get("/admin/blocks/storageblock/").content.decode()


def test_adding_validates_like_the_pages(admin_client, tmp_path):
    bad = admin_client.post(
        "/admin/blocks/storageblock/add/",
        {
            "block_type": "s3",
            "name": "x",
            "settings_json": json.dumps({"bucket_path": "Bad Bucket"}),
        },
    )
    assert bad.status_code == 200
    assert "invalid bucket name" in str(bad.context["adminform"].form.errors), bad.context[
        "adminform"
    ].form.errors
    good = admin_client.post(
        "/admin/blocks/storageblock/add/",
        {
            "block_type": "local-file-system",
            "name": "here",
            "settings_json": json.dumps({"basepath": str(tmp_path)}),
        },
    )
    assert good.status_code == 302
    assert StorageBlock.objects.get_by_slug("local-file-system/here").settings == {"basepath": str(tmp_path)}


def test_the_test_action_reports_each_block(admin_client, s3_block_settings):
    block = services.block_create(block_type="s3", name="demo", settings=s3_block_settings)
    response = admin_client.post(
        "/admin/blocks/storageblock/",
        {"action": "test_connection", "index": 0, "_selected_action": [str(block.pk)]},
        follow=True,
    )
    assert "s3/demo: connected: wrote, read back" in response.content.decode().lower()


def test_serializer_config_admin_protects_builtins(admin_client):
    from apps.results.models import SerializerConfig
    from apps.results.serializer_configs import serializer_configs_builtins_ensure

    serializer_configs_builtins_ensure()
    builtin = SerializerConfig.objects.get(name="pickle")
    page = admin_client.get(f"/admin/results/serializerconfig/{builtin.pk}/change/")
    assert page.status_code == 200
    assert (
        admin_client.post(
            f"/admin/results/serializerconfig/{builtin.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    bad = admin_client.post(
        "/admin/results/serializerconfig/add/", {"name": "x", "config": '{"type": "nope"}'}
    )
    assert "unknown serializer type" in bad.content.decode()
