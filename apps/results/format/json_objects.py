"""The JSON object hooks: Prefect's ``__class__``/``__exc_type__`` encoding, and what may be rebuilt.

Pure module: no Django. ``json_object_encode`` is Prefect's ``prefect_json_object_encoder``.
``json_object_decode`` is its ``prefect_json_object_decoder``; how far it goes depends on the
process's ``decode_trust()``:

* ``CODE``: exactly Prefect's decoder: the class a ``__class__`` names is imported and the data
  validated into it; an ``__exc_type__`` that does not import, or is not an exception, raises
  ``ValueError``.
* ``WEB``: objects are rebuilt only for an allowlist: the standard types Prefect writes
  (datetime, UUID, Decimal, set, bytes, paths, ...), plus pydantic models, dataclasses and enums
  whose module is *already imported* in this process or was allowed with
  ``allow_json_module``/``allow_json_class``. Nothing else is imported because a JSON file names
  it; an object that is not allowed stays a plain dict (the reference decoder's own fallback when
  a class cannot be imported).

Hooks are named in configs by dotted path (``object_encoder``/``object_decoder``). Registered
names (Prefect's own two, and ``register_json_object_hook``) resolve to their functions
everywhere; any other path is imported only under ``CODE`` trust.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import io
import sys
from collections.abc import Callable
from typing import Any

from .errors import SerializationError, SerializerConfigError
from .trust import DecodeTrust, decode_trust

PREFECT_JSON_OBJECT_ENCODER = "prefect.serializers.prefect_json_object_encoder"
PREFECT_JSON_OBJECT_DECODER = "prefect.serializers.prefect_json_object_decoder"
_JSON_STANDARD_CLASSES = frozenset(
    {
        "datetime.datetime",
        "datetime.date",
        "datetime.time",
        "datetime.timedelta",
        "uuid.UUID",
        "decimal.Decimal",
        "fractions.Fraction",
        "builtins.set",
        "builtins.frozenset",
        "builtins.bytes",
        "builtins.bytearray",
        "builtins.tuple",
        "builtins.complex",
        "pathlib.Path",
        "pathlib.PosixPath",
        "pathlib.WindowsPath",
        "pathlib.PurePath",
        "pathlib.PurePosixPath",
        "pathlib.PureWindowsPath",
        "ipaddress.IPv4Address",
        "ipaddress.IPv6Address",
        "ipaddress.IPv4Network",
        "ipaddress.IPv6Network",
        "ipaddress.IPv4Interface",
        "ipaddress.IPv6Interface",
        "collections.deque",
        "collections.OrderedDict",
    }
)
_json_allowed_classes: set[str] = set()
_json_allowed_modules: set[str] = set()
_json_type_adapters: dict[type, Any] = {}


def allow_json_class(target: str | type) -> None:
    """Let JSON ``__class__``/``__exc_type__`` objects of exactly this class be rebuilt.

    The class's module may be imported for it. Any class named this way is trusted.
    """
    name = target if isinstance(target, str) else f"{target.__module__}.{target.__qualname__}"
    _json_allowed_classes.add(name)


def allow_json_module(module: str) -> None:
    """Let pydantic models, dataclasses, enums and exceptions of ``module`` (and its
    submodules) be rebuilt from JSON, importing the module if needed."""
    _json_allowed_modules.add(module)


def _module_allowed(module: str) -> bool:
    return any(module == allowed or module.startswith(allowed + ".") for allowed in _json_allowed_modules)


def qualified_name_import(name: str) -> Any:
    """Prefect's ``from_qualified_name``: a module, or an attribute of the module before the last dot."""
    try:
        return importlib.import_module(name)
    except ImportError:
        if "." not in name:
            raise
    module_name, _, attribute = name.rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)


