"""A synced run's state history, read from its server's /flow_run_states/ and /task_run_states/ when
its page is opened, once; by htmx, and as a page without JavaScript."""

import pytest

from apps.flows.models import FlowRun, TaskRun
from apps.prefect_servers.history import history_complete
from apps.prefect_servers.services import connection_save
from apps.prefect_servers.sync import prefect_sync

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "state-history"}


@pytest.mark.parametrize("server", ["prefect3_server", "prefect2_server"])
def test_a_finished_runs_page_reads_its_whole_history_once(server, request, viewer_client):
    prefect = request.getfixturevalue(server)
    connection = connection_save(name="history", api_url=prefect.api_url)
    assert prefect_sync(connection=connection).ok
    run = FlowRun.objects.get(source_connection_id=connection.pk, flow_name="sync-me")
    assert [entry["state"] for entry in run.state_history] == ["COMPLETED"]  # all a sync sees
    url = f"/prefect-servers/runs/{run.pk}/states/"

    page = viewer_client.get(f"/runs/{run.pk}/").content.decode()
    assert f'hx-get="{url}"' in page and 'hx-trigger="load"' in page

    fragment = viewer_client.get(url, **HTMX).content.decode()
    run.refresh_from_db()
    assert [entry["state"] for entry in run.state_history][-3:] == ["PENDING", "RUNNING", "COMPLETED"]
    assert history_complete(run) and "Read from the Prefect server" in fragment
    assert "<html" not in fragment and 'id="state-history"' in fragment
    flaky = TaskRun.objects.get(flow_run=run, task_name="flaky")
    names = [entry["name"] for entry in flaky.state_history]
    assert "Retrying" in names and names[-1] == "Completed" and history_complete(flaky)

    again = viewer_client.get(f"/runs/{run.pk}/").content.decode()
    assert f'hx-get="{url}"' not in again and "As read from the Prefect server" in again
    assert "Retrying" in again  # the task run's states, on the run page
    # A later sync that sees the same final state keeps the history whole.
    assert prefect_sync(connection=connection).ok
    run.refresh_from_db()
    assert history_complete(run)


def test_without_javascript_the_history_is_a_page_and_an_unreachable_server_is_said(viewer_client):
    connection = connection_save(name="gone", api_url="http://127.0.0.1:9/api")
    seen = {
        "state": "COMPLETED",
        "name": "Completed",
        "message": "",
        "timestamp": "2026-01-01T00:00:00+00:00",
    }
    run = FlowRun.objects.create(
        name="old",
        flow_name="etl",
        state="COMPLETED",
        source="prefect",
        source_connection_id=connection.pk,
        external_id="8a1d7c2e-1f5b-4f7a-9a43-0b8c6f1e2d3a",
        state_history=[seen],
    )
    page = viewer_client.get(f"/prefect-servers/runs/{run.pk}/states/")
    body = page.content.decode()
    assert page.status_code == 200 and "<html" in body
    assert "cannot be read from gone" in body and "Completed" in body
    run.refresh_from_db()
    assert not history_complete(run)
