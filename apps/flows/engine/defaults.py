"""The settings that decide what a run does when its decorator says nothing."""

from __future__ import annotations

from django.conf import settings


def persist_by_default() -> bool:
    """Whether results are persisted when ``persist_result`` is None and no rule asks for it.

    ``RESULTS_PERSIST_BY_DEFAULT``, or a configured default storage block: as in Prefect 3.9.1,
    naming a block for results says they are wanted there.
    """
    return settings.RESULTS_PERSIST_BY_DEFAULT or bool(settings.RESULTS_DEFAULT_STORAGE_BLOCK)
