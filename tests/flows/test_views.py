"""Flow pages: the list, the run form built from a signature (operators only), minimal run pages."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.flows.models import FlowRun

pytestmark = pytest.mark.django_db


def test_the_flow_list_shows_registered_flows_and_their_parameters(viewer_client):
    response = viewer_client.get(reverse("flows:flow-list"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "quiz" in body and "orders-etl" in body and "rows: int = 100" in body
    assert reverse("flows:flow-run", args=["orders-etl"]) not in body  # viewers cannot run


def test_operators_see_run_buttons_and_a_form_built_from_the_signature(operator_client):
    assert (
        reverse("flows:flow-run", args=["orders-etl"])
        in operator_client.get(reverse("flows:flow-list")).content.decode()
    )
    response = operator_client.get(reverse("flows:flow-run", args=["flaky-quote"]))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="symbol"' in body and 'value="ACME"' in body and 'name="failures"' in body


def test_viewers_cannot_open_or_post_the_run_form(viewer_client):
    url = reverse("flows:flow-run", args=["orders-etl"])
    assert viewer_client.get(url).status_code == 403
    assert viewer_client.post(url, {"rows": "5"}).status_code == 403
    assert not FlowRun.objects.exists()


def test_submitting_the_form_queues_a_run_and_redirects_to_it(
    operator_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = operator_client.post(
            reverse("flows:flow-run", args=["flaky-quote"]), {"symbol": "XYZ", "failures": "0"}
        )
    run = FlowRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("flows:run-detail", args=[run.pk])
    assert run.flow_name == "flaky-quote" and run.state == "SCHEDULED"
    assert run.parameters == {"symbol": "XYZ", "failures": 0}
    assert len(callbacks) == 1  # the message goes to the broker once the row is committed


def test_a_bad_value_is_shown_on_the_form(operator_client):
    response = operator_client.post(
        reverse("flows:flow-run", args=["flaky-quote"]), {"symbol": "X", "failures": "many"}
    )
    assert response.status_code == 200
    assert "expected a whole number" in response.content.decode()
    assert list(FlowRun.objects.values_list("flow_name", "state", "created")) == []


def test_an_unknown_flow_is_404(operator_client):
    assert operator_client.get(reverse("flows:flow-run", args=["nope"])).status_code == 404


def test_run_pages_show_state_result_and_task_runs(viewer_client, settings, tmp_path):
    settings.RESULTS_LOCAL_STORAGE_PATH = str(tmp_path)
    from examples.retry import flaky_quote

    flaky_quote(failures=1)
    run = FlowRun.objects.get()
    listing = viewer_client.get(reverse("flows:run-list")).content.decode()
    assert run.name in listing
    detail = viewer_client.get(reverse("flows:run-detail", args=[run.pk])).content.decode()
    assert "Completed" in detail and "fetch_quote" in detail and "AwaitingRetry" in detail
    assert run.result.key in detail


def test_pages_need_a_login(client):
    assert client.get(reverse("flows:flow-list")).status_code == 302
