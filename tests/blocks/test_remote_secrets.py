"""The storage options of a remote block are secret as a whole: encrypted at rest, never shown back.

Credentials in fsspec options go by many names (``headers.Authorization``, ``passwd``,
``credentials``, Azure's ``connection_string``, ``auth``), so no name-based guess is safe.
"""

import importlib
import json

import pytest
from django.apps import apps as django_apps
from django.db import connection

from apps.blocks import services
from apps.blocks.filesystems import SECRET_MASK, RemoteFileSystem
from apps.blocks.models import StorageBlock
from apps.blocks.secrets import secrets_decrypt, secrets_encrypt

pytestmark = pytest.mark.django_db

SECRET_VALUES = ["Bearer tok-abc", "pw-passwd", "cred-json", "AccountKey=azure-xyz", "auth-pair"]
OPTIONS = {
    "headers": {"Authorization": "Bearer tok-abc"},
    "passwd": "pw-passwd",
    "credentials": "cred-json",
    "connection_string": "DefaultEndpointsProtocol=https;AccountKey=azure-xyz",
    "auth": "auth-pair",
    "skip_instance_cache": True,
}
SET_PATHS = [
    "settings.auth",
    "settings.connection_string",
    "settings.credentials",
    "settings.headers.Authorization",
    "settings.passwd",
    "settings.skip_instance_cache",
]


@pytest.fixture
def remote_block():
    return services.block_create(
        block_type="remote-file-system",
        name="web",
        settings={"basepath": "memory://remote-secrets", "settings": OPTIONS},
    )


def _leaks(text: str) -> list[str]:
    return [value for value in SECRET_VALUES if value in text]


def test_the_settings_column_holds_no_option(remote_block):
    with connection.cursor() as cursor:
        cursor.execute("SELECT settings FROM blocks_storageblock WHERE id = %s", [remote_block.pk])
        (column,) = cursor.fetchone()
    column = column if isinstance(column, str) else json.dumps(column)
    assert _leaks(column) == []
    assert "skip_instance_cache" not in column
    assert secrets_decrypt(remote_block.encrypted_secrets) == {"settings": OPTIONS}
    assert remote_block.filesystem().settings == OPTIONS


def test_the_block_page_names_the_options_set_but_shows_no_value(viewer_client, remote_block):
    html = viewer_client.get("/blocks/remote-file-system/web/").content.decode()
    assert _leaks(html) == []
    assert "connection_string" in html and "Authorization" in html


def test_the_api_shows_which_options_are_set_and_no_value(viewer_client, remote_block):
    listing = viewer_client.get("/api/blocks/").content.decode()
    detail = viewer_client.get(f"/api/blocks/{remote_block.pk}/").json()
    assert _leaks(listing) == [] and _leaks(json.dumps(detail)) == []
    assert detail["secrets_set"] == SET_PATHS
    assert detail["settings"]["settings"]["headers"] == {"Authorization": SECRET_MASK}


def test_an_api_update_without_options_keeps_them(admin_client_role, remote_block):
    response = admin_client_role.patch(
        f"/api/blocks/{remote_block.pk}/", {"name": "web2"}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert StorageBlock.objects.get(pk=remote_block.pk).filesystem().settings == OPTIONS


def test_the_admin_masks_every_option_and_saving_the_masks_keeps_them(admin_client, remote_block):
    url = f"/admin/blocks/storageblock/{remote_block.pk}/change/"
    page = admin_client.get(url)
    assert _leaks(page.content.decode()) == []
    shown = page.context["adminform"].form.initial["settings_json"]
    response = admin_client.post(url, {"name": "web", "settings_json": shown})
    assert response.status_code == 302
    assert StorageBlock.objects.get(pk=remote_block.pk).filesystem().settings == OPTIONS


def test_the_edit_form_is_write_only_and_blank_keeps_the_options(admin_client_role, remote_block):
    url = "/blocks/remote-file-system/web/edit/"
    html = admin_client_role.get(url).content.decode()
    assert _leaks(html) == [] and "leave blank to keep" in html
    assert "passwd" in html  # which options are set
    response = admin_client_role.post(
        url, {"name": "web", "basepath": "memory://remote-secrets", "options": ""}
    )
    assert response.status_code == 302
    assert StorageBlock.objects.get(pk=remote_block.pk).filesystem().settings == OPTIONS
    response = admin_client_role.post(
        url, {"name": "web", "basepath": "memory://remote-secrets", "options": "", "options_clear": "on"}
    )
    assert response.status_code == 302
    assert StorageBlock.objects.get(pk=remote_block.pk).filesystem().settings == {}


def test_a_remote_filesystem_shows_no_option_value():
    filesystem = RemoteFileSystem(basepath="memory://remote-secrets", settings=OPTIONS)
    assert _leaks(repr(filesystem)) == [] and _leaks(json.dumps(filesystem.dict())) == []
    assert filesystem.block_settings(include_secrets=True)["settings"] == OPTIONS


def test_the_migration_moves_plain_options_into_the_encrypted_column():
    # A block as stored before: options in the readable column, name-matched ones encrypted.
    block = StorageBlock.objects.create(
        block_type="remote-file-system",
        name="legacy",
        settings={"basepath": "memory://legacy", "settings": {"passwd": "pw-passwd", "anon": False}},
        encrypted_secrets=secrets_encrypt({"settings": {"token": "tok-abc"}}),
    )
    local = StorageBlock.objects.create(
        block_type="local-file-system", name="disk", settings={"basepath": "/srv"}
    )
    migration = importlib.import_module("apps.blocks.migrations.0002_remote_options_encrypted")
    migration.remote_options_encrypt(django_apps, None)
    block.refresh_from_db()
    local.refresh_from_db()
    assert block.settings == {"basepath": "memory://legacy"}
    assert secrets_decrypt(block.encrypted_secrets) == {
        "settings": {"passwd": "pw-passwd", "anon": False, "token": "tok-abc"}
    }
    assert local.settings == {"basepath": "/srv"} and local.encrypted_secrets == ""