def _resolve_qualified(name: str, *, may_import: bool) -> Any:
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        module = sys.modules.get(module_name)
        if module is None and may_import:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                module = None
        if module is None:
            continue
        obj = module
        try:
            for attr in parts[split:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _is_rebuildable_class(obj: Any) -> bool:
    if not isinstance(obj, type):
        return False
    if dataclasses.is_dataclass(obj) or issubclass(obj, enum.Enum):
        return True
    try:
        from pydantic import BaseModel
    except ImportError:  # pragma: no cover - pydantic is a dependency
        return False
    return issubclass(obj, BaseModel)


def json_class_resolve(name: Any) -> type | None:
    """The class a JSON ``__class__`` may be rebuilt as, or None when it is not allowed."""
    if not isinstance(name, str) or "." not in name:
        return None
    explicit = name in _JSON_STANDARD_CLASSES or name in _json_allowed_classes
    module_allowed = _module_allowed(name.rpartition(".")[0])
    obj = _resolve_qualified(name, may_import=explicit or module_allowed)
    if not isinstance(obj, type):
        return None
    if explicit or _is_rebuildable_class(obj):
        return obj
    return None


def json_exception_resolve(name: Any) -> type[BaseException] | None:
    if not isinstance(name, str) or "." not in name:
        return None
    may_import = name in _json_allowed_classes or _module_allowed(name.rpartition(".")[0])
    obj = _resolve_qualified(name, may_import=may_import)
    if isinstance(obj, type) and issubclass(obj, BaseException):
        return obj
    return None


def _type_adapter(cls: type):
    adapter = _json_type_adapters.get(cls)
    if adapter is None:
        from pydantic import TypeAdapter

        adapter = _json_type_adapters[cls] = TypeAdapter(cls)
    return adapter


def qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _importable_class(cls: type) -> type:
    # A parametrized pydantic generic (``Page[int]``) is named by its origin, which imports.
    metadata = getattr(cls, "__pydantic_generic_metadata__", None)
    origin = metadata.get("origin") if metadata else None
    return origin if origin is not None else cls


def json_object_encode(obj: Any) -> Any:
    """Prefect's ``prefect_json_object_encoder``: the ``default=`` hook of json.dumps."""
    if isinstance(obj, BaseException):
        return {"__exc_type__": qualified_name(type(obj)), "message": str(obj)}
    if isinstance(obj, io.IOBase):
        return {
            "__class__": qualified_name(type(obj)),
            "data": (
                f"<Prefect IOStream Placeholder: type={type(obj).__name__}, "
                f"repr={obj!r} (original content not read)>"
            ),
        }
    from pydantic import BaseModel
    from pydantic_core import to_jsonable_python

    data = obj.model_dump(mode="json") if isinstance(obj, BaseModel) else to_jsonable_python(obj)
    return {"__class__": qualified_name(_importable_class(type(obj))), "data": data}


def json_object_decode(value: dict) -> Any:
    """Prefect's ``prefect_json_object_decoder``, as far as this process's trust allows."""
    if decode_trust() is DecodeTrust.CODE:
        return _json_object_decode_trusted(value)
    if "__class__" in value:
        cls = json_class_resolve(value["__class__"])
        if cls is None or "data" not in value:
            return value
        try:
            return _type_adapter(cls).validate_python(value["data"])
        except Exception as exc:
            raise SerializationError(f"cannot rebuild {value['__class__']} from JSON data: {exc}") from exc
    if "__exc_type__" in value:
        exc_type = json_exception_resolve(value["__exc_type__"])
        if exc_type is None or "message" not in value:
            return value
        try:
            return exc_type(value["message"])
        except Exception as exc:
            raise SerializationError(f"cannot rebuild exception {value['__exc_type__']}: {exc}") from exc
    return value


def _json_object_decode_trusted(value: dict) -> Any:
    if "__class__" in value:
        try:
            cls = qualified_name_import(value["__class__"])
        except (ImportError, AttributeError):
            return value
        return _type_adapter(cls).validate_python(value["data"])
    if "__exc_type__" in value:
        try:
            exc_type = qualified_name_import(value["__exc_type__"])
        except (ImportError, AttributeError):
            raise ValueError(f"Invalid exception type: {value['__exc_type__']!r}") from None
        if not (isinstance(exc_type, type) and issubclass(exc_type, BaseException)):
            raise ValueError(f"Invalid exception type: {value['__exc_type__']!r}")
        return exc_type(value["message"])
    return value


_JSON_OBJECT_ENCODERS: dict[str, Callable[[Any], Any]] = {PREFECT_JSON_OBJECT_ENCODER: json_object_encode}
_JSON_OBJECT_DECODERS: dict[str, Callable[[dict], Any]] = {PREFECT_JSON_OBJECT_DECODER: json_object_decode}


def register_json_object_hook(
    name: str,
    *,
    encoder: Callable[[Any], Any] | None = None,
    decoder: Callable[[dict], Any] | None = None,
) -> None:
    """Bind a dotted name used in configs (``object_encoder``/``object_decoder``) to a function,
    so that it resolves in every process, the web process included."""
    if encoder is not None:
        _JSON_OBJECT_ENCODERS[name] = encoder
    if decoder is not None:
        _JSON_OBJECT_DECODERS[name] = decoder


def json_hook_resolve(name: str | None, *, kind: str) -> Callable | None:
    """The function an ``object_encoder`` (kind "encoder") or ``object_decoder`` names."""
    if name is None:
        return None
    registry = _JSON_OBJECT_ENCODERS if kind == "encoder" else _JSON_OBJECT_DECODERS
    hook = registry.get(name)
    if hook is not None:
        return hook
    if decode_trust() is not DecodeTrust.CODE:
        raise SerializerConfigError(
            f"object_{kind} {name!r} is not registered (register_json_object_hook), and this process "
            "does not import hooks a config names"
        )
    try:
        hook = qualified_name_import(name)
    except (ImportError, AttributeError) as exc:
        raise SerializerConfigError(f"object_{kind} {name!r} cannot be imported: {exc}") from None
    if not callable(hook):
        raise SerializerConfigError(f"object_{kind} {name!r} is not callable")
    return hook


def json_hook_apply(value: Any, hook: Callable[[dict], Any]) -> Any:
    """Apply a ``json.loads`` object_hook bottom-up to an already parsed tree."""
    if isinstance(value, list):
        return [json_hook_apply(item, hook) for item in value]
    if isinstance(value, dict):
        return hook({key: json_hook_apply(item, hook) for key, item in value.items()})
    return value


__all__ = [
    "PREFECT_JSON_OBJECT_DECODER",
    "PREFECT_JSON_OBJECT_ENCODER",
    "allow_json_class",
    "allow_json_module",
    "json_class_resolve",
    "json_exception_resolve",
    "json_hook_apply",
    "json_hook_resolve",
    "json_object_decode",
    "json_object_encode",
    "qualified_name",
    "qualified_name_import",
    "register_json_object_hook",
]
