"""Sync a real Prefect 3.9.1 server and read its results through Resultdeck's own preview."""

import pytest

from apps.blocks.models import BlockType
from apps.blocks.services import block_create
from apps.flows.models import FlowRun, RunSource, TaskRun
from apps.prefect_servers.models import PrefectConnection, SyncStatus
from apps.prefect_servers.services import connection_save, path_mapping_set
from apps.prefect_servers.sync import prefect_sync
from apps.results.contents import reference_preview
from apps.results.models import ResultReference

pytestmark = pytest.mark.django_db


@pytest.fixture
def connection(prefect3_server):
    return connection_save(name="local-3", api_url=prefect3_server.api_url, ui_url="http://127.0.0.1:4200")


def test_a_sync_records_every_run_state_and_result(connection, prefect3_server):
    default_block = block_create(
        block_type=BlockType.LOCAL,
        name="prefect-default",
        settings={"basepath": str(prefect3_server.default_dir)},
    )
    path_mapping_set(connection=connection, path_prefix=str(prefect3_server.default_dir), block=default_block)

    report = prefect_sync(connection=connection)

    assert report.ok, report.message
    connection.refresh_from_db()
    assert connection.sync_status == SyncStatus.OK
    assert connection.server_version == "3.9.1"
    flows = {run.flow_name: run for run in FlowRun.objects.filter(source_connection_id=connection.pk)}
    assert set(flows) == {"sync-me", "child", "default-storage", "s3-results"}
    parent, child = flows["sync-me"], flows["child"]
    assert parent.source == RunSource.PREFECT
    assert parent.state == "COMPLETED" and parent.parameters == {"x": 4}
    assert parent.external_url == f"http://127.0.0.1:4200/runs/flow-run/{parent.external_id}"
    assert child.parent_flow_run_id == parent.pk and child.parent_task_run.flow_run_id == parent.pk

    tasks = {run.task_name: run for run in TaskRun.objects.filter(flow_run=parent)}
    assert {"add", "flaky", "nothing", "fails", "child"} <= set(tasks)
    assert tasks["add"].tags == ["numbers"]
    assert tasks["flaky"].run_count == 2 and tasks["flaky"].state == "COMPLETED"
    assert tasks["fails"].state == "FAILED" and "always fails" in tasks["fails"].state_message
    assert tasks["fails"].result is None and tasks["fails"].external_result == {"kind": "unpersisted"}

    add = tasks["add"].result
    assert add.layout == ResultReference.Layout.V3_RECORD and add.serializer_type == "json"
    assert add.block.block_type == BlockType.LOCAL  # made from the server's local-file-system block
    tree = reference_preview(reference=add)["value"]
    assert tree["type"] == "builtins.dict"
    assert {child["key"]: child.get("value") for child in tree["children"]}["sum"] == 7
    flaky_preview = reference_preview(reference=tasks["flaky"].result)
    assert flaky_preview["format"] == "pickle" and "second time lucky" in str(flaky_preview)

    # A flow's return value is a raw payload: previewed with the serializer from the API state.
    assert parent.result.layout == ResultReference.Layout.V3_RAW
    assert "HELLO" in str(reference_preview(reference=parent.result))
    assert child.result_id == tasks["child"].result_id

    # Default storage: an absolute key, found through the path mapping.
    default_run = flows["default-storage"]
    assert default_run.result.block_id == default_block.pk
    assert "/" not in default_run.result.key
    assert reference_preview(reference=default_run.result)["error"] in (None, "")


def test_a_second_sync_adds_nothing_and_a_full_one_duplicates_nothing(connection):
    first = prefect_sync(connection=connection)
    runs = FlowRun.objects.filter(source_connection_id=connection.pk).count()
    tasks = TaskRun.objects.filter(source_connection_id=connection.pk).count()
    references = ResultReference.objects.count()

    second = prefect_sync(connection=connection)
    again = prefect_sync(connection=PrefectConnection.objects.get(pk=connection.pk), full=True)

    assert first.ok and second.ok and again.ok
    assert second.counts["flow_runs"] <= first.counts["flow_runs"]
    assert FlowRun.objects.filter(source_connection_id=connection.pk).count() == runs
    assert TaskRun.objects.filter(source_connection_id=connection.pk).count() == tasks
    assert ResultReference.objects.count() == references


def test_synced_runs_show_a_prefect_badge_and_link_back(connection, viewer_client):
    prefect_sync(connection=connection)
    run = FlowRun.objects.get(source_connection_id=connection.pk, flow_name="sync-me")
    listing = viewer_client.get("/runs/").content.decode()
    page = viewer_client.get(f"/runs/{run.pk}/").content.decode()
    assert "source-prefect" in listing and run.external_url in listing
    assert "source-prefect" in page and f'href="{run.external_url}"' in page


def test_runs_read_again_unchanged_are_skipped_with_their_task_runs(connection):
    first = prefect_sync(connection=connection)
    # A cursor far back: the next sync's time filter finds every run again, as its overlap does.
    PrefectConnection.objects.filter(pk=connection.pk).update(
        sync_cursor={"flow_runs_end_time": "2000-01-01T00:00:00+00:00"}
    )
    again = prefect_sync(connection=PrefectConnection.objects.get(pk=connection.pk))

    assert first.ok and again.ok
    assert again.counts["unchanged"] == first.counts["flow_runs"] == 4
    assert again.counts["flow_runs"] == again.counts["task_runs"] == 0
    # version, flows, deployments, the time filter and the not-final filter: no task run pages.
    assert again.counts["requests"] == 5
