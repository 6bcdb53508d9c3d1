"""Flows the fault tests run on their workers (loaded through FLOW_MODULES)."""

from __future__ import annotations

import time
from pathlib import Path

from apps.flows import flow, task


@task(persist_result=True)
def step(number: int) -> int:
    time.sleep(0.05)
    return number * 2


@flow(name="fault-steps")
def fault_steps(marker_dir: str, steps: int = 5, seconds: float = 0.5) -> int:
    """Some persisted tasks, a pause, then a file in ``marker_dir`` saying the body is done (the
    run is recorded after that, when the test may have stopped the database)."""
    total = sum(step(number) for number in range(steps))
    time.sleep(seconds)
    Path(marker_dir, f"{time.monotonic_ns()}.done").touch()
    return total
