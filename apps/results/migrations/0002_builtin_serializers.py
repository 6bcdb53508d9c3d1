"""The built-in serializer configs. The configs are spelled out (not built by app code) so this
migration means the same thing forever, whatever the serializers module becomes."""

from django.db import migrations

PICKLE = {"type": "pickle", "picklelib": "cloudpickle", "picklelib_version": None}
JSON = {
    "type": "json",
    "jsonlib": "json",
    "object_encoder": "prefect.serializers.prefect_json_object_encoder",
    "object_decoder": "prefect.serializers.prefect_json_object_decoder",
    "dumps_kwargs": {},
    "loads_kwargs": {},
}
BUILTINS = [
    ("pickle", PICKLE, "cloudpickle: any Python object (the default)."),
    ("json", JSON, "JSON with the standard library: readable anywhere."),
    ("orjson", {**JSON, "jsonlib": "orjson"}, "JSON through orjson: faster, same files."),
    (
        "compressed/pickle",
        {"type": "compressed/pickle", "serializer": PICKLE, "compressionlib": "lzma"},
        "cloudpickle, lzma-compressed.",
    ),
    (
        "compressed/json",
        {"type": "compressed/json", "serializer": JSON, "compressionlib": "lzma"},
        "JSON, lzma-compressed.",
    ),
]


def builtins_create(apps, schema_editor):
    SerializerConfig = apps.get_model("results", "SerializerConfig")
    for name, config, description in BUILTINS:
        SerializerConfig.objects.update_or_create(
            name=name, defaults={"config": config, "description": description, "builtin": True}
        )


def builtins_delete(apps, schema_editor):
    SerializerConfig = apps.get_model("results", "SerializerConfig")
    SerializerConfig.objects.filter(name__in=[name for name, _, _ in BUILTINS], builtin=True).delete()


class Migration(migrations.Migration):
    dependencies = [("results", "0001_initial")]

    operations = [migrations.RunPython(builtins_create, builtins_delete)]
