"""The one registry of filesystem classes, by block type slug."""

from __future__ import annotations

from typing import Any

from .base import WritableFileSystem
from .errors import InvalidSettingsError
from .local import LocalFileSystem
from .remote import RemoteFileSystem
from .s3 import S3

FILESYSTEM_CLASSES: dict[str, type[WritableFileSystem]] = {
    cls.block_type_slug: cls for cls in (LocalFileSystem, RemoteFileSystem, S3)
}


def filesystem_from_settings(*, block_type_slug: str, settings: dict[str, Any]) -> WritableFileSystem:
    """Rebuild a filesystem from its block type slug and ``settings(include_secrets=True)``."""
    try:
        cls = FILESYSTEM_CLASSES[block_type_slug]
    except KeyError:
        known = ", ".join(sorted(FILESYSTEM_CLASSES))
        raise InvalidSettingsError(
            f"unknown storage type {block_type_slug!r}; known types: {known}"
        ) from None
    return cls.from_settings(settings)
