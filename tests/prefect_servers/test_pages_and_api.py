"""Connection pages and API: admins only, the credential write-only, Test connection by htmx."""

import pytest

from apps.prefect_servers.models import AuthKind, PrefectConnection, SyncStatus
from apps.prefect_servers.services import connection_credential, connection_save
from apps.prefect_servers.sync import prefect_sync
from apps.prefect_servers.tasks import sync_one

from .conftest import AUTH_STRING

pytestmark = pytest.mark.django_db
HTMX_TEST = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "test-result"}


def form(**values):
    return {
        "name": "mine",
        "api_url": "http://127.0.0.1:9/api",
        "ui_url": "",
        "auth_kind": "none",
        "credential": "",
        "sync_enabled": "on",
        "sync_interval_seconds": "300",
        **values,
    }


def test_the_form_tests_an_unsaved_connection_by_htmx_and_names_the_failure(
    admin_client_role, prefect3_auth_server
):
    wrong = admin_client_role.post(
        "/prefect-servers/new/",
        form(api_url=prefect3_auth_server, auth_kind="basic", credential="x:y", _action="test"),
        **HTMX_TEST,
    )
    right = admin_client_role.post(
        "/prefect-servers/new/",
        form(api_url=prefect3_auth_server, auth_kind="basic", credential=AUTH_STRING, _action="test"),
        **HTMX_TEST,
    )
    assert "Connection failed" in wrong.content.decode() and "401" in wrong.content.decode()
    assert "Connected to Prefect 3.9.1." in right.content.decode()
    assert "<form" not in right.content.decode()  # only the partial is swapped
    assert not PrefectConnection.objects.exists()


def test_saving_keeps_the_credential_write_only(admin_client_role):
    response = admin_client_role.post(
        "/prefect-servers/new/", form(auth_kind="api-key", credential="pnu_secret_key", _action="save")
    )
    assert response.status_code == 302
    connection = PrefectConnection.objects.get(name="mine")
    assert connection_credential(connection) == "pnu_secret_key"
    edit = admin_client_role.get("/prefect-servers/mine/edit/").content.decode()
    detail = admin_client_role.get("/prefect-servers/mine/").content.decode()
    assert "pnu_secret_key" not in edit and "pnu_secret_key" not in detail
    assert "leave blank to keep it" in edit
    admin_client_role.post(
        "/prefect-servers/mine/edit/", form(auth_kind="api-key", ui_url="http://ui.example")
    )
    connection.refresh_from_db()
    assert connection.ui_url == "http://ui.example" and connection_credential(connection) == "pnu_secret_key"


def test_an_auth_kind_without_a_credential_is_refused(admin_client_role):
    response = admin_client_role.post("/prefect-servers/new/", form(auth_kind="basic"))
    assert response.status_code == 400
    assert "needs a credential" in response.content.decode()


def test_the_detail_page_tests_a_saved_connection(admin_client_role, prefect3_server):
    connection_save(name="live", api_url=prefect3_server.api_url)
    response = admin_client_role.post("/prefect-servers/live/test/", **HTMX_TEST)
    assert "Connected to Prefect 3.9.1." in response.content.decode()
    assert PrefectConnection.objects.get(name="live").server_version == "3.9.1"


def test_the_api_never_returns_the_credential(admin_client_role):
    created = admin_client_role.post(
        "/api/prefect-connections/",
        {"name": "api", "api_url": "http://127.0.0.1:9/api", "auth_kind": "basic", "credential": "u:p"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["has_credential"] is True and "credential" not in body
    url = f"/api/prefect-connections/{body['id']}/"
    patched = admin_client_role.patch(url, {"ui_url": "http://ui.example"}, content_type="application/json")
    assert patched.status_code == 200 and "u:p" not in patched.content.decode()
    connection = PrefectConnection.objects.get(name="api")
    assert connection.auth_kind == AuthKind.BASIC and connection_credential(connection) == "u:p"
    tested = admin_client_role.post(f"/api/prefect-connections/{body['id']}/test/").json()
    assert tested["ok"] is False and tested["kind"] == "unreachable"


def test_the_detail_page_shows_the_last_outcome_and_polls_while_a_sync_runs(
    admin_client_role, prefect3_server
):
    connection = connection_save(name="watched", api_url=prefect3_server.api_url)
    assert prefect_sync(connection=connection).ok
    page = admin_client_role.get("/prefect-servers/watched/").content.decode()
    assert "Synced 4 flow runs" in page and 'hx-trigger="every 2s"' not in page

    PrefectConnection.objects.filter(pk=connection.pk).update(sync_status=SyncStatus.RUNNING)
    status = admin_client_role.get(
        "/prefect-servers/watched/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="sync-status"
    ).content.decode()
    assert 'id="sync-status"' in status and 'hx-trigger="every 2s"' in status and "<nav" not in status


def test_the_api_queues_a_sync_and_the_task_runs_it(admin_client_role, prefect3_server):
    connection = connection_save(name="queued", api_url=prefect3_server.api_url)
    response = admin_client_role.post(
        f"/api/prefect-connections/{connection.pk}/sync/", {"full": True}, content_type="application/json"
    )
    assert response.status_code == 202 and response.json()["sync_status"] == SyncStatus.QUEUED

    assert sync_one(str(connection.pk), full=True) is True  # what a worker runs for the message
    assert PrefectConnection.objects.get(pk=connection.pk).sync_status == SyncStatus.OK
