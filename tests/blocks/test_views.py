"""Block pages: list, forms that follow the type, test connection, delete choices, permissions, no leaks."""

import logging

import pytest
from django.db import connection

from apps.blocks import services
from apps.blocks.models import StorageBlock
from apps.results.models import ResultReference

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def htmx_target(target):
    return {**HTMX, "HTTP_HX_TARGET": target}


@pytest.fixture
def local_block(tmp_path):
    return services.block_create(
        block_type="local-file-system", name="scratch", settings={"basepath": str(tmp_path)}
    )


def test_the_list_shows_type_slug_location_usage_and_last_use(
    viewer_client, local_block, django_assert_max_num_queries
):
    ResultReference.objects.create(block=local_block, storage_location="x", key="a", size_bytes=2048)
    ResultReference.objects.create(block=local_block, storage_location="x", key="b", size_bytes=2048)
    with django_assert_max_num_queries(6):
        response = viewer_client.get("/blocks/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "local-file-system/scratch" in html and "Local file system" in html
    assert local_block.settings["basepath"] in html
    assert "4.0\xa0KB" in html
    assert "never" in html
    assert "New block" not in html  # viewers browse only


def test_the_nav_links_blocks_and_serializers(viewer_client):
    html = viewer_client.get("/").content.decode()
    assert 'href="/blocks/"' in html and 'href="/serializers/"' in html


def test_the_create_form_follows_the_chosen_type(admin_client_role):
    s3 = admin_client_role.get("/blocks/new/?block_type=s3").content.decode()
    assert 'name="bucket_path"' in s3 and 'name="basepath"' not in s3
    local = admin_client_role.get("/blocks/new/?block_type=local-file-system").content.decode()
    assert 'name="basepath"' in local and 'name="bucket_path"' not in local
    assert "<noscript>" in local and 'value="choose"' in local


def test_htmx_swaps_only_the_type_fields(admin_client_role):
    response = admin_client_role.get(
        "/blocks/new/?block_type=remote-file-system", **htmx_target("type-fields")
    )
    html = response.content.decode()
    assert html.strip().startswith('<div id="type-fields"')
    assert 'name="options"' in html and "<html" not in html
    assert '<div id="usage-code" hx-swap-oob="true">' in html and "remote-file-system/NAME" in html


def test_continue_without_javascript_keeps_the_typed_name(admin_client_role):
    response = admin_client_role.post(
        "/blocks/new/", {"block_type": "local-file-system", "name": "typed", "_action": "choose"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="basepath"' in html and 'value="typed"' in html
    assert "This field is required" not in html


def test_creating_an_s3_block_stores_it_and_shows_its_page(admin_client_role, s3_form_data):
    response = admin_client_role.post("/blocks/new/", s3_form_data, follow=True)
    assert response.redirect_chain[-1][0] == "/blocks/s3/demo/"
    html = response.content.decode()
    assert "Storage block s3/demo created" in html
    block = StorageBlock.objects.get_by_slug("s3/demo")
    assert block.filesystem().aws_secret_access_key == s3_form_data["aws_secret_access_key"]
    assert block.created_by.groups.filter(name="admin").exists()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"bucket_path": "Not A Bucket"}, "bucket_path", "Invalid bucket name"),
        ({"endpoint_url": "", "region_name": ""}, "region_name", "The region is missing"),
        ({"aws_secret_access_key": ""}, "aws_secret_access_key", "Give the secret access key"),
        ({"name": "Bad Name"}, "name", "not a valid block name"),
    ],
)
def test_bad_input_gets_a_clear_message_next_to_its_field(
    admin_client_role, s3_form_data, changes, field, message
):
    response = admin_client_role.post("/blocks/new/", {**s3_form_data, **changes})
    assert response.status_code == 400
    assert message in response.context["form"].errors[field][0]
    assert message in response.content.decode()
    assert not StorageBlock.objects.exists()


def test_a_basepath_that_is_not_writable_is_refused(admin_client_role, tmp_path):
    (tmp_path / "file").write_text("x")
    response = admin_client_role.post(
        "/blocks/new/",
        {"block_type": "local-file-system", "name": "l", "basepath": str(tmp_path / "file" / "sub")},
    )
    assert response.status_code == 400
    assert "is not writable" in response.context["form"].errors["basepath"][0]


