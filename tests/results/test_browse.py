"""Browsing results: "all matching" selections, filters, streams, previews and the one resolver."""

from __future__ import annotations

import datetime as dt

import pytest
from django.http import QueryDict

from apps.results import contents, selection
from apps.results.models import ResultReference
from apps.results.references import ResultUnreadableError, reference_filesystem
from tests.dashboard_data import flow_run, literal_result, raw_file_result, stored_result, task_run
from tests.dashboard_data import references_bulk as references

pytestmark = pytest.mark.django_db


def test_results_matching_applies_the_filter_querystring_to_all_rows_not_a_page():
    references(120)
    matching = selection.results_matching(QueryDict("serializer=json"))
    assert matching.count() == 60
    assert selection.results_matching({"serializer": "pickle"}).count() == 60
    assert selection.results_matching({}).count() == 120


def test_results_matching_refuses_invalid_filters_instead_of_selecting_everything():
    references(3)
    with pytest.raises(selection.InvalidFilterError, match="serializer"):
        selection.results_matching({"serializer": "yaml"})
    with pytest.raises(selection.InvalidFilterError, match="created_after"):
        selection.results_matching({"created_after": "yesterday"})


def test_uri_prefix_search_matches_location_and_key(tmp_path):
    one = stored_result(tmp_path / "a", {"x": 1}, key="reports/2025/q1")
    stored_result(tmp_path / "b", {"x": 2}, key="other")
    location = one.storage_location.rstrip("/")
    assert list(selection.results_matching({"uri": f"{location}/reports/"})) == [one]
    assert list(selection.results_matching({"uri": f"{location}/rep"})) == [one]
    assert selection.results_matching({"uri": str(tmp_path)}).count() == 2


def test_flow_state_and_has_run_filters_follow_the_runs_that_point_at_a_result():
    used_by_flow, used_by_task, orphan = references(3)
    run = flow_run(flow_name="etl", state="FAILED", result=used_by_flow)
    task_run(run, task_name="load", result=used_by_task, state="COMPLETED")
    assert set(selection.results_matching({"flow": "etl"})) == {used_by_flow, used_by_task}
    assert set(selection.results_matching({"state": "FAILED"})) == {used_by_flow}
    assert set(selection.results_matching({"has_run": "no"})) == {orphan}
    assert set(selection.results_matching({"has_run": "yes"})) == {used_by_flow, used_by_task}


def test_expired_filter(tmp_path):
    past = stored_result(tmp_path, 1, expiration=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    future = stored_result(tmp_path, 2, expiration=dt.datetime(2999, 1, 1, tzinfo=dt.UTC))
    never = literal_result(None)
    assert set(selection.results_matching({"expired": "yes"})) == {past}
    assert set(selection.results_matching({"expired": "no"})) == {future, never}


def test_stream_reads_in_chunks_through_open_read(tmp_path):
    content = bytes(range(256)) * 4000
    reference = raw_file_result(tmp_path, content, key="blob")
    chunks = list(contents.reference_stream(reference=reference, chunk_size=10_000))
    assert b"".join(chunks) == content
    assert max(len(chunk) for chunk in chunks) == 10_000


def test_unreadable_references_say_why(tmp_path):
    with pytest.raises(ResultUnreadableError, match="literal"):
        contents.reference_stream(reference=literal_result(True))
    missing = raw_file_result(tmp_path, b"x", key="gone")
    (tmp_path / "gone").unlink()
    with pytest.raises(ResultUnreadableError, match="cannot be read"):
        contents.reference_stream(reference=missing)
    remote = ResultReference.objects.create(storage_location="s3://bucket/x", key="k")
    with pytest.raises(ResultUnreadableError, match="not saved as a block"):
        reference_filesystem(remote)


def test_preview_of_a_corrupt_file_is_an_error_with_the_raw_head_never_an_exception(tmp_path):
    reference = raw_file_result(tmp_path, b"\x00\xffGARBAGE, not a result file", key="corrupt")
    preview = contents.reference_preview(reference=reference)
    assert preview["error"]
    assert "GARBAGE" in preview["raw_head"]["text"]
    assert preview["raw_head"]["hex"].startswith("00 ff")


def test_preview_of_a_literal_shows_its_value():
    preview = contents.reference_preview(reference=literal_result(False))
    assert preview["format"] == "literal"
    assert preview["value"]["value"] is False


def test_decode_of_a_literal_needs_no_sandbox():
    answer = contents.reference_decode(reference=literal_result(None))
    assert answer["ok"] and answer["value"]["type"] == "builtins.NoneType"


def test_one_resolver_serves_pages_and_purges_alike(tmp_path):
    """A file:// location is the local directory for the preview and for the purge."""
    from apps.results.purge import references_purge

    (tmp_path / "blob").write_bytes(b"abc")
    reference = ResultReference.objects.create(storage_location=f"file://{tmp_path}", key="blob")
    assert b"".join(contents.reference_stream(reference=reference)) == b"abc"
    assert references_purge(references=ResultReference.objects.filter(pk=reference.pk)).deleted == 1
    assert not (tmp_path / "blob").exists()
