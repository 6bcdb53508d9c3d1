"""Retention policies: the most specific one decides a new result's expiration; applying a policy
gives existing results without an expiration the policy's."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.blocks import services
from apps.core.formatting import DurationInvalidError, duration_parse
from apps.flows.browse import flow_result_ids, result_flow_name
from apps.flows.models import FlowRun
from apps.results.models import ResultReference
from apps.results.retention import (
    RetentionPolicyError,
    reference_effective_policy,
    retention_apply,
    retention_expiration_for,
    retention_policy_save,
)

pytestmark = pytest.mark.django_db
CREATED = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def block(tmp_path):
    return services.block_create(
        block_type="local-file-system", name="r", settings={"basepath": str(tmp_path)}
    )


def test_block_and_flow_beats_flow_beats_block(block):
    retention_policy_save(block=block, flow_name="", expire_after=dt.timedelta(days=30))
    retention_policy_save(block=None, flow_name="etl", expire_after=dt.timedelta(days=7))
    retention_policy_save(block=block, flow_name="etl", expire_after=dt.timedelta(days=1))
    assert retention_expiration_for(block=block, flow_name="etl", created=CREATED) == CREATED + dt.timedelta(
        days=1
    )
    assert retention_expiration_for(block=None, flow_name="etl", created=CREATED) == CREATED + dt.timedelta(
        days=7
    )
    assert retention_expiration_for(
        block=block, flow_name="other", created=CREATED
    ) == CREATED + dt.timedelta(days=30)
    assert retention_expiration_for(block=None, flow_name="other", created=CREATED) is None


def test_a_policy_needs_a_scope_and_a_positive_duration(block):
    with pytest.raises(RetentionPolicyError, match="block, a flow name"):
        retention_policy_save(block=None, flow_name=" ", expire_after=dt.timedelta(days=1))
    with pytest.raises(RetentionPolicyError, match="positive"):
        retention_policy_save(block=block, flow_name="", expire_after=dt.timedelta(0))
    with pytest.raises(DurationInvalidError, match="not a duration"):
        duration_parse("soon")
    assert duration_parse("12h") == dt.timedelta(hours=12) and duration_parse("2w") == dt.timedelta(days=14)


def test_applying_a_flow_policy_touches_only_that_flows_results_without_expiration(block):
    mine = ResultReference.objects.create(block=block, storage_location="/x", key="a", created=CREATED)
    pinned = ResultReference.objects.create(
        block=block,
        storage_location="/x",
        key="b",
        created=CREATED,
        expiration=CREATED + dt.timedelta(days=99),
    )
    other = ResultReference.objects.create(block=block, storage_location="/x", key="c", created=CREATED)
    FlowRun.objects.create(flow_name="etl", name="r1", result=mine)
    FlowRun.objects.create(flow_name="etl", name="r2", result=pinned)
    FlowRun.objects.create(flow_name="other", name="r3", result=other)
    policy = retention_policy_save(block=None, flow_name="etl", expire_after=dt.timedelta(days=3))
    etl_results = flow_result_ids(flow_name="etl")
    assert retention_apply(policy=policy, flow_result_ids=etl_results) == 1
    mine.refresh_from_db()
    pinned.refresh_from_db()
    other.refresh_from_db()
    assert mine.expiration == CREATED + dt.timedelta(days=3) and mine.retention_policy == policy
    assert pinned.expiration == CREATED + dt.timedelta(days=99) and other.expiration is None
    assert reference_effective_policy(other, flow_name=result_flow_name(reference=other)) is None
    assert reference_effective_policy(mine, flow_name=result_flow_name(reference=mine)) == policy
    assert retention_apply(policy=policy, flow_result_ids=etl_results, only_unset=False) == 2
    with pytest.raises(ValueError, match="needs the ids"):
        retention_apply(policy=policy)
