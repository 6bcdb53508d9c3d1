"""Flows API: GET lists flows with parameters; POST /api/flows/<name>/runs/ validates and queues."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.flows.models import FlowRun

pytestmark = pytest.mark.django_db


def test_anonymous_requests_are_401():
    assert APIClient().get("/api/flows/").status_code == 401


def test_viewers_list_flows_with_parameters(api):
    response = api("viewer").get("/api/flows/")
    assert response.status_code == 200
    flows = {flow["name"]: flow for flow in response.json()}
    assert flows["orders-etl"]["parameters"] == [
        {"name": "rows", "type": "int", "required": False, "default": 100}
    ]
    assert flows["flaky-quote"]["retries"] == 2
    assert api("viewer").get("/api/flows/flaky-quote/").json()["name"] == "flaky-quote"


def test_viewers_cannot_start_runs(api):
    assert api("viewer").post("/api/flows/orders-etl/runs/", {"rows": 5}, format="json").status_code == 403
    assert not FlowRun.objects.exists()


def test_operators_start_a_run_with_json_parameters(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api("operator").post("/api/flows/orders-etl/runs/", {"rows": 5}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    run = FlowRun.objects.get(pk=body["id"])
    assert run.parameters == {"rows": 5} and run.state == "SCHEDULED" and body["state"] == "SCHEDULED"
    assert body["url"] == f"/runs/{run.pk}/"
    assert len(callbacks) == 1


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"rows": "five"}, "expected a whole number"),
        ({"rowz": 5}, "no such parameter"),
        ({"rows": True}, "expected a whole number"),
    ],
)
def test_parameters_are_validated_against_the_signature(api, payload, message):
    response = api("operator").post("/api/flows/orders-etl/runs/", payload, format="json")
    assert response.status_code == 400
    assert message in response.json()["parameters"]
    assert not FlowRun.objects.exists()


def test_missing_required_parameters_are_named(api, settings):
    from apps.flows.registry import flow_registry_reset

    settings.FLOW_MODULES = ["examples.flows", "tests.flows.worker_flows", "tests.flows.required_flows"]
    flow_registry_reset()
    try:
        response = api("operator").post("/api/flows/needs-a-name/runs/", {}, format="json")
    finally:
        flow_registry_reset()
    assert response.status_code == 400 and "name: required" in response.json()["parameters"]


def test_an_unknown_flow_is_404(api):
    assert api("operator").post("/api/flows/nope/runs/", {}, format="json").status_code == 404
