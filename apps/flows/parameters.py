"""A flow's parameters: their schema from the signature, validation of given values, and the JSON
recorded for a run (pure: no Django)."""

from __future__ import annotations

import inspect
import json
from typing import Any

PARAMETER_MAX_CHARS = 2000


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


def parameters_validate(flow: Any, raw: dict[str, Any], *, from_text: bool = False) -> dict[str, Any]:
    """Check ``raw`` against the flow's signature: unknown and missing names, and simple types.

    ``from_text`` converts strings (form fields, ``--param k=v``) to int/float/bool/JSON by annotation.
    Raises ValueError with every problem listed.
    """
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


def parameter_jsonable(value: Any, *, max_chars: int = PARAMETER_MAX_CHARS) -> Any:
    """A JSON value to record for a parameter; large or non-JSON values become a short description."""
    kind = type(value)
    if kind is int or kind is bool or value is None:
        return value
    if kind is str and len(value) * 6 + 2 <= max_chars:  # fits even with every character escaped
        return value
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError, RecursionError):
        text = None
    if text is not None and len(text) <= max_chars:
        return json.loads(text)
    description = repr(value) if text is None else text
    return {
        "__truncated__": True,
        "type": f"{type(value).__module__}.{type(value).__qualname__}",
        "preview": description[: max_chars // 4],
        "length": len(description),
    }


def parameters_jsonable(parameters: dict[str, Any]) -> dict[str, Any]:
    return {name: parameter_jsonable(value) for name, value in parameters.items()}
