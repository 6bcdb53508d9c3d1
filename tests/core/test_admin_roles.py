"""The admin follows the roles of the pages, whatever Django model permissions a staff user holds."""

import json

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Permission

from apps.blocks import services
from apps.blocks.models import StorageBlock
from apps.core.admin import RoleAdminMixin, SuperuserAdminMixin

pytestmark = pytest.mark.django_db

BLOCKS = "/admin/blocks/storageblock/"


def every_permission(user, *app_labels):
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=app_labels))


@pytest.fixture
def staff(client, make_user):
    """staff("viewer") -> a client signed in as a staff member of that role holding every model
    permission of the project's apps and of accounts."""

    def sign_in(role):
        user = make_user(role, is_staff=True)
        every_permission(user, "blocks", "results", "flows", "auth", "authtoken")
        client.force_login(user)
        return user

    return sign_in


@pytest.fixture
def block(tmp_path):
    (tmp_path / "here").mkdir()
    return services.block_create(
        block_type="local-file-system", name="here", settings={"basepath": str(tmp_path / "here")}
    )


def change_basepath(client, block, basepath):
    form = {"name": block.name, "settings_json": json.dumps({"basepath": basepath})}
    return client.post(f"{BLOCKS}{block.pk}/change/", form)


def test_a_staff_viewer_with_the_change_permission_cannot_change_a_blocks_base_path(
    client, staff, block, tmp_path
):
    staff("viewer")
    assert change_basepath(client, block, str(tmp_path)).status_code == 403
    block.refresh_from_db()
    assert block.settings["basepath"] == str(tmp_path / "here")


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_below_the_admin_role_the_admin_shows_nothing(client, staff, block, role):
    staff(role)
    index = client.get("/admin/")
    assert index.status_code == 200 and index.context["app_list"] == []
    for path in (BLOCKS, f"{BLOCKS}add/", f"{BLOCKS}{block.pk}/change/", "/admin/results/serializerconfig/"):
        assert client.get(path).status_code == 403, path
    assert client.post(f"{BLOCKS}{block.pk}/delete/", {"post": "yes"}).status_code == 403
    assert StorageBlock.objects.filter(pk=block.pk).exists()


def test_a_staff_user_without_a_role_sees_nothing(client, staff, block):
    staff(None)
    index = client.get("/admin/")
    assert index.status_code == 200 and index.context["app_list"] == []
    assert client.get(BLOCKS).status_code == 403
    assert client.get(f"{BLOCKS}{block.pk}/change/").status_code == 403


def test_the_admin_role_needs_no_model_permission(client, make_user, block, tmp_path):
    client.force_login(make_user("admin", is_staff=True))
    assert change_basepath(client, block, str(tmp_path)).status_code == 302
    block.refresh_from_db()
    assert block.settings["basepath"] == str(tmp_path)


def test_a_role_without_staff_status_does_not_open_the_admin(client, make_user, block):
    client.force_login(make_user("admin"))
    assert client.get(BLOCKS).status_code == 302


def test_results_and_jobs_are_never_added_or_deleted_by_hand(client, staff):
    staff("admin")
    assert client.get("/admin/results/resultreference/").status_code == 200
    for path in ("resultreference", "cleanupjob", "purgeauditentry"):
        assert client.get(f"/admin/results/{path}/add/").status_code == 403, path
    listing = client.get("/admin/results/cleanupjob/")
    assert listing.status_code == 200 and listing.context["action_form"] is None  # read only: no actions


def test_only_superusers_manage_accounts_groups_and_tokens(client, staff, make_user):
    user = staff("admin")
    from django.contrib.auth.models import Group

    admin_group = Group.objects.get(name="admin")
    for path in ("auth/user/", f"auth/user/{user.pk}/change/", "auth/group/", "authtoken/tokenproxy/"):
        assert client.get(f"/admin/{path}").status_code == 403, path
    response = client.post(
        f"/admin/auth/user/{user.pk}/change/",
        {"username": user.username, "is_superuser": "on", "is_staff": "on", "groups": [admin_group.pk]},
    )
    assert response.status_code == 403
    user.refresh_from_db()
    assert not user.is_superuser

    client.force_login(make_user(None, is_staff=True, is_superuser=True))
    assert client.get("/admin/auth/user/").status_code == 200


def test_every_model_admin_decides_by_role():
    registered = [model for model in apps.get_models() if admin.site.is_registered(model)]
    assert len(registered) >= 9
    for model in registered:
        assert isinstance(admin.site.get_model_admin(model), RoleAdminMixin), model
    accounts = [model for model in registered if model._meta.app_label in ("auth", "authtoken")]
    assert len(accounts) == 3
    assert all(isinstance(admin.site.get_model_admin(model), SuperuserAdminMixin) for model in accounts)
