"""A retention policy gives the results a flow writes their expiration, with no query per result."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.flows import flow, task
from apps.flows.models import FlowRun
from apps.results.models import ExpirationSource, ResultReference
from apps.results.retention import retention_policy_save

pytestmark = pytest.mark.django_db(transaction=True)


@task(persist_result=True)
def produce(n: int) -> dict:
    return {"n": n}


@task(
    persist_result=True,
    cache_key_fn=lambda context, parameters: "fixed",
    cache_expiration=dt.timedelta(hours=1),
)
def cached() -> dict:
    return {"cached": True}


@flow(name="retained", persist_result=True)
def retained_flow() -> list:
    return [produce(i) for i in range(3)] + [cached()]


@flow(name="unretained", persist_result=True)
def unretained_flow() -> dict:
    return produce(9)


def test_a_flow_policy_sets_the_expiration_of_new_results_and_leaves_others_alone():
    retention_policy_save(block=None, flow_name="retained", expire_after=dt.timedelta(days=3))
    before = timezone.now()

    retained_flow()
    unretained_flow()

    run = FlowRun.objects.get(flow_name="retained")
    refs = list(
        ResultReference.objects.filter(
            pk__in=[run.result_id, *run.task_runs.values_list("result_id", flat=True)]
        )
    )
    from_policy = [ref for ref in refs if ref.expiration_source == ExpirationSource.POLICY]
    # Three produce() results and the flow's own; the cached task keeps its cache_expiration.
    assert len(from_policy) == 4
    for ref in from_policy:
        assert before + dt.timedelta(days=3) - dt.timedelta(minutes=1) <= ref.expiration
        assert ref.expiration <= timezone.now() + dt.timedelta(days=3)
    cached_ref = next(ref for ref in refs if ref.cache_key)
    assert cached_ref.expiration <= timezone.now() + dt.timedelta(hours=1)

    other = FlowRun.objects.get(flow_name="unretained")
    assert ResultReference.objects.get(pk=other.result_id).expiration is None
