"""Every page and endpoint needs a signed-in user; CSRF stays on."""

import pytest
from django.test import Client

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

API = ["/api/", "/api/schema/"]


@pytest.mark.parametrize("path", ["/"])
def test_anonymous_page_request_redirects_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_anonymous_admin_request_redirects_to_admin_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]


@pytest.mark.parametrize("path", API)
def test_anonymous_api_request_is_401_with_a_token_challenge(client, path):
    response = client.get(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")


def test_api_accepts_a_token(client, make_user):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=make_user("viewer"))
    response = client.get("/api/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200


def test_token_endpoint_issues_a_token_for_valid_credentials(client, make_user):
    user = make_user("viewer")
    response = client.post("/api/token/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 200
    assert len(response.json()["token"]) == 40


def test_signed_in_user_sees_the_dashboard_with_navigation(viewer_client):
    response = viewer_client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Dashboard" in html
    assert "API docs" in html
    assert 'name="csrfmiddlewaretoken"' in html  # the sign-out form posts with a token


def test_login_page_signs_a_user_in(client, make_user):
    user = make_user("viewer")
    response = client.post("/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_login_page_rejects_a_wrong_password(client, make_user):
    user = make_user("viewer")
    response = client.post("/login/", {"username": user.username, "password": "nope"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()


def test_forged_post_without_csrf_token_is_rejected(make_user):
    user = make_user("viewer")
    forger = Client(enforce_csrf_checks=True)
    forger.force_login(user)
    response = forger.post("/logout/")
    assert response.status_code == 403
    # The session survived: the forged logout did nothing.
    assert forger.get("/").status_code == 200


def test_forged_login_post_without_csrf_token_is_rejected(make_user):
    user = make_user("viewer")
    forger = Client(enforce_csrf_checks=True)
    response = forger.post("/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 403


def test_forged_api_write_with_a_session_but_no_csrf_token_is_rejected(make_user):
    forger = Client(enforce_csrf_checks=True)
    forger.force_login(make_user("admin"))
    response = forger.post("/api/", {})
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_roles_exist_as_groups(db):
    from django.contrib.auth.models import Group

    assert set(Group.objects.values_list("name", flat=True)) >= {"viewer", "operator", "admin"}


def test_role_hierarchy(make_user):
    from apps.core.roles import Role, user_has_role

    operator = make_user("operator")
    assert user_has_role(operator, Role.VIEWER)
    assert user_has_role(operator, Role.OPERATOR)
    assert not user_has_role(operator, Role.ADMIN)
    nobody = make_user(None)
    assert not user_has_role(nobody, Role.VIEWER)
