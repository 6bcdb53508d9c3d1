"""Path mappings on the connection page: added, changed and removed in place by htmx, and by plain
form posts without JavaScript; admins only, CSRF checked; and the same through the API."""

import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.blocks.models import BlockType
from apps.blocks.services import block_create
from apps.prefect_servers.models import PathMapping
from apps.prefect_servers.services import connection_save
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "path-mappings"}


@pytest.fixture
def setup(tmp_path):
    connection = connection_save(name="lab", api_url="http://127.0.0.1:9/api")
    here = block_create(block_type=BlockType.LOCAL, name="here", settings={"basepath": str(tmp_path / "a")})
    there = block_create(block_type=BlockType.LOCAL, name="there", settings={"basepath": str(tmp_path / "b")})
    return connection, here, there


def test_htmx_adds_changes_and_removes_a_mapping_in_place(setup, admin_client_role):
    connection, here, there = setup
    added = admin_client_role.post(
        "/prefect-servers/lab/mappings/",
        {"path_prefix": "/home/ada/.prefect/storage/", "block": here.pk},
        **HTMX,
    )
    body = added.content.decode()
    assert added.status_code == 200 and "<html" not in body and 'id="path-mappings"' in body
    mapping = PathMapping.objects.get(connection=connection)
    assert mapping.path_prefix == "/home/ada/.prefect/storage" and mapping.block == here
    assert "/home/ada/.prefect/storage is mapped." in body

    editing = admin_client_role.get(f"/prefect-servers/mappings/{mapping.pk}/", **HTMX).content.decode()
    assert 'name="edit-path_prefix"' in editing and "<html" not in editing
    changed = admin_client_role.post(
        f"/prefect-servers/mappings/{mapping.pk}/",
        {"edit-path_prefix": "/srv/prefect", "edit-block": there.pk},
        **HTMX,
    )
    mapping.refresh_from_db()
    assert changed.status_code == 200 and (mapping.path_prefix, mapping.block) == ("/srv/prefect", there)
    assert "local-file-system/there" in changed.content.decode()

    removed = admin_client_role.post(f"/prefect-servers/mappings/{mapping.pk}/delete/", **HTMX)
    assert removed.status_code == 200 and not PathMapping.objects.exists()
    assert "is removed" in removed.content.decode()


def test_without_javascript_the_forms_post_and_the_page_comes_back(setup, admin_client_role):
    connection, here, there = setup
    added = admin_client_role.post(
        "/prefect-servers/lab/mappings/", {"path_prefix": "/data", "block": here.pk}
    )
    assert added.status_code == 302 and added["Location"] == "/prefect-servers/lab/#path-mappings"
    mapping = PathMapping.objects.get(connection=connection)
    edit_page = admin_client_role.get(f"/prefect-servers/mappings/{mapping.pk}/").content.decode()
    assert "<html" in edit_page and 'name="edit-path_prefix"' in edit_page and 'value="/data"' in edit_page
    changed = admin_client_role.post(
        f"/prefect-servers/mappings/{mapping.pk}/", {"edit-path_prefix": "/data2", "edit-block": there.pk}
    )
    assert changed.status_code == 302
    page = admin_client_role.get(changed["Location"]).content.decode()
    assert "/data2" in page and "The mapping of /data2 is saved." in page
    assert admin_client_role.post(f"/prefect-servers/mappings/{mapping.pk}/delete/").status_code == 302
    assert not PathMapping.objects.exists()


def test_a_relative_or_taken_prefix_is_refused_beside_the_field(setup, admin_client_role):
    connection, here, _ = setup
    relative = admin_client_role.post(
        "/prefect-servers/lab/mappings/", {"path_prefix": "storage", "block": here.pk}
    )
    assert relative.status_code == 400 and "must be an absolute path" in relative.content.decode()
    assert "<html" in relative.content.decode()  # the whole page, with the form's error
    admin_client_role.post(
        "/prefect-servers/lab/mappings/", {"path_prefix": "/data", "block": here.pk}, **HTMX
    )
    taken = admin_client_role.post(
        "/prefect-servers/lab/mappings/", {"path_prefix": "/data/", "block": here.pk}, **HTMX
    )
    assert taken.status_code == 400 and "/data is already mapped" in taken.content.decode()
    assert PathMapping.objects.filter(connection=connection).count() == 1


def test_mappings_are_for_admins_and_posts_need_the_csrf_token(setup, make_user):
    connection, here, _ = setup
    operator = Client()
    operator.force_login(make_user("operator"))
    form = {"path_prefix": "/data", "block": here.pk}
    assert operator.post("/prefect-servers/lab/mappings/", form).status_code == 403
    admin = Client(enforce_csrf_checks=True)
    admin.force_login(make_user("admin"))
    assert admin.post("/prefect-servers/lab/mappings/", form).status_code == 403
    page = admin.get("/prefect-servers/lab/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert "hx-headers" in page  # htmx sends the token as a header
    sent = admin.post("/prefect-servers/lab/mappings/", form, HTTP_X_CSRFTOKEN=token, **HTMX)
    assert sent.status_code == 200 and PathMapping.objects.filter(connection=connection).exists()


def test_the_api_edits_mappings_with_the_pages_rules(setup):
    connection = setup[0]
    api = APIClient()
    api.force_authenticate(UserFactory(role="admin"))
    made = api.post(
        "/api/prefect-path-mappings/",
        {"connection": str(connection.pk), "path_prefix": "/data/", "block": "local-file-system/here"},
        format="json",
    )
    assert made.status_code == 201, made.json()
    assert made.json()["path_prefix"] == "/data" and made.json()["block"] == "local-file-system/here"
    again = api.post(
        "/api/prefect-path-mappings/",
        {"connection": str(connection.pk), "path_prefix": "/data", "block": "local-file-system/there"},
        format="json",
    )
    assert again.status_code == 400 and "already mapped" in str(again.json())
    url = f"/api/prefect-path-mappings/{made.json()['id']}/"
    assert (
        api.patch(url, {"block": "local-file-system/there"}, format="json").json()["block"].endswith("there")
    )
    assert api.patch(url, {"block": "s3/none"}, format="json").status_code == 400
    listed = api.get("/api/prefect-path-mappings/", {"connection": str(connection.pk)}).json()
    assert [row["path_prefix"] for row in listed["results"]] == ["/data"]
    assert api.delete(url).status_code == 204 and not PathMapping.objects.exists()
