"""Whether the storage each registered flow names exists, so a run is not started to fail on it.

A flow's ``result_storage`` may be a block slug (``"s3/prod"``), a block instance or a path; only a
slug can be missing here (an instance carries its settings, a path is created on first write).
"""

from __future__ import annotations

from typing import Any

from apps.blocks.models import StorageBlock

from .registry import flow_registry
from .rules import storage_spec_kind


def storage_slug_of(flow: Any) -> str | None:
    """The block slug ``flow`` stores its result in, or None when it names none or not by slug."""
    storage = getattr(flow, "result_storage", None)
    return storage if storage_spec_kind(storage) == "block-slug" else None


def flows_storage_missing(*, flows: dict[str, Any] | None = None) -> dict[str, str]:
    """{flow name: slug} for each registered flow whose storage block does not exist."""
    flows = flow_registry() if flows is None else flows
    slugs = {name: slug for name, flow in flows.items() if (slug := storage_slug_of(flow))}
    existing = {block.slug for block in StorageBlock.objects.all().only("block_type", "name")}
    return {name: slug for name, slug in slugs.items() if slug not in existing}
