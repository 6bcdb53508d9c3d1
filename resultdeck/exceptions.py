"""``prefect.exceptions`` for Resultdeck: the errors of runs and their results."""

from apps.flows.exceptions import (
    CancelledRun,
    CrashedRun,
    FailedRun,
    MissingContextError,
    MissingResult,
    PausedRun,
    PrefectException,
    UnfinishedRun,
)

__all__ = [
    "CancelledRun",
    "CrashedRun",
    "FailedRun",
    "MissingContextError",
    "MissingResult",
    "PausedRun",
    "PrefectException",
    "UnfinishedRun",
]
