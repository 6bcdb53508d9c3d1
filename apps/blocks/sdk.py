"""What the filesystem classes' ``save``/``load`` go to (``apps.blocks`` registers them with the
filesystems package), so code can use blocks as with Prefect::

    S3(bucket_path="results/demo", aws_access_key_id=..., aws_secret_access_key=...).save("demo")
    storage = S3.load("demo")            # or Block.load("s3/demo")

These functions set Django up on first use, so a plain script (with DJANGO_SETTINGS_MODULE or the
project's default settings) can call them without knowing about Django.
"""

from __future__ import annotations

import os
from typing import Any
from uuid import UUID

from apps.core.django_setup import django_ensure

from .filesystems import BlockPersistenceUnavailableError


class BlockTypeMismatchError(TypeError):
    pass


def _django_ready() -> None:
    from django.core.exceptions import ImproperlyConfigured

    try:
        django_ensure()
    except (ImportError, ImproperlyConfigured) as exc:
        raise BlockPersistenceUnavailableError(
            "saving and loading storage blocks needs the Django project configured, and "
            f"DJANGO_SETTINGS_MODULE={os.environ['DJANGO_SETTINGS_MODULE']} cannot be set up ({exc}): "
            "set it to the project's settings module (project.settings)"
        ) from exc


def filesystem_save(filesystem: Any, name: str, overwrite: bool = False) -> UUID:
    """Save ``filesystem`` as block ``<its type>/<name>``; an existing name needs ``overwrite=True``."""
    _django_ready()
    from .services import block_save

    return block_save(filesystem, name=name, overwrite=overwrite).pk


def filesystem_load(cls: type | None, name_or_slug: str) -> Any:
    """Load a saved block: ``filesystem_load(S3, "demo")``, or ``filesystem_load(None, "s3/demo")``."""
    _django_ready()
    from .services import block_load

    if not isinstance(name_or_slug, str) or not name_or_slug:
        raise ValueError(f"give a block name or slug such as 's3/demo', not {name_or_slug!r}")
    type_slug = getattr(cls, "block_type_slug", None)
    if "/" in name_or_slug:
        slug = name_or_slug
        if type_slug and slug.partition("/")[0] != type_slug:
            raise BlockTypeMismatchError(
                f"{cls.__name__}.load({slug!r}) names a {slug.partition('/')[0]} block; use "
                f"{cls.__name__}.load(NAME) or Block.load({slug!r})"
            )
    elif type_slug:
        slug = f"{type_slug}/{name_or_slug}"
    else:
        raise ValueError(f"{name_or_slug!r} is not a block slug: use TYPE/NAME, e.g. 's3/{name_or_slug}'")
    filesystem = block_load(slug)
    if cls is not None and not isinstance(filesystem, cls):
        raise BlockTypeMismatchError(f"block {slug} is a {type(filesystem).__name__}, not a {cls.__name__}")
    return filesystem
