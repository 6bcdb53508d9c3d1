"""Flows and tasks: ``from apps.flows import flow, task``.

Importing this package is light (no Django, no result machinery): the names below load on first
use, and Django is set up when a flow or task first runs (or when ``get_run_logger`` is imported).
"""

from typing import Any

__all__ = ["Flow", "Task", "flow", "get_run_logger", "states", "task", "task_input_hash", "unmapped"]


def __getattr__(name: str) -> Any:
    if name in ("flow", "task", "Flow", "Task", "unmapped"):
        from apps.flows import decorators

        return getattr(decorators, name)
    if name == "task_input_hash":
        from apps.flows.caching import task_input_hash

        return task_input_hash
    if name == "get_run_logger":
        from apps.core.django_setup import django_ensure

        django_ensure()
        from apps.flows.logs.capture import get_run_logger

        return get_run_logger
    if name == "states":
        import importlib

        return importlib.import_module("apps.flows.states")
    raise AttributeError(f"module 'apps.flows' has no attribute {name!r}")
