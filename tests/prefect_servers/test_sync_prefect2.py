"""Sync a real Prefect 2.20.27 server: PersistedResult references, literals, and blocks."""

import pytest

from apps.blocks.models import BlockType
from apps.flows.models import FlowRun, TaskRun
from apps.prefect_servers.services import connection_save
from apps.prefect_servers.sync import prefect_sync
from apps.results.contents import reference_preview
from apps.results.models import ResultReference

pytestmark = pytest.mark.django_db


def test_a_sync_of_a_2x_server_reads_persisted_result_references(prefect2_server):
    connection = connection_save(name="local-2", api_url=prefect2_server.api_url)

    report = prefect_sync(connection=connection)

    assert report.ok, report.message
    connection.refresh_from_db()
    assert connection.server_version.startswith("2.20")
    flows = {run.flow_name: run for run in FlowRun.objects.filter(source_connection_id=connection.pk)}
    assert set(flows) == {"sync-me", "child", "default-storage"}
    parent, child = flows["sync-me"], flows["child"]
    assert parent.parameters == {"x": 4} and child.parent_flow_run_id == parent.pk

    tasks = {run.task_name: run for run in TaskRun.objects.filter(flow_run=parent)}
    assert {"add", "flaky", "nothing", "fails", "child"} <= set(tasks)
    assert tasks["flaky"].run_count == 2
    assert tasks["fails"].state == "FAILED" and tasks["fails"].external_result["kind"] == "unpersisted"

    add = tasks["add"]
    assert add.external_result["kind"] == "reference"
    assert add.result.layout == ResultReference.Layout.V2_BLOB and add.result.serializer_type == "json"
    assert add.result.block.block_type == BlockType.LOCAL
    tree = reference_preview(reference=add.result)["value"]
    assert {node["key"]: node.get("value") for node in tree["children"]}["sum"] == 7

    nothing = tasks["nothing"].result
    assert nothing.is_literal and nothing.literal_value is None
    assert "HELLO" in str(reference_preview(reference=parent.result))
    # 2.x keeps default storage in an anonymous block, which becomes a block too.
    default_run = flows["default-storage"]
    assert default_run.result.block is not None
    assert reference_preview(reference=default_run.result)["error"] in (None, "")


def test_syncing_a_2x_server_again_keeps_its_literal_and_persisted_references(prefect2_server):
    connection = connection_save(name="again-2", api_url=prefect2_server.api_url)
    assert prefect_sync(connection=connection).ok
    references = sorted(ResultReference.objects.values_list("pk", "created"))

    assert prefect_sync(connection=connection, full=True).ok

    assert sorted(ResultReference.objects.values_list("pk", "created")) == references
