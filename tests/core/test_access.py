"""Every page and endpoint needs a role; a signed-in user without one sees no data."""

import pytest

from tests.dashboard_data import flow_run

pytestmark = pytest.mark.django_db

DATA_PAGES = ["/", "/flows/", "/api/", "/api/schema/", "/api/docs/"]


@pytest.fixture
def nobody_client(client, make_user):
    client.force_login(make_user(None, username="no-role-user"))
    return client


@pytest.mark.parametrize("path", DATA_PAGES)
def test_a_user_without_a_role_is_refused_and_sees_no_data(nobody_client, path):
    flow_run(name="secret-heron", flow_name="etl")
    response = nobody_client.get(path)
    assert response.status_code == 403
    body = response.content.decode()
    assert "secret-heron" not in body and "etl" not in body


def test_the_refusal_page_says_what_to_do(nobody_client):
    body = nobody_client.get("/").content.decode()
    assert "This needs the viewer role." in body
    assert "Ask an admin to add you to the viewer, operator or admin group." in body


@pytest.mark.parametrize("path", DATA_PAGES)
def test_a_viewer_reads_them(viewer_client, path):
    assert viewer_client.get(path).status_code == 200


def test_anonymous_health_shows_only_the_status_of_each_part(client):
    body = client.get("/healthz").json()
    assert set(body) == {"status", "checks"}
    assert {name: set(check) for name, check in body["checks"].items()} == {
        "database": {"ok"},
        "broker": {"ok"},
        "storage": {"ok"},
        "workers": {"ok"},
    }


def test_a_viewer_sees_the_details_of_health(viewer_client):
    checks = viewer_client.get("/healthz").json()["checks"]
    assert checks["database"]["detail"] == "postgresql"
    assert set(checks["storage"]) == {"ok", "detail", "seconds"}


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_serializer_list_answers_only_reads(admin_client_role, method):
    assert getattr(admin_client_role, method)("/serializers/").status_code == 405
