"""Expiration: computed changes, the record's own metadata rewritten in place (payload untouched,
still readable), inline editing by operators, bulk changes as a confirmed background job."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.blocks import services
from apps.results.expiration import (
    ExpirationError,
    expiration_compute,
    expiring_soon,
    expiring_totals,
    reference_expiration_set,
)
from apps.results.models import CleanupJob, ResultReference
from apps.results.records import ResultRecord
from apps.results.store import ResultStore
from apps.results.tasks import job_run

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def test_extend_starts_from_the_later_of_now_and_the_current_expiration():
    week = dt.timedelta(days=7)
    assert expiration_compute(action="extend", current=NOW + week, by=week, now=NOW) == NOW + 2 * week
    assert expiration_compute(action="extend", current=NOW - week, by=week, now=NOW) == NOW + week
    assert expiration_compute(action="clear", current=NOW, now=NOW) is None
    with pytest.raises(ExpirationError, match="positive duration"):
        expiration_compute(action="extend", current=None, by=None, now=NOW)
    with pytest.raises(ExpirationError, match="unknown expiration action"):
        expiration_compute(action="shorten", current=None, now=NOW)


@pytest.fixture
def record_reference(tmp_path):
    block = services.block_create(
        block_type="local-file-system", name="e", settings={"basepath": str(tmp_path)}
    )
    filesystem = block.filesystem()
    payload = {"rows": list(range(5000))}
    ResultStore(result_storage=filesystem, serializer="json").write(payload, key="rec")
    reference = ResultReference.objects.create(
        block=block, storage_location=str(tmp_path), key="rec", layout="v3-record", serializer_type="json"
    )
    return reference, filesystem, payload


def test_setting_the_expiration_rewrites_the_records_metadata_and_keeps_the_payload(record_reference):
    reference, filesystem, payload = record_reference
    expiration = dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    change = reference_expiration_set(reference=reference, expiration=expiration)
    assert change.file_note == "record rewritten" and not change.file_error
    record = ResultRecord.deserialize(filesystem.read_path("rec"))
    assert record.metadata.expiration == expiration and record.result == payload
    assert b'"expiration":"2031-05-06T07:08:09Z"' in filesystem.read_path("rec")[:300]
    reference.refresh_from_db()
    assert (reference.expiration, reference.expiration_source) == (expiration, "manual")
    reference_expiration_set(reference=reference, expiration=None)
    assert ResultRecord.deserialize(filesystem.read_path("rec")).metadata.expiration is None


def test_operators_edit_one_expiration_inline(record_reference, client, make_user):
    reference, _, _ = record_reference
    client.force_login(make_user("viewer"))
    assert b"Edit" not in client.get(f"/results/{reference.pk}/expiration/", HTTP_HX_REQUEST="true").content
    assert client.post(f"/results/{reference.pk}/expiration/", {"action": "clear"}).status_code == 403
    client.force_login(make_user("operator"))
    form = client.get(f"/results/{reference.pk}/expiration/?edit=1", HTTP_HX_REQUEST="true")
    assert b'name="action"' in form.content
    response = client.post(
        f"/results/{reference.pk}/expiration/", {"action": "extend", "by": "3d"}, HTTP_HX_REQUEST="true"
    )
    reference.refresh_from_db()
    assert b"record rewritten" in response.content
    assert abs(reference.expiration - (timezone.now() + dt.timedelta(days=3))) < dt.timedelta(minutes=1)
    bad = client.post(
        f"/results/{reference.pk}/expiration/", {"action": "extend", "by": "x"}, HTTP_HX_REQUEST="true"
    )
    assert b"not a duration" in bad.content


def test_bulk_changes_ask_for_confirmation_then_run_as_a_job(record_reference, client, make_user):
    reference, filesystem, _ = record_reference
    ResultReference.objects.create(is_literal=True, literal_value=True, layout="literal")
    client.force_login(make_user("operator"))
    confirm = client.get("/results/expiration/", {"selection": "serializer=json"})
    assert b"Change 1 result" in confirm.content
    response = client.post(
        "/results/expiration/",
        {"selection": "serializer=json", "confirm": "yes", "action": "extend", "by": "10d"},
    )
    job = CleanupJob.objects.get()
    assert response["Location"] == f"/results/cleanup/jobs/{job.pk}/"
    assert job.status == "queued"
    job = job_run(job_id=job.pk)  # what the worker does once the request has committed
    assert job.status == "done", job.message
    assert (job.status, job.outcome["changed"], job.outcome["files_written"]) == ("done", 1, 1)
    record = ResultRecord.deserialize(filesystem.read_path("rec"))
    reference.refresh_from_db()
    assert record.metadata.expiration == reference.expiration
    assert ResultReference.objects.get(is_literal=True).expiration is None


def test_expiring_soon_lists_only_live_results_inside_the_window():
    now = timezone.now()
    soon = ResultReference.objects.create(
        storage_location="/x", key="a", expiration=now + dt.timedelta(days=1)
    )
    ResultReference.objects.create(storage_location="/x", key="b", expiration=now + dt.timedelta(days=30))
    ResultReference.objects.create(storage_location="/x", key="c", expiration=now - dt.timedelta(days=1))
    ResultReference.objects.create(
        storage_location="/x", key="d", expiration=now + dt.timedelta(hours=1), purged_at=now
    )
    assert list(expiring_soon()) == [soon]


def test_expiring_totals_read_at_most_the_limit_and_say_when_they_are_partial():
    now = timezone.now()
    for n in range(1, 5):
        ResultReference.objects.create(
            storage_location="/x", key=str(n), size_bytes=n * 100, expiration=now + dt.timedelta(hours=n)
        )
    whole = expiring_totals(queryset=expiring_soon(), limit=10)
    assert (whole.count.count, whole.size_bytes, whole.is_partial) == (4, 1000, False)
    # The soonest two only: 100 + 200 bytes, and the count says "2+".
    cut = expiring_totals(queryset=expiring_soon(), limit=2)
    assert (cut.count.label, cut.size_bytes, cut.is_partial) == ("2+", 300, True)


def test_the_expiring_page_lists_the_soonest_with_storage_size_and_time_left(viewer_client, tmp_path):
    now = timezone.now()
    block = services.block_create(
        block_type="local-file-system", name="archive", settings={"basepath": str(tmp_path)}
    )
    on_block = ResultReference.objects.create(
        storage_location=str(tmp_path),
        key="k" * 60,
        block=block,
        size_bytes=2048,
        value_type="builtins.dict",
        expiration=now + dt.timedelta(days=2, hours=3),
    )
    elsewhere = ResultReference.objects.create(
        storage_location="/srv/<results>", key="<b>raw</b>", expiration=now + dt.timedelta(hours=5)
    )
    ResultReference.objects.create(storage_location="/x", key="later", expiration=now + dt.timedelta(days=30))

    html = viewer_client.get("/results/expiring/").content.decode()

    rows = html[html.index("<tbody>") : html.index("</tbody>")].split("<tr>")[1:]
    assert len(rows) == 2
    first, second = rows  # soonest first
    assert f'href="/results/{elsewhere.pk}/"' in first and "&lt;b&gt;raw&lt;/b&gt;" in first
    assert "<code>/srv/&lt;results&gt;</code>" in first and "<b>" not in first
    assert ">?</td>" in first  # no size recorded
    assert "(in 4\xa0hours, 59\xa0minutes)" in first or "(in 5\xa0hours)" in first
    assert f'href="/results/{on_block.pk}/"' in second and f'title="{"k" * 60}"' in second
    assert f">{'k' * 47}\u2026</code>" in second
    assert '<span class="badge type-local-file-system">local-file-system/archive</span>' in second
    assert '<span class="type-tag">builtins.dict</span>' in second and ">2.0 KB<" in second
    assert f'<time datetime="{timezone.localtime(on_block.expiration).isoformat()}" title="in ' in second
    assert "(in 2\xa0days, 2\xa0hours)" in second or "(in 2\xa0days, 3\xa0hours)" in second
    assert "2 results" in html
