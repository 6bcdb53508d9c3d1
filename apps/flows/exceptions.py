"""The exceptions of runs and their results, named as Prefect names them (pure: no Django).

``state.result()`` raises ``FailedRun``, ``CrashedRun`` or ``CancelledRun`` for a failed run that
holds no exception of its own, ``UnfinishedRun`` before a run is final and ``MissingResult`` when
a result was neither kept in memory nor persisted.
"""

from __future__ import annotations

from typing import Any


class PrefectException(Exception):
    """Base class of the SDK's run and result errors (Prefect's name, so ``except`` clauses carry over)."""


class CrashedRun(PrefectException):
    """The result of a crashed run was asked for and it holds no exception."""


class FailedRun(PrefectException):
    """The result of a failed run was asked for and it holds no exception."""


class CancelledRun(PrefectException):
    """The result of a cancelled run was asked for and it holds no exception."""


class PausedRun(PrefectException):
    """The result of a paused run was asked for."""

    def __init__(self, *args: Any, state: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = state


class UnfinishedRun(PrefectException):
    """The result of a run that is not final (scheduled, pending, running, cancelling) was asked for."""


class MissingResult(PrefectException):
    """The state holds no result: it was neither kept in memory nor persisted."""


class MissingContextError(PrefectException, RuntimeError):
    """Something that needs a running flow or task was called outside one."""
