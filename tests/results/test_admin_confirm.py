"""The admin's purge actions first show the counts on a confirmation page, as Django's delete action
does, and purge only when that page is posted back."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from apps.blocks import services
from apps.results.models import CleanupJob, ResultReference
from tests.results.test_purge_jobs import stored_results

CHANGELIST = "/admin/results/resultreference/"


@pytest.fixture
def selection(tmp_path, client, make_user) -> tuple[Path, list[str]]:
    """3 expired and 2 live stored results, and an admin signed in: the folder and the ids."""
    root = tmp_path / "s"
    root.mkdir()
    block = services.block_create(block_type="local-file-system", name="b", settings={"basepath": str(root)})
    stored_results(block, root, expired=3, unexpired=2)
    client.force_login(make_user("admin", is_staff=True))
    return root, [str(pk) for pk in ResultReference.objects.values_list("pk", flat=True)]


def confirmation(client, ids: list[str]) -> str:
    page = client.post(CHANGELIST, {"action": "clear_expired_results", "_selected_action": ids, "index": "0"})
    assert page.status_code == 200
    return page.content.decode()


@pytest.mark.django_db
def test_clear_expired_shows_the_counts_and_purges_nothing_until_confirmed(selection, client):
    root, ids = selection
    text = confirmation(client, ids)
    assert 'data-count="to-purge">To purge (expired): <strong>3</strong>' in text
    assert 'data-count="to-keep">Not expired, kept: <strong>2</strong>' in text
    assert 'name="csrfmiddlewaretoken"' in text and 'name="post" value="yes"' in text
    assert all(f'name="_selected_action" value="{pk}"' in text for pk in ids)
    assert not CleanupJob.objects.exists()
    assert len(list(root.iterdir())) == 5


@pytest.mark.django_db
def test_the_confirmation_page_posted_back_runs_the_purge(selection, client):
    root, ids = selection
    form = confirmation(client, ids).split('<form method="post">')[1].split("</form>")[0]
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form)
    data: dict[str, list[str]] = {}
    for name, value in fields:
        data.setdefault(name, []).append(value)

    response = client.post(CHANGELIST, data)

    job = CleanupJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/results/cleanup/jobs/{job.pk}/"
    assert (job.status, job.deleted, job.skipped) == ("done", 3, 2)
    assert sorted(path.name for path in root.iterdir()) == ["r00003", "r00004"]
