"""Retention policies: "expire N after creation", per storage block and per flow.

The engine calls ``retention_expiration_for`` when it records a reference whose record has no
expiration of its own; ``retention_apply`` gives existing references a policy's expiration on
request. The most specific enabled policy wins: block and flow, then flow alone, then block alone.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet

from .models import ExpirationSource, ResultReference, RetentionPolicy


class RetentionPolicyError(ValueError):
    """A policy that cannot be saved (no scope, a non-positive duration, a duplicate)."""


def _block_id(block: Any) -> Any:
    return getattr(block, "pk", block)


def retention_policy_for(*, block: Any, flow_name: str | None) -> RetentionPolicy | None:
    """The policy that governs results of ``flow_name`` stored in ``block`` (either may be None)."""
    block_id = _block_id(block)
    scopes = Q(pk__in=[])
    if block_id is not None and flow_name:
        scopes |= Q(block_id=block_id, flow_name=flow_name)
    if flow_name:
        scopes |= Q(block__isnull=True, flow_name=flow_name)
    if block_id is not None:
        scopes |= Q(block_id=block_id, flow_name="")
    return _policy_most_specific(
        list(RetentionPolicy.objects.filter(scopes, enabled=True).select_related("block"))
    )


def _policy_most_specific(candidates: list[RetentionPolicy]) -> RetentionPolicy | None:
    # Both set beats flow only beats block only.
    return max(
        candidates,
        key=lambda policy: (bool(policy.block_id) and bool(policy.flow_name), bool(policy.flow_name)),
        default=None,
    )


# Workers record thousands of results a second: they read the (small) policy table at most this
# often, so a policy saved in the web process reaches new results within this many seconds.
POLICY_CACHE_SECONDS = 30.0
_policy_cache: tuple[float, list[RetentionPolicy]] | None = None


def retention_policies_cached() -> list[RetentionPolicy]:
    global _policy_cache
    now = time.monotonic()
    if _policy_cache is None or now - _policy_cache[0] > POLICY_CACHE_SECONDS:
        _policy_cache = (now, list(RetentionPolicy.objects.filter(enabled=True)))
    return _policy_cache[1]


def retention_cache_clear() -> None:
    global _policy_cache
    _policy_cache = None


def references_retention_apply(*, references: list[ResultReference], flow_name: str) -> None:
    """Give new references with no expiration of their own the expiration of their policy."""
    policies = retention_policies_cached()
    if not policies:
        return
    for reference in references:
        if reference.pk is not None or reference.is_literal or reference.expiration is not None:
            continue
        policy = _policy_most_specific(
            [
                p
                for p in policies
                if (p.block_id is None or p.block_id == reference.block_id)
                and (not p.flow_name or p.flow_name == flow_name)
            ]
        )
        if policy is not None:
            created = reference.created or dt.datetime.now(dt.UTC)
            reference.expiration = created + policy.expire_after
            # No retention_policy link here: the cached policy may have been deleted meanwhile, and a
            # foreign key to it would fail the whole flow's records; the page derives the policy.
            reference.expiration_source = ExpirationSource.POLICY


def retention_expiration_for(
    *, block: Any, flow_name: str | None, created: dt.datetime
) -> dt.datetime | None:
    """The expiration a new result gets from its policy, or None when no policy covers it."""
    policy = retention_policy_for(block=block, flow_name=flow_name)
    return None if policy is None else created + policy.expire_after


def retention_policy_save(
    *, block: Any, flow_name: str, expire_after: dt.timedelta, user: Any = None, enabled: bool = True
) -> RetentionPolicy:
    """Create or replace the policy for this scope."""
    flow_name = (flow_name or "").strip()
    if block is None and not flow_name:
        raise RetentionPolicyError("a retention policy needs a storage block, a flow name, or both")
    if expire_after <= dt.timedelta(0):
        raise RetentionPolicyError(f"results must expire a positive time after creation, not {expire_after}")
    policy, _ = RetentionPolicy.objects.update_or_create(
        block_id=_block_id(block),
        flow_name=flow_name,
        defaults={
            "expire_after": expire_after,
            "enabled": enabled,
            "created_by": user if getattr(user, "is_authenticated", False) else None,
        },
    )
    retention_cache_clear()
    return policy


def policy_references(
    *, policy: RetentionPolicy, flow_result_ids: QuerySet | None = None
) -> QuerySet[ResultReference]:
    """Live references in the policy's scope.

    A flow scope covers the results of that flow's runs and task runs: the caller gives their ids
    (``apps.flows.browse.flow_result_ids``), since runs are the flows app's to know.
    """
    queryset = ResultReference.objects.live()
    if policy.block_id:
        queryset = queryset.filter(block_id=policy.block_id)
    if policy.flow_name:
        if flow_result_ids is None:
            raise ValueError(f"the policy for flow {policy.flow_name!r} needs the ids of that flow's results")
        queryset = queryset.filter(pk__in=flow_result_ids)
    return queryset


def retention_apply(
    *, policy: RetentionPolicy, flow_result_ids: QuerySet | None = None, only_unset: bool = True
) -> int:
    """Give references in the policy's scope ``created + expire_after``; returns how many changed.

    With ``only_unset`` (the default) references that already have an expiration (from their file,
    their cache settings or an operator) keep it.
    """
    queryset = policy_references(policy=policy, flow_result_ids=flow_result_ids).filter(is_literal=False)
    if only_unset:
        queryset = queryset.filter(expiration__isnull=True)
    changed = 0
    with transaction.atomic():
        for reference in queryset.only("id", "created").iterator(chunk_size=2000):
            ResultReference.objects.filter(pk=reference.pk).update(
                expiration=reference.created + policy.expire_after,
                expiration_source=ExpirationSource.POLICY,
                retention_policy=policy,
            )
            changed += 1
    return changed


def reference_effective_policy(
    reference: ResultReference, *, flow_name: str | None
) -> RetentionPolicy | None:
    """The policy that covers the reference now (what a new result like it would get); ``flow_name``
    is the flow whose run produced it (``apps.flows.browse.result_flow_name``)."""
    if reference.retention_policy_id and reference.retention_policy and reference.retention_policy.enabled:
        return reference.retention_policy
    return retention_policy_for(block=reference.block_id, flow_name=flow_name)
