"""The flows the web process lists and workers run: every Flow in the modules of FLOW_MODULES."""

from __future__ import annotations

import importlib
import inspect
import threading
from typing import Any

_registry: dict[str, Any] | None = None
_registry_modules: tuple[str, ...] | None = None
_guard = threading.Lock()


class FlowNotFoundError(LookupError):
    pass


class FlowRegistryError(RuntimeError):
    pass


def flow_registry(*, modules: list[str] | None = None) -> dict[str, Any]:
    """{flow name: Flow} from ``modules`` (default: settings.FLOW_MODULES), built once per module list."""
    global _registry, _registry_modules
    from apps.flows.decorators import Flow

    if modules is None:
        from django.conf import settings

        modules = list(settings.FLOW_MODULES)
    key = tuple(modules)
    with _guard:
        if _registry is not None and _registry_modules == key:
            return _registry
        registry: dict[str, Any] = {}
        for module_name in modules:
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:
                raise FlowRegistryError(
                    f"FLOW_MODULES names {module_name!r}, which cannot be imported: {exc}"
                ) from exc
            for value in vars(module).values():
                if not isinstance(value, Flow):
                    continue
                known = registry.get(value.name)
                if known is not None and known.fn is not value.fn:
                    raise FlowRegistryError(
                        f"two different flows are named {value.name!r} in FLOW_MODULES; give one another "
                        "name with @flow(name=...) or .with_options(name=...)"
                    )
                registry[value.name] = value
        _registry, _registry_modules = dict(sorted(registry.items())), key
        return _registry


def flow_registry_reset() -> None:
    global _registry, _registry_modules
    with _guard:
        _registry, _registry_modules = None, None


def flow_get(name: str) -> Any:
    registry = flow_registry()
    try:
        return registry[name]
    except KeyError:
        known = ", ".join(registry) or "none"
        raise FlowNotFoundError(f"no flow named {name!r} in FLOW_MODULES (known flows: {known})") from None


def flow_name_of(flow: Any) -> str | None:
    """The registry name under which ``flow`` (or a flow with the same function) is registered."""
    for name, registered in flow_registry().items():
        if registered is flow or (registered.fn is flow.fn and registered.name == flow.name):
            return name
    return None


def _annotation_label(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return ""
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def signature_parameters(signature: inspect.Signature) -> list[dict[str, Any]]:
    parameters = []
    for parameter in signature.parameters.values():
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        has_default = parameter.default is not inspect.Parameter.empty
        default = parameter.default if has_default else None
        try:
            import json

            json.dumps(default)
        except (TypeError, ValueError):
            default = repr(default)
        parameters.append(
            {
                "name": parameter.name,
                "type": _annotation_label(parameter.annotation),
                "required": not has_default,
                "default": default,
            }
        )
    return parameters


_CASTS = {"int": int, "float": float, "str": str, "bool": None, "": None}


def parameters_validate(flow: Any, raw: dict[str, Any], *, from_text: bool = False) -> dict[str, Any]:
    """Check ``raw`` against the flow's signature: unknown and missing names, and simple types.

    ``from_text`` converts strings (form fields, ``--param k=v``) to int/float/bool/JSON by annotation.
    Raises ValueError with every problem listed.
    """
    import json

    errors: list[str] = []
    schema = {parameter["name"]: parameter for parameter in signature_parameters(flow.signature)}
    if not isinstance(raw, dict):
        raise ValueError("parameters must be a JSON object of name: value")
    accepts_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in flow.signature.parameters.values())
    result: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in schema and not accepts_kwargs:
            errors.append(f"{name}: flow {flow.name!r} has no such parameter")
            continue
        kind = schema.get(name, {}).get("type", "")
        try:
            result[name] = _value_convert(value, kind=kind, from_text=from_text)
        except ValueError as exc:
            errors.append(f"{name}: {exc}")
    for name, parameter in schema.items():
        if parameter["required"] and name not in result and not any(e.startswith(f"{name}:") for e in errors):
            errors.append(f"{name}: required")
    try:
        json.dumps(result)
    except (TypeError, ValueError) as exc:
        errors.append(f"parameters must be JSON values: {exc}")
    if errors:
        raise ValueError("; ".join(errors))
    return result


def _value_convert(value: Any, *, kind: str, from_text: bool) -> Any:
    import json

    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if from_text and isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ValueError(f"expected a whole number, got {value!r}")
    if kind == "float":
        if isinstance(value, bool) or (isinstance(value, str) and not from_text):
            raise ValueError(f"expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected a number, got {value!r}") from None
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if (
            from_text
            and isinstance(value, str)
            and value.lower() in ("true", "false", "1", "0", "yes", "no", "on", "off")
        ):
            return value.lower() in ("true", "1", "yes", "on")
        raise ValueError(f"expected true or false, got {value!r}")
    if kind == "str":
        if not isinstance(value, str):
            raise ValueError(f"expected text, got {value!r}")
        return value
    if from_text and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
