"""Where results go: a storage and a serializer from what a flow or task names, and the lock managers.

The engine asks here once per run (and caches the answers); the persistence rules of DESIGN.md
decide the defaults.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from django.conf import settings

from apps.blocks.filesystems import LocalFileSystem, RemoteFileSystem
from apps.blocks.services import block_load
from apps.results.defaults import default_result_storage
from apps.results.locking import FileSystemLockManager, RedisLockManager
from apps.results.serializer_configs import SerializerConfigNotFoundError, serializer_config_get
from apps.results.serializers import UnknownSerializerError, serializer_from


class ResultTargetError(ValueError):
    """A named storage or serializer that does not exist."""


def storage_resolve(
    *,
    block_slug: str | None = None,
    url: str | None = None,
    path: str | os.PathLike | None = None,
    filesystem: Any = None,
) -> tuple[Any, Any]:
    """(filesystem, saved block id or None) for at most one of the arguments; none means the default."""
    if block_slug is not None:
        try:
            storage = block_load(block_slug)
        except Exception as exc:
            raise ResultTargetError(str(exc)) from exc
    elif url is not None:
        storage = RemoteFileSystem(basepath=url)
    elif path is not None:
        storage = LocalFileSystem(basepath=os.fspath(path))
    elif filesystem is not None:
        storage = filesystem
    else:
        storage = default_result_storage()
    return storage, getattr(storage, "_block_document_id", None)


def serializer_resolve(*, spec: Any) -> Any:
    """A serializer from an instance, a type name ("json", "compressed/pickle") or a saved config's name.

    None means the setting RESULTS_DEFAULT_SERIALIZER (default ``pickle``).
    """
    if spec is None:
        spec = settings.RESULTS_DEFAULT_SERIALIZER or "pickle"
    try:
        return serializer_from(spec)
    except UnknownSerializerError:
        if not isinstance(spec, str):
            raise
        try:
            return serializer_config_get(spec)
        except SerializerConfigNotFoundError:
            raise ResultTargetError(
                f"{spec!r} is neither a serializer type (pickle, json, compressed/pickle, "
                "compressed/json, compressed) nor the name of a saved serializer config"
            ) from None


_lock_managers: dict[str, Any] = {}
_lock_managers_guard = threading.Lock()


def lock_manager_for(*, redis_url: str, var_dir: str | os.PathLike) -> Any:
    """One lock manager per place, kept for the process: Redis at ``redis_url``, else lock files."""
    key = f"redis:{redis_url}" if redis_url else f"file:{var_dir}"
    with _lock_managers_guard:
        manager = _lock_managers.get(key)
        if manager is None:
            if redis_url:
                manager = RedisLockManager(redis_url)
            else:
                manager = FileSystemLockManager(os.path.join(str(var_dir), "locks"))
            _lock_managers[key] = manager
        return manager


def lock_manager_default() -> Any:
    """Redis locks when REDIS_URL is set (several hosts); otherwise lock files under VAR_DIR/locks."""
    redis_url = os.environ.get("REDIS_URL") or getattr(settings, "REDIS_URL", "")
    return lock_manager_for(redis_url=redis_url, var_dir=settings.VAR_DIR)


def lock_managers_clear() -> None:
    """Forget the kept lock managers (the settings they were made for have changed)."""
    with _lock_managers_guard:
        _lock_managers.clear()
