"""The results pages: list with filters and "all matching" selection, detail, download, preview, decode."""

from __future__ import annotations

import datetime as dt
import uuid

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from django.urls import reverse

from apps.results.models import ResultReference
from tests.dashboard_data import (
    flow_run,
    literal_result,
    raw_file_result,
    stored_result,
    task_run,
)
from tests.payloads import MarkerPayload

pytestmark = pytest.mark.django_db
RESULTS = reverse("results:result-list")


def detail(client, reference: ResultReference) -> str:
    response = client.get(reverse("results:result-detail", args=[reference.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_anonymous_users_are_sent_to_login(client, tmp_path):
    reference = stored_result(tmp_path, 1)
    for url in (
        RESULTS,
        reverse("results:result-selection"),
        reverse("results:result-detail", args=[reference.pk]),
        reverse("results:result-raw", args=[reference.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), url
    response = client.post(reverse("results:result-decode", args=[reference.pk]))
    assert response.status_code == 302


def test_list_shows_every_reference_including_those_without_a_run(viewer_client, tmp_path):
    with_run = stored_result(tmp_path, {"a": 1}, key="used-by-a-run")
    stored_result(tmp_path, [1, 2, 3], serializer="pickle", key="orphan-result")
    flow_run(result=with_run)
    html = viewer_client.get(RESULTS).content.decode()
    assert "used-by-a-run" in html and "orphan-result" in html
    orphans = viewer_client.get(RESULTS, {"has_run": "no"}).content.decode()
    assert "orphan-result" in orphans and "used-by-a-run" not in orphans


def test_empty_states(viewer_client):
    assert "No results persisted yet" in viewer_client.get(RESULTS).content.decode()
    assert "No results match" in viewer_client.get(RESULTS, {"serializer": "json"}).content.decode()


def test_uri_prefix_filter(viewer_client, tmp_path):
    stored_result(tmp_path / "reports", 1, key="q1")
    stored_result(tmp_path / "scratch", 2, key="tmp1")
    html = viewer_client.get(RESULTS, {"uri": str(tmp_path / "reports")}).content.decode()
    assert ">q1<" in html and "tmp1" not in html


def test_selecting_all_matching_shows_a_bounded_count_and_the_filter_querystring(viewer_client, tmp_path):
    ResultReference.objects.bulk_create(
        ResultReference(storage_location="/data", key=f"k{i}", serializer_type="json") for i in range(60)
    )
    stored_result(tmp_path, 1, serializer="pickle")
    page = viewer_client.get(RESULTS, {"serializer": "json"}).content.decode()
    assert "Select all results matching this filter" in page
    assert f"{reverse('results:result-selection')}?serializer=json" in page
    fragment = viewer_client.get(
        reverse("results:result-selection"), {"serializer": "json"}, headers={"HX-Request": "true"}
    ).content.decode()
    assert "60 selected" in fragment and "<html" not in fragment
    assert 'name="selection" value="serializer=json"' in fragment
    full = viewer_client.get(RESULTS, {"serializer": "json", "select": "all"}).content.decode()
    assert "60 selected" in full and "not only this page" in full


def test_selection_count_stops_at_ten_thousand(viewer_client, monkeypatch):
    from apps.core import db

    monkeypatch.setattr(db.bounded_count, "__kwdefaults__", {"limit": 10})
    ResultReference.objects.bulk_create(
        ResultReference(storage_location="/d", key=f"k{i}") for i in range(12)
    )
    html = viewer_client.get(reverse("results:result-selection")).content.decode()
    assert "10+ selected" in html


def test_detail_shows_metadata_and_the_runs_that_point_at_it(viewer_client, tmp_path):
    expiration = dt.datetime(2999, 1, 1, tzinfo=dt.UTC)
    reference = stored_result(tmp_path, {"total": 3}, expiration=expiration)
    run = flow_run(name="brave-otter", flow_name="etl", result=reference)
    task_run(run, task_name="aggregate", result=reference)
    html = detail(viewer_client, reference)
    assert "Prefect 3 record" in html and "json" in html
    assert "2999-01-01" in html
    assert f"{reference.storage_location}/{reference.key}" in html  # URI, with a copy button
    assert 'data-copy="' in html
    assert reverse("results:result-raw", args=[reference.pk]) in html
    assert "etl / brave-otter" in html and "aggregate" in html
    assert reverse("flows:run-detail", args=[run.pk]) in html


def test_json_preview_is_an_escaped_collapsible_tree_with_type_tags(viewer_client, tmp_path):
    value = {
        "name": "<b>bold</b>",
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "nested": {"deeper": {"deepest": [1, 2]}},
        "items": list(range(8000)),
    }
    html = detail(viewer_client, stored_result(tmp_path, value))
    assert "<details" in html and "<summary>" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html
    assert 't-class" title="uuid.UUID' in html
    assert "first " in html and " of 8000" in html  # large values stop at a limit
    assert 'data-tree-action="expand"' in html and 'data-tree-action="collapse"' in html


def test_pickle_preview_is_static_and_flags_dangerous_imports(viewer_client, tmp_path):
    marker = tmp_path / "pwned"
    reference = stored_result(tmp_path / "store", MarkerPayload(str(marker)), serializer="pickle")
    html = detail(viewer_client, reference)
    assert "Dangerous pickle" in html
    assert "posix.system" in html or "os.system" in html
    assert "danger-dangerous" in html
    assert not marker.exists()


def test_value_kinds_render(viewer_client, tmp_path):
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    table = detail(viewer_client, stored_result(tmp_path, frame, serializer="pickle"))
    assert "shape 3 \u00d7 2" in table and "int64" in table
    array = detail(viewer_client, stored_result(tmp_path, np.arange(6).reshape(2, 3), serializer="pickle"))
    assert "shape 2 \u00d7 3" in array
    blob = detail(viewer_client, stored_result(tmp_path, b"\x00\x01\xfe", serializer="pickle"))
    assert "00 01 fe" in blob
    error = detail(viewer_client, stored_result(tmp_path, ValueError("bad input"), serializer="pickle"))
    assert "ValueError" in error and "bad input" in error
    number = detail(viewer_client, stored_result(tmp_path, 3.5, serializer="json"))
    assert 'v-num">3.5<' in number


@pytest.mark.parametrize("value", [None, True, False])
def test_literal_results_show_their_value(viewer_client, value):
    html = detail(viewer_client, literal_result(value))
    assert "A literal kept in the database" in html
    assert f"<code>{value}</code>" in html


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xff\x13 not a result at all",
        b"",
        b'{"metadata": {"serializer": {"type": "yaml"}}, "result": "abc"}',
    ],
)
def test_corrupt_or_unknown_files_show_a_message_and_the_raw_head_never_a_500(
    viewer_client, tmp_path, content
):
    html = detail(viewer_client, raw_file_result(tmp_path, content))
    assert "This file cannot be previewed" in html
    assert "Raw head" in html


def test_a_missing_file_is_a_clear_message(viewer_client, tmp_path):
    reference = raw_file_result(tmp_path, b"x", key="gone")
    (tmp_path / "gone").unlink()
    html = detail(viewer_client, reference)
    assert "This file cannot be previewed" in html and "gone" in html
    assert viewer_client.get(reverse("results:result-raw", args=[reference.pk])).status_code == 404


def test_download_streams_the_stored_bytes_as_an_attachment(viewer_client, tmp_path):
    content = bytes(range(256)) * 2000
    reference = raw_file_result(tmp_path, content, key="big.bin")
    response = viewer_client.get(reverse("results:result-raw", args=[reference.pk]))
    assert response.status_code == 200 and response.streaming
    assert response["Content-Disposition"] == 'attachment; filename="big.bin"'
    assert b"".join(response.streaming_content) == content


def test_viewers_cannot_decode_operators_can(viewer_client, make_user, tmp_path):
    reference = stored_result(tmp_path, {"n": 1}, serializer="pickle")
    url = reverse("results:result-decode", args=[reference.pk])
    assert "Decode in sandbox" not in detail(viewer_client, reference)
    assert viewer_client.post(url).status_code == 403
    operator_client = viewer_client
    operator_client.force_login(make_user("operator", username="op-decoder"))
    assert "Decode in sandbox" in detail(operator_client, reference)
    response = operator_client.post(url, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<div id="decoded">')
    assert "Decoded in the sandbox" in html and "builtins.dict" in html


def test_decode_without_javascript_renders_the_full_page(operator_client, tmp_path):
    reference = stored_result(tmp_path, [1, 2], serializer="pickle")
    html = operator_client.post(reverse("results:result-decode", args=[reference.pk])).content.decode()
    assert "<html" in html and "Decoded in the sandbox" in html and "Metadata" in html


def test_decode_is_post_only_and_needs_csrf(operator_client, make_user, tmp_path):
    from django.test import Client

    reference = stored_result(tmp_path, 1, serializer="pickle")
    url = reverse("results:result-decode", args=[reference.pk])
    assert operator_client.get(url).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(make_user("operator", username="csrf-operator"))
    assert strict.post(url).status_code == 403


def test_the_sandbox_refuses_a_malicious_pickle_and_nothing_runs(operator_client, tmp_path):
    marker = tmp_path / "pwned"
    reference = stored_result(tmp_path / "store", MarkerPayload(str(marker)), serializer="pickle")
    html = operator_client.post(reverse("results:result-decode", args=[reference.pk])).content.decode()
    assert "refused to decode" in html and "posix.system" in html
    assert not marker.exists()


def test_pickle_made_by_cloudpickle_of_a_lambda_is_refused(operator_client, tmp_path):
    from apps.blocks.filesystems import LocalFileSystem
    from apps.results.store import ResultStore

    storage = LocalFileSystem(basepath=tmp_path)
    record = ResultStore(result_storage=storage, serializer="pickle").write(lambda: 1)
    reference = ResultReference.objects.create(
        storage_location=str(storage.root), key=record.metadata.storage_key.rpartition("/")[2]
    )
    assert cloudpickle  # the store pickles with cloudpickle by default
    html = operator_client.post(reverse("results:result-decode", args=[reference.pk])).content.decode()
    assert "refused to decode" in html


BAD_DURATIONS = ["nan", "inf", "-inf", "-3d", "1e400", "1e12d"]


@pytest.mark.parametrize("text", BAD_DURATIONS)
def test_expiring_soon_with_a_bad_window_says_so_and_shows_seven_days(viewer_client, text):
    response = viewer_client.get(reverse("results:results-expiring"), {"within": text})
    assert response.status_code == 200
    html = response.content.decode()
    assert "out of range" in html and 'aria-current="true">7d<' in html


@pytest.mark.parametrize("text", BAD_DURATIONS)
def test_a_policy_with_a_bad_duration_keeps_what_was_typed_with_the_error_beside_it(operator_client, text):
    from apps.results.models import RetentionPolicy

    flow_run(flow_name="etl")
    response = operator_client.post(
        reverse("results:policy-save"), {"flow_name": "etl", "expire_after": text}
    )
    assert response.status_code == 400
    html = response.content.decode()
    field = html[html.index('id="field-expire_after"') :]
    field = field[: field.index("</div>")]
    assert f'value="{text}"' in field and "out of range" in field
    assert '<option value="etl" selected>' in html
    assert not RetentionPolicy.objects.exists()


def test_a_policy_for_a_flow_that_does_not_exist_is_refused(operator_client):
    from apps.results.models import RetentionPolicy

    flow_run(flow_name="etl")
    response = operator_client.post(
        reverse("results:policy-save"), {"flow_name": "elt", "expire_after": "7d"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    field = html[html.index('id="field-flow_name"') :]
    assert "no flow named elt is registered or has run" in field[: field.index("</div>")]
    assert not RetentionPolicy.objects.exists()


def test_a_policy_names_a_flow_seen_in_runs_or_a_registered_one(operator_client):
    from apps.flows.browse import flow_names
    from apps.results.models import RetentionPolicy

    flow_run(flow_name="etl")
    registered = flow_names()[0]
    page = operator_client.get(reverse("results:cleanup")).content.decode()
    assert '<option value="etl">' in page and f'<option value="{registered}">' in page
    for name in ("etl", registered):
        response = operator_client.post(
            reverse("results:policy-save"), {"flow_name": name, "expire_after": "7d"}
        )
        assert response.status_code == 302
    assert sorted(RetentionPolicy.objects.values_list("flow_name", flat=True)) == sorted(["etl", registered])


def test_a_policy_without_a_scope_is_refused_with_a_message(operator_client):
    response = operator_client.post(reverse("results:policy-save"), {"flow_name": "", "expire_after": "7d"})
    assert response.status_code == 400
    assert "needs a storage block, a flow, or both" in response.content.decode()


@pytest.mark.parametrize("text", BAD_DURATIONS)
def test_extending_an_expiration_by_a_bad_duration_is_a_form_error(operator_client, tmp_path, text):
    reference = stored_result(tmp_path, 1)
    url = reverse("results:result-expiration", args=[reference.pk])
    inline = operator_client.post(url, {"action": "extend", "by": text}, HTTP_HX_REQUEST="true")
    assert inline.status_code == 200 and "out of range" in inline.content.decode()
    page = operator_client.post(url, {"action": "extend", "by": text})
    assert page.status_code == 200 and "out of range" in page.content.decode()
    reference.refresh_from_db()
    assert reference.expiration is None


def test_extending_past_the_year_9999_is_a_form_error(operator_client, tmp_path):
    reference = stored_result(tmp_path, 1)
    ResultReference.objects.filter(pk=reference.pk).update(expiration=dt.datetime(9999, 6, 1, tzinfo=dt.UTC))
    url = reverse("results:result-expiration", args=[reference.pk])
    response = operator_client.post(url, {"action": "extend", "by": "52w"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "after the year 9999" in response.content.decode()


@pytest.mark.parametrize("text", BAD_DURATIONS)
def test_a_bulk_extension_by_a_bad_duration_starts_no_job(operator_client, tmp_path, text):
    from apps.results.models import CleanupJob

    stored_result(tmp_path, 1)
    response = operator_client.post(
        reverse("results:expiration-bulk"),
        {"selection": "", "action": "extend", "by": text, "confirm": "yes"},
    )
    assert response.status_code == 200 and "out of range" in response.content.decode()
    assert not CleanupJob.objects.exists()
