"""The persistence rules of DESIGN.md as plain functions (pure: no Django).

| persist_result | persisted? |
| True           | always |
| False          | never; retries or a cache key that need it fail with PersistenceDisabledError |
| None, task     | cache_key_fn, or retries, or its flow set persist_result=True, or the setting |
| None, flow     | retries, or result_storage / result_serializer set, or the setting |
"""

from __future__ import annotations

import re
from typing import Any

BLOCK_TYPE_SLUGS = ("local-file-system", "s3", "remote-file-system")
_BLOCK_SLUG = re.compile(
    r"^(" + "|".join(re.escape(s) for s in BLOCK_TYPE_SLUGS) + r")/[a-z0-9]+(?:-[a-z0-9]+)*$"
)


class PersistenceDisabledError(RuntimeError):
    """A feature needs the result persisted, and the task or flow says persist_result=False."""


class ConfigurationError(ValueError):
    """A decorator argument that cannot work (a bad storage, serializer or option)."""


def flow_should_persist(
    *,
    persist_result: bool | None,
    retries: int,
    result_storage: Any,
    result_serializer: Any,
    persist_by_default: bool,
) -> bool:
    if persist_result is not None:
        return persist_result
    return bool(retries) or result_storage is not None or result_serializer is not None or persist_by_default


def task_should_persist(
    *,
    persist_result: bool | None,
    has_cache_key_fn: bool,
    retries: int,
    flow_persist_result: bool | None,
    persist_by_default: bool,
) -> bool:
    """``flow_persist_result`` is what the flow *set* (True/False/None), not what it inferred."""
    if persist_result is not None:
        return persist_result
    return has_cache_key_fn or bool(retries) or flow_persist_result is True or persist_by_default


def storage_spec_kind(value: Any) -> str:
    """How a result_storage value is meant: "none", "block-slug", "url", "path" or "filesystem"."""
    if value is None:
        return "none"
    if isinstance(value, str):
        if not value.strip():
            raise ConfigurationError("result_storage is an empty string: give a block slug, a path or a URL")
        if _BLOCK_SLUG.match(value):
            return "block-slug"
        if "://" in value:
            return "url"
        return "path"
    if hasattr(value, "open_write") and hasattr(value, "read_path"):
        return "filesystem"
    import os

    if isinstance(value, os.PathLike):
        return "path"
    raise ConfigurationError(
        f"result_storage must be a block slug ('s3/prod'), a filesystem instance or a path, "
        f"not {type(value).__name__}"
    )


def retry_delay_for(*, retry_delay_seconds: float | list[float] | None, attempt: int) -> float:
    """The delay before retry number ``attempt`` (1-based); a list gives one delay per retry."""
    if retry_delay_seconds is None:
        return 0.0
    if isinstance(retry_delay_seconds, list | tuple):
        if not retry_delay_seconds:
            return 0.0
        return float(retry_delay_seconds[min(attempt, len(retry_delay_seconds)) - 1])
    return float(retry_delay_seconds)
