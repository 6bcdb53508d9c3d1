"""What the code of a running flow or task may ask about its run (as ``prefect.runtime``)."""

from __future__ import annotations

from typing import Any


def flow_run_current() -> Any:
    """The FlowRun row of the flow running in this context, or None outside a flow."""
    # Imported on first use: user code imports this module before Django is set up.
    from apps.flows.engine.context import flow_run_context_current

    context = flow_run_context_current()
    return None if context is None else context.flow_run


def flow_run_count() -> int:
    """Which attempt of the current flow run this is (1 for the first); 0 outside a flow."""
    run = flow_run_current()
    return 0 if run is None else run.run_count
