"""The flows the web process lists and workers run: every Flow in the modules of FLOW_MODULES."""

from __future__ import annotations

import importlib
import threading
from typing import Any

from django.conf import settings

from apps.flows.decorators import Flow

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
    if modules is None:
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
