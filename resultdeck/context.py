"""``prefect.context`` for Resultdeck: ``get_run_context()``, ``FlowRunContext``, ``TaskRunContext``."""

from apps.flows.run_context import EngineContext, FlowRunContext, TaskRunContext, get_run_context

__all__ = ["EngineContext", "FlowRunContext", "TaskRunContext", "get_run_context"]
