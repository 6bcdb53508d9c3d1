"""The API of runs and results: cursor pages and filters, metadata, preview, decode and raw bytes."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.dashboard_data import T0, flow_run, raw_file_result, stored_result, task_run
from tests.payloads import MarkerPayload

pytestmark = pytest.mark.django_db


def test_anonymous_calls_are_401(client, tmp_path):
    reference = stored_result(tmp_path, 1)
    run = flow_run()
    for url in (
        "/api/runs/",
        f"/api/runs/{run.pk}/",
        f"/api/runs/{run.pk}/task-runs/",
        "/api/results/",
        f"/api/results/{reference.pk}/",
        f"/api/results/{reference.pk}/preview/",
        f"/api/results/{reference.pk}/raw/",
    ):
        assert client.get(url).status_code == 401, url
    assert client.post(f"/api/results/{reference.pk}/decode/").status_code == 401


def test_runs_are_cursor_paged_and_filtered(viewer_client):
    for minute in range(5):
        flow_run(
            name=f"otter{minute}",
            flow_name="etl" if minute % 2 else "quiz",
            created=T0 + dt.timedelta(minutes=minute),
        )
    first = viewer_client.get("/api/runs/", {"page_size": 2}).json()
    assert [row["name"] for row in first["results"]] == ["otter4", "otter3"]
    assert "count" not in first and first["next"]
    second = viewer_client.get(first["next"]).json()
    assert [row["name"] for row in second["results"]] == ["otter2", "otter1"]
    filtered = viewer_client.get("/api/runs/", {"flow": "etl"}).json()
    assert [row["name"] for row in filtered["results"]] == ["otter3", "otter1"]
    assert viewer_client.get("/api/runs/", {"state": "SLEEPING"}).status_code == 400


def test_run_detail_and_its_task_runs(viewer_client, tmp_path):
    reference = stored_result(tmp_path, 42, serializer="pickle")
    run = flow_run(parameters={"rows": 3})
    task_run(run, task_name="extract", result=reference)
    task_run(run, task_name="load", offset=dt.timedelta(seconds=3))
    body = viewer_client.get(f"/api/runs/{run.pk}/").json()
    assert body["parameters"] == {"rows": 3} and body["state_history"][0]["state"] == "PENDING"
    assert body["duration_seconds"] == 12.0
    tasks = viewer_client.get(f"/api/runs/{run.pk}/task-runs/").json()["results"]
    assert [task["task_name"] for task in tasks] == ["extract", "load"]
    assert tasks[0]["result"]["id"] == reference.pk and tasks[0]["result"]["serializer_type"] == "pickle"


def test_results_list_metadata_and_filters(viewer_client, tmp_path):
    used = stored_result(tmp_path, {"a": 1}, key="used")
    stored_result(tmp_path, [1], serializer="pickle", key="orphan")
    run = flow_run(result=used)
    rows = viewer_client.get("/api/results/").json()["results"]
    assert {row["key"] for row in rows} == {"used", "orphan"}
    assert [
        row["key"] for row in viewer_client.get("/api/results/", {"has_run": "no"}).json()["results"]
    ] == ["orphan"]
    assert [
        row["key"]
        for row in viewer_client.get("/api/results/", {"uri": f"{used.storage_location}/us"}).json()[
            "results"
        ]
    ] == ["used"]
    body = viewer_client.get(f"/api/results/{used.pk}/").json()
    assert body["uri"] == f"{used.storage_location}/used" and body["layout"] == "v3-record"
    assert body["runs"] == [
        {"kind": "flow_run", "id": str(run.pk), "name": run.name, "flow_name": "etl", "task_name": "",
         "state": "COMPLETED", "flow_run_id": None}
    ]  # fmt: skip


def test_preview_json(viewer_client, tmp_path):
    reference = stored_result(tmp_path, {"a": [1, 2]})
    body = viewer_client.get(f"/api/results/{reference.pk}/preview/").json()
    assert body["format"] == "json" and body["value"]["type"] == "builtins.dict"
    corrupt = raw_file_result(tmp_path / "c", b"\x00\xffjunk")
    body = viewer_client.get(f"/api/results/{corrupt.pk}/preview/").json()
    assert body["error"] and body["raw_head"]["hex"].startswith("00 ff")


def test_decode_permissions_viewer_403_operator_200(viewer_client, make_user, tmp_path):
    reference = stored_result(tmp_path, {"a": 1}, serializer="pickle")
    url = f"/api/results/{reference.pk}/decode/"
    assert viewer_client.post(url).status_code == 403
    viewer_client.force_login(make_user("operator", username="api-operator"))
    response = viewer_client.post(url)
    assert response.status_code == 200
    assert response.json()["ok"] is True and response.json()["type"] == "builtins.dict"


def test_decode_of_a_malicious_pickle_is_refused(operator_client, tmp_path):
    marker = tmp_path / "pwned"
    reference = stored_result(tmp_path / "s", MarkerPayload(str(marker)), serializer="pickle")
    body = operator_client.post(f"/api/results/{reference.pk}/decode/").json()
    assert body["ok"] is False and body["error_kind"] == "refused"
    assert not marker.exists()


def test_raw_download_streams(viewer_client, tmp_path):
    reference = raw_file_result(tmp_path, b"abc" * 1000, key="r.bin")
    response = viewer_client.get(f"/api/results/{reference.pk}/raw/")
    assert response.status_code == 200 and response.streaming
    assert b"".join(response.streaming_content) == b"abc" * 1000
    assert "attachment" in response["Content-Disposition"]
    (tmp_path / "r.bin").unlink()
    assert viewer_client.get(f"/api/results/{reference.pk}/raw/").status_code == 404


def test_schema_is_valid(viewer_client):
    response = viewer_client.get("/api/schema/")
    assert response.status_code == 200
    text = response.content.decode()
    for path in (
        "/api/runs/",
        "/api/runs/{id}/task-runs/",
        "/api/results/{id}/preview/",
        "/api/results/{id}/decode/",
        "/api/results/{id}/raw/",
    ):
        assert path in text, path