def test_test_connection_on_the_form_uses_the_typed_values_before_saving(admin_client_role, s3_form_data):
    response = admin_client_role.post(
        "/blocks/new/", {**s3_form_data, "_action": "test"}, **htmx_target("test-result")
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Connection works" in html and "<html" not in html
    assert not StorageBlock.objects.exists()


def test_test_connection_without_javascript_renders_the_whole_form(admin_client_role, s3_form_data):
    response = admin_client_role.post(
        "/blocks/new/", {**s3_form_data, "aws_secret_access_key": "wrong", "_action": "test"}
    )
    html = response.content.decode()
    assert (
        "<html" in html
        and "Connection failed" in html
        and "Could not connect to the storage with these settings" in html
    )


def test_test_connection_of_an_invalid_form_lists_what_to_fix(admin_client_role, s3_form_data):
    response = admin_client_role.post(
        "/blocks/new/", {**s3_form_data, "bucket_path": "", "_action": "test"}, **htmx_target("test-result")
    )
    assert response.status_code == 200
    assert "Fix the form before testing" in response.content.decode()


def test_editing_without_retyping_the_secret_keeps_it(admin_client_role, s3_form_data):
    admin_client_role.post("/blocks/new/", s3_form_data)
    page = admin_client_role.get("/blocks/s3/demo/edit/").content.decode()
    assert "Set; leave blank to keep." in page
    edit = {**s3_form_data, "aws_secret_access_key": "", "region_name": "us-east-1"}
    tested = admin_client_role.post(
        "/blocks/s3/demo/edit/", {**edit, "_action": "test"}, **htmx_target("test-result")
    )
    assert "Connection works" in tested.content.decode()
    response = admin_client_role.post("/blocks/s3/demo/edit/", edit)
    assert response.status_code == 302
    block = StorageBlock.objects.get_by_slug("s3/demo")
    assert block.settings["region_name"] == "us-east-1"
    assert block.filesystem().aws_secret_access_key == s3_form_data["aws_secret_access_key"]


def test_testing_a_saved_block_reports_in_words(admin_client_role, s3_form_data, silent_endpoint, settings):
    settings.BLOCKS_TEST_CONNECTION_TIMEOUT = 1
    admin_client_role.post("/blocks/new/", {**s3_form_data, "endpoint_url": silent_endpoint})
    partial = admin_client_role.post("/blocks/s3/demo/test/", **htmx_target("test-1"))
    assert partial.status_code == 200
    assert "Could not connect to the storage with these settings" in partial.content.decode()
    full = admin_client_role.post("/blocks/s3/demo/test/")
    assert full.status_code == 200 and "<html" in full.content.decode()
    assert "Connection failed" in full.content.decode()


def test_delete_of_a_block_in_use_shows_the_count_and_offers_keep_or_purge(admin_client_role, local_block):
    local_block.filesystem().write_path("a", b"abc")
    ResultReference.objects.create(
        block=local_block, storage_location=local_block.settings["basepath"], key="a", size_bytes=3
    )
    page = admin_client_role.get("/blocks/local-file-system/scratch/delete/").content.decode()
    assert "1 result" in page and 'value="detach"' in page and 'value="purge"' in page
    response = admin_client_role.post(
        "/blocks/local-file-system/scratch/delete/", {"references": "purge"}, follow=True
    )
    assert "Purged 1 result(s): 1 object(s) deleted" in response.content.decode()
    assert not StorageBlock.objects.exists()
    assert ResultReference.objects.get().purged_at is not None


def test_delete_with_keep_detaches(admin_client_role, local_block):
    ResultReference.objects.create(block=local_block, storage_location="/x", key="a")
    response = admin_client_role.post("/blocks/local-file-system/scratch/delete/", {"references": "detach"})
    assert response.status_code == 302
    assert ResultReference.objects.get().block is None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/blocks/new/"),
        ("post", "/blocks/new/"),
        ("get", "/blocks/local-file-system/scratch/edit/"),
        ("post", "/blocks/local-file-system/scratch/edit/"),
        ("post", "/blocks/local-file-system/scratch/test/"),
        ("get", "/blocks/local-file-system/scratch/delete/"),
        ("post", "/blocks/local-file-system/scratch/delete/"),
    ],
)
def test_viewers_and_operators_cannot_change_blocks(viewer_client, make_user, local_block, method, path):
    assert getattr(viewer_client, method)(path).status_code == 403
    viewer_client.force_login(make_user("operator"))
    assert getattr(viewer_client, method)(path).status_code == 403
    assert StorageBlock.objects.filter(pk=local_block.pk).exists()


def test_viewers_can_read_a_block_page_without_its_secret(viewer_client, s3_block_settings):
    services.block_create(block_type="s3", name="demo", settings=s3_block_settings)
    html = viewer_client.get("/blocks/s3/demo/").content.decode()
    assert "aws_secret_access_key" in html and ">set<" in html
    assert s3_block_settings["aws_secret_access_key"] not in html
    assert "Test connection" not in html


def test_a_secret_never_leaves_the_server_in_pages_or_logs(admin_client_role, s3_form_data, caplog):
    """The whole create, view, edit, test and delete flow, with every logger at DEBUG."""
    secret = s3_form_data["aws_secret_access_key"]
    caplog.set_level(logging.DEBUG)
    pages = [admin_client_role.post("/blocks/new/", {**s3_form_data, "_action": "test"})]
    pages.append(admin_client_role.post("/blocks/new/", s3_form_data, follow=True))
    for path in ("/blocks/", "/blocks/s3/demo/", "/blocks/s3/demo/edit/", "/blocks/s3/demo/delete/"):
        pages.append(admin_client_role.get(path))
    pages.append(
        admin_client_role.post(
            "/blocks/s3/demo/edit/", {**s3_form_data, "aws_secret_access_key": ""}, follow=True
        )
    )
    pages.append(admin_client_role.post("/blocks/s3/demo/edit/", {**s3_form_data, "name": "BAD"}))
    pages.append(admin_client_role.post("/blocks/s3/demo/test/"))
    pages.append(admin_client_role.post("/blocks/s3/demo/test/", **htmx_target("t")))
    with connection.cursor() as cursor:
        cursor.execute("SELECT settings, encrypted_secrets FROM blocks_storageblock")
        stored = cursor.fetchall()
    pages.append(admin_client_role.post("/blocks/s3/demo/delete/", {}, follow=True))
    assert all(page.status_code in (200, 400) for page in pages)
    assert sum("Connection works" in page.content.decode() for page in pages) == 3
    for page in pages:
        assert secret not in page.content.decode()
    assert stored and all(secret not in str(value) for value in stored[0])
    assert caplog.records, "the flow logged nothing at all: the check would prove nothing"
    assert all(secret not in record.getMessage() for record in caplog.records)
    assert all(secret not in str(record.args) for record in caplog.records)


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("path", ["/blocks/", "/blocks/local-file-system/scratch/"])
def test_the_list_and_the_detail_page_only_answer_get_and_head(admin_client_role, local_block, method, path):
    assert getattr(admin_client_role, method)(path).status_code == 405
    assert admin_client_role.head(path).status_code == 200
    assert StorageBlock.objects.filter(pk=local_block.pk).exists()
