"""Named serializer configs: the built-ins, use by name from code, forms, API and permissions."""

import pytest

from apps.results.models import SerializerConfig
from apps.results.serializer_configs import (
    SerializerConfigInvalidError,
    SerializerConfigNotFoundError,
    serializer_config_build,
    serializer_config_choices,
    serializer_config_get,
    serializer_configs_builtins_ensure,
)
from apps.results.serializers import CompressedSerializer, JSONSerializer, PickleSerializer

pytestmark = pytest.mark.django_db

ENCODER = "prefect.serializers.prefect_json_object_encoder"


@pytest.fixture(autouse=True)
def builtins():
    # Transactional tests elsewhere flush the table the data migration filled.
    serializer_configs_builtins_ensure()


def test_the_builtins_are_the_prefect_configs():
    configs = {c.name: c.config for c in SerializerConfig.objects.filter(builtin=True)}
    assert set(configs) == {"pickle", "json", "orjson", "compressed/pickle", "compressed/json"}
    assert configs["pickle"] == {"type": "pickle", "picklelib": "cloudpickle", "picklelib_version": None}
    assert configs["orjson"]["jsonlib"] == "orjson" and configs["orjson"]["object_encoder"] == ENCODER
    assert configs["compressed/json"]["serializer"] == configs["json"]
    assert configs["compressed/pickle"]["compressionlib"] == "lzma"


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("pickle", PickleSerializer),
        ("json", JSONSerializer),
        ("orjson", JSONSerializer),
        ("compressed/pickle", CompressedSerializer),
        ("compressed/json", CompressedSerializer),
    ],
)
def test_each_builtin_is_usable_by_name_and_round_trips(name, cls):
    serializer = serializer_config_get(name)
    assert isinstance(serializer, cls)
    value = {"text": "héllo", "n": [1, 2.5, None, True]}
    assert serializer.loads(serializer.dumps(value)) == value


def test_an_unknown_name_lists_the_saved_ones():
    with pytest.raises(SerializerConfigNotFoundError, match=r"no serializer config named 'fast'; .*orjson"):
        serializer_config_get("fast")


def test_build_and_choices_are_inverses():
    config = serializer_config_build(type="compressed", inner="json", jsonlib="orjson", compressionlib="gzip")
    assert config["type"] == "compressed" and config["compressionlib"] == "gzip"
    assert config["serializer"]["jsonlib"] == "orjson"
    choices = serializer_config_choices(config)
    assert serializer_config_build(**choices) == config
    with pytest.raises(SerializerConfigInvalidError, match="unknown compression library 'rar'"):
        serializer_config_build(type="compressed", compressionlib="rar")


def test_admins_create_edit_and_delete_configs_in_pages(admin_client_role):
    assert admin_client_role.get("/serializers/new/").status_code == 200
    response = admin_client_role.post(
        "/serializers/new/",
        {
            "name": "fast-json",
            "description": "",
            "type": "json",
            "inner": "pickle",
            "compressionlib": "lzma",
            "picklelib": "cloudpickle",
            "jsonlib": "orjson",
        },
    )
    assert response.status_code == 302
    config = SerializerConfig.objects.get(name="fast-json")
    assert config.config["jsonlib"] == "orjson" and not config.builtin
    edit_page = admin_client_role.get(f"/serializers/{config.pk}/edit/").content.decode()
    assert 'value="orjson" selected' in edit_page
    response = admin_client_role.post(
        f"/serializers/{config.pk}/edit/",
        {
            "name": "fast-json",
            "description": "zipped",
            "type": "compressed",
            "inner": "json",
            "compressionlib": "bz2",
            "picklelib": "cloudpickle",
            "jsonlib": "orjson",
        },
    )
    assert response.status_code == 302
    assert serializer_config_get("fast-json").to_config()["compressionlib"] == "bz2"
    assert admin_client_role.post(f"/serializers/{config.pk}/delete/").status_code == 302
    assert not SerializerConfig.objects.filter(name="fast-json").exists()


def test_the_list_shows_every_config_and_builtins_cannot_change(admin_client_role):
    html = admin_client_role.get("/serializers/").content.decode()
    assert "compressed/json" in html and "lzma-compressed JSON (json)" in html and "built in" in html
    builtin = SerializerConfig.objects.get(name="pickle")
    assert admin_client_role.get(f"/serializers/{builtin.pk}/edit/").status_code == 302
    response = admin_client_role.post(f"/serializers/{builtin.pk}/delete/")
    assert response.status_code == 400 and "built in" in response.content.decode()
    duplicate = admin_client_role.post(
        "/serializers/new/",
        {
            "name": "json",
            "type": "json",
            "inner": "pickle",
            "compressionlib": "lzma",
            "picklelib": "cloudpickle",
            "jsonlib": "json",
        },
    )
    assert duplicate.status_code == 400 and "already exists" in duplicate.content.decode()


def test_viewers_browse_but_cannot_change(viewer_client):
    config = SerializerConfig.objects.get(name="json")
    assert viewer_client.get("/serializers/").status_code == 200
    assert "New serializer" not in viewer_client.get("/serializers/").content.decode()
    for path in ("/serializers/new/", f"/serializers/{config.pk}/delete/"):
        assert viewer_client.get(path).status_code == 403
        assert viewer_client.post(path).status_code == 403
    assert viewer_client.get("/api/serializers/").status_code == 200
    assert (
        viewer_client.post(
            "/api/serializers/", {"name": "x", "config": {"type": "json"}}, content_type="application/json"
        ).status_code
        == 403
    )


def test_the_api_normalises_configs_and_refuses_bad_ones(admin_client_role):
    response = admin_client_role.post(
        "/api/serializers/",
        {
            "name": "gz",
            "config": {"type": "compressed", "serializer": {"type": "json"}, "compressionlib": "gzip"},
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["config"]["serializer"]["object_encoder"] == ENCODER
    assert body["summary"] == "gzip-compressed JSON (json)"
    bad = admin_client_role.post(
        "/api/serializers/", {"name": "bad", "config": {"type": "nope"}}, content_type="application/json"
    )
    assert bad.status_code == 400 and "unknown serializer type" in bad.json()["type"][0]
    builtin = SerializerConfig.objects.get(name="pickle")
    assert admin_client_role.delete(f"/api/serializers/{builtin.pk}/").status_code == 400
    assert admin_client_role.delete(f"/api/serializers/{body['id']}/").status_code == 204
