"""Named serializers: configs saved under a name, used from code by that name and chosen in forms."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from .models import SerializerConfig
from .serializers import (
    COMPRESSION_LIBRARIES,
    SerializationError,
    Serializer,
    UnknownSerializer,
    serializer_from,
)

SERIALIZER_TYPES = ("pickle", "json", "compressed")
PICKLE_LIBRARIES = ("cloudpickle", "pickle")
JSON_LIBRARIES = ("json", "orjson")
INNER_SERIALIZER_TYPES = ("pickle", "json")


class SerializerConfigNotFoundError(LookupError):
    def __init__(self, name: str) -> None:
        known = ", ".join(SerializerConfig.objects.order_by("name").values_list("name", flat=True)) or "none"
        super().__init__(f"no serializer config named {name!r}; the saved ones are: {known}")


class SerializerConfigInvalidError(ValueError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def serializer_config_build(
    *,
    type: str,
    picklelib: str = "cloudpickle",
    jsonlib: str = "json",
    compressionlib: str = "lzma",
    inner: str = "pickle",
) -> dict[str, Any]:
    """The serializer's JSON config (as written into result files) from the form's choices."""
    if type not in SERIALIZER_TYPES:
        raise SerializerConfigInvalidError(
            f"unknown serializer type {type!r}; choose {', '.join(SERIALIZER_TYPES)}", field="type"
        )
    if type == "compressed":
        if inner not in INNER_SERIALIZER_TYPES:
            raise SerializerConfigInvalidError(
                f"the inner serializer must be pickle or json, not {inner!r}", field="inner"
            )
        if compressionlib not in COMPRESSION_LIBRARIES:
            raise SerializerConfigInvalidError(
                f"unknown compression library {compressionlib!r}; choose {', '.join(COMPRESSION_LIBRARIES)}",
                field="compressionlib",
            )
        inner_config = serializer_config_build(type=inner, picklelib=picklelib, jsonlib=jsonlib)
        config = {"type": "compressed", "serializer": inner_config, "compressionlib": compressionlib}
    elif type == "pickle":
        if picklelib not in PICKLE_LIBRARIES:
            raise SerializerConfigInvalidError(
                f"unknown pickle library {picklelib!r}; choose {', '.join(PICKLE_LIBRARIES)}",
                field="picklelib",
            )
        config = {"type": "pickle", "picklelib": picklelib}
    else:
        if jsonlib not in JSON_LIBRARIES:
            raise SerializerConfigInvalidError(
                f"unknown JSON library {jsonlib!r}; choose {', '.join(JSON_LIBRARIES)}", field="jsonlib"
            )
        config = {"type": "json", "jsonlib": jsonlib}
    return serializer_config_normalize(config)


def serializer_config_normalize(config: dict[str, Any]) -> dict[str, Any]:
    """The config as the serializer itself writes it, or ``SerializerConfigInvalidError``."""
    if not isinstance(config, dict) or not isinstance(config.get("type"), str):
        raise SerializerConfigInvalidError(
            "a serializer config is a JSON object with a 'type'", field="config"
        )
    try:
        serializer = serializer_from(config)
    except (SerializationError, TypeError, ValueError) as exc:
        raise SerializerConfigInvalidError(f"not a usable serializer config: {exc}", field="config") from None
    if isinstance(serializer, UnknownSerializer):
        raise SerializerConfigInvalidError(f"unknown serializer type {config['type']!r}", field="type")
    return serializer.to_config()


def serializer_config_choices(config: dict[str, Any]) -> dict[str, str]:
    """The form's choices that produce ``config`` (the inverse of ``serializer_config_build``)."""
    choices = {
        "type": config.get("type", "pickle"),
        "picklelib": "cloudpickle",
        "jsonlib": "json",
        "compressionlib": "lzma",
        "inner": "pickle",
    }
    inner = config
    if str(choices["type"]).startswith("compressed"):
        choices["type"] = "compressed"
        choices["compressionlib"] = config.get("compressionlib", "lzma")
        inner = config.get("serializer") or {}
        choices["inner"] = inner.get("type", "pickle")
    if inner.get("type") == "pickle":
        choices["picklelib"] = inner.get("picklelib", "cloudpickle")
    elif inner.get("type") == "json":
        choices["jsonlib"] = inner.get("jsonlib", "json")
    return choices


def serializer_config_describe(config: dict[str, Any]) -> str:
    """A short human summary, e.g. "lzma-compressed pickle (cloudpickle)"."""
    kind = config.get("type", "?")
    if str(kind).startswith("compressed"):
        inner = config.get("serializer") or {}
        return f"{config.get('compressionlib', 'lzma')}-compressed {serializer_config_describe(inner)}"
    if kind == "pickle":
        return f"pickle ({config.get('picklelib', 'cloudpickle')})"
    if kind == "json":
        return f"JSON ({config.get('jsonlib', 'json')})"
    return str(kind)


def serializer_config_get(name: str) -> Serializer:
    """The serializer saved under ``name``: ``result_serializer=serializer_config_get("fast")``."""
    try:
        saved = SerializerConfig.objects.get(name=name)
    except SerializerConfig.DoesNotExist:
        raise SerializerConfigNotFoundError(name) from None
    return serializer_from(saved.config)


def serializer_config_save(
    *, name: str, config: dict[str, Any], description: str = "", instance: SerializerConfig | None = None
) -> SerializerConfig:
    name = (name or "").strip()
    if not name:
        raise SerializerConfigInvalidError("give the serializer config a name", field="name")
    if instance is not None and instance.builtin:
        raise SerializerConfigInvalidError(
            f"{instance.name!r} is built in and cannot be changed", field="name"
        )
    normalized = serializer_config_normalize(config)
    if SerializerConfig.objects.filter(name=name).exclude(pk=getattr(instance, "pk", None)).exists():
        raise SerializerConfigInvalidError(f"a serializer config named {name!r} already exists", field="name")
    saved = instance or SerializerConfig()
    saved.name, saved.config, saved.description = name, normalized, description
    try:
        with transaction.atomic():
            saved.save()
    except IntegrityError:
        raise SerializerConfigInvalidError(
            f"a serializer config named {name!r} already exists", field="name"
        ) from None
    return saved


def serializer_config_delete(*, config: SerializerConfig) -> None:
    if config.builtin:
        raise SerializerConfigInvalidError(f"{config.name!r} is built in and cannot be deleted")
    config.delete()


def serializer_configs_builtins_ensure() -> None:
    """Create the built-in configs if missing (after a database flush, as the migration does)."""
    import importlib

    migration = importlib.import_module("apps.results.migrations.0002_builtin_serializers")
    for name, config, description in migration.BUILTINS:
        SerializerConfig.objects.get_or_create(
            name=name, defaults={"config": config, "description": description, "builtin": True}
        )
