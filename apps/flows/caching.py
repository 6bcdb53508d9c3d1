"""Cache key functions for ``@task(cache_key_fn=...)`` (pure)."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def task_input_hash(context: Any, arguments: dict[str, Any]) -> str | None:
    """A key from the task's name and its arguments: same task, same inputs, same key.

    Arguments that JSON cannot hold are hashed by their repr; a key is never built from a value
    whose repr changes between runs (such values simply miss the cache).
    """
    task_name = getattr(getattr(context, "task", None), "name", "")
    text = json.dumps({"task": task_name, "arguments": arguments}, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()
