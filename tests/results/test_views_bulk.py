"""The results list's writers (flow and task) and its row actions: change expiration and delete,
from ticked rows or "all matching", as plain form posts with CSRF."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from apps.results.models import CleanupJob, ResultReference
from apps.results.tasks import job_run
from tests.dashboard_data import flow_run, stored_result, task_run

pytestmark = pytest.mark.django_db
RESULTS = reverse("results:result-list")
EXPIRATION = reverse("results:expiration-bulk")
DELETE = reverse("results:results-delete")


@pytest.fixture
def written(tmp_path):
    """Three results: one a task of "etl" wrote, one the "report" flow returned, one with no run."""
    by_task = stored_result(tmp_path, {"rows": 3}, key="by-task")
    by_flow = stored_result(tmp_path, [1, 2], key="by-flow")
    loose = stored_result(tmp_path, "x", key="loose")
    task_run(flow_run(flow_name="etl"), task_name="extract", result=by_task)
    flow_run(flow_name="report", name="calm-heron", result=by_flow)
    return by_task, by_flow, loose


def row(html: str, reference: ResultReference) -> str:
    start = html.index(f'id="result-{reference.pk}"')
    return html[start : html.index("</tr>", start)]


def test_each_row_names_the_flow_and_task_that_wrote_it(viewer_client, written):
    by_task, by_flow, loose = written
    html = viewer_client.get(RESULTS).content.decode()
    assert ">etl</a>" in row(html, by_task) and ">extract</a>" in row(html, by_task)
    assert ">report</a>" in row(html, by_flow) and "flow result" in row(html, by_flow)
    assert "etl" not in row(html, loose) and "report" not in row(html, loose)


def test_the_list_filters_by_task_and_by_flow(viewer_client, written):
    html = viewer_client.get(RESULTS, {"task": "extract"}).content.decode()
    assert "by-task" in html and "by-flow" not in html and "loose" not in html
    html = viewer_client.get(RESULTS, {"flow": "report"}).content.decode()
    assert "by-flow" in html and "by-task" not in html


@pytest.mark.parametrize(
    ("role", "expiration", "delete"),
    [("viewer", False, False), ("operator", True, False), ("admin", True, True)],
)
def test_the_row_actions_shown_follow_the_role(client, make_user, written, role, expiration, delete):
    client.force_login(make_user(role))
    html = client.get(RESULTS).content.decode()
    assert ('data-bulk-action="expiration"' in html) is expiration
    assert ('data-bulk-action="delete"' in html) is delete
    assert 'id="bulk-form" method="post"' in html and "csrfmiddlewaretoken" in html


def test_ticked_rows_get_a_new_expiration_after_confirmation(operator_client, written):
    by_task, by_flow, loose = written
    confirm = operator_client.post(EXPIRATION, {"ids": [by_task.pk, by_flow.pk], "back": RESULTS})
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert "Change the expiration of 2 results" in html and "ticked on the list" in html
    assert f'name="ids" value="{by_task.pk}"' in html and f'name="ids" value="{loose.pk}"' not in html
    response = operator_client.post(
        EXPIRATION, {"ids": [by_task.pk, by_flow.pk], "action": "extend", "by": "3d", "confirm": "yes"}
    )
    job = CleanupJob.objects.get()
    assert response.status_code == 302 and response.url == reverse("results:cleanup-job", args=[job.pk])
    assert job.kind == CleanupJob.Kind.EXPIRATION and job.params["ids"] == sorted([by_task.pk, by_flow.pk])
    job_run(job_id=job.pk)
    expirations = dict(ResultReference.objects.values_list("key", "expiration"))
    assert expirations["by-task"] and expirations["by-flow"] and expirations["loose"] is None


def test_an_action_with_nothing_ticked_says_so_and_starts_nothing(client, make_user, written):
    client.force_login(make_user("admin"))
    for url in (EXPIRATION, DELETE):
        response = client.post(url, {"back": f"{RESULTS}?flow=etl"}, follow=True)
        assert response.redirect_chain[-1][0] == f"{RESULTS}?flow=etl"
        assert "no result was selected" in response.content.decode()
    assert not CleanupJob.objects.exists()


def test_admins_delete_ticked_results_with_their_objects(client, make_user, written, tmp_path):
    by_task, _, loose = written
    client.force_login(make_user("admin"))
    confirm = client.post(DELETE, {"ids": [by_task.pk, loose.pk]})
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert "Delete 2 results and their stored objects?" in html and 'data-outcome="deletable">2<' in html
    response = client.post(DELETE, {"ids": [by_task.pk, loose.pk], "confirm": "yes"})
    job = CleanupJob.objects.get()
    assert response.status_code == 302 and response.url == reverse("results:cleanup-job", args=[job.pk])
    assert job.kind == CleanupJob.Kind.PURGE_SELECTED and job.params == {
        "ids": sorted([by_task.pk, loose.pk])
    }
    job_run(job_id=job.pk)
    purged = set(ResultReference.objects.filter(purged_at__isnull=False).values_list("key", flat=True))
    assert purged == {"by-task", "loose"}
    assert not (Path(tmp_path) / "by-task").exists() and (Path(tmp_path) / "by-flow").exists()


def test_deleting_all_matching_acts_on_the_filter_not_the_page(client, make_user, written):
    _, by_flow, loose = written
    client.force_login(make_user("admin"))
    response = client.post(DELETE, {"selection": "flow=report", "ids": [loose.pk], "confirm": "yes"})
    assert response.status_code == 302
    assert CleanupJob.objects.get().params == {"ids": [by_flow.pk]}


def test_a_still_valid_cache_entry_is_counted_as_kept(client, make_user, tmp_path):
    cached = stored_result(tmp_path, 1, key="cached")
    ResultReference.objects.filter(pk=cached.pk).update(cache_key="abc")
    client.force_login(make_user("admin"))
    html = client.post(DELETE, {"ids": [cached.pk]}).content.decode()
    assert 'data-outcome="kept">1<' in html and 'data-outcome="deletable">0<' in html


def test_operators_may_not_delete(operator_client, written):
    response = operator_client.post(DELETE, {"ids": [written[0].pk], "confirm": "yes"})
    assert response.status_code == 403
    assert not CleanupJob.objects.exists()


def test_row_actions_need_the_csrf_token(make_user, written):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("admin"))
    for url in (EXPIRATION, DELETE):
        assert client.post(url, {"ids": [written[0].pk], "confirm": "yes"}).status_code == 403
    assert not CleanupJob.objects.exists()
