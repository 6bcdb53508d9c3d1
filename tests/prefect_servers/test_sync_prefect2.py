"""Sync a real Prefect 2.20.27 server: PersistedResult references, literals, and blocks."""

import uuid

import pytest
from django.core.management import call_command

from apps.blocks.models import BlockType
from apps.blocks.services import block_create
from apps.flows.models import FlowRun, TaskRun
from apps.prefect_servers.services import connection_client, connection_save
from apps.prefect_servers.storage import block_link_resolve
from apps.prefect_servers.sync import prefect_sync
from apps.results.contents import reference_preview
from apps.results.models import ResultReference
from tests.prefect_servers.rest import api_call

pytestmark = pytest.mark.django_db


def test_a_sync_of_a_2x_server_reads_persisted_result_references(prefect2_server):
    connection = connection_save(name="local-2", api_url=prefect2_server.api_url)

    report = prefect_sync(connection=connection)

    assert report.ok, report.message
    connection.refresh_from_db()
    assert connection.server_version.startswith("2.20")
    flows = {run.flow_name: run for run in FlowRun.objects.filter(source_connection_id=connection.pk)}
    assert set(flows) == {"sync-me", "child", "default-storage", "s3-results"}
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


def s3_document_create(api_url: str, *, name: str, data: dict) -> str:
    """A 2.x `s3` block document saved through the server's REST API; its id."""
    block_type = api_call(api_url, "GET", "block_types/slug/s3")
    schemas = api_call(
        api_url,
        "POST",
        "block_schemas/filter",
        {"block_schemas": {"block_type_id": {"any_": [block_type["id"]]}}},
    )
    document = api_call(
        api_url,
        "POST",
        "block_documents/",
        {"name": name, "data": data, "block_type_id": block_type["id"], "block_schema_id": schemas[0]["id"]},
    )
    return document["id"]


def test_a_2x_s3_block_is_named_when_it_cannot_be_opened_and_can_be_mapped(
    prefect2_server, s3_settings, s3_bucket
):
    document_id = s3_document_create(
        prefect2_server.api_url,
        name=f"results-{uuid.uuid4().hex[:8]}",
        data={
            "bucket_path": "bucket/results",
            "aws_access_key_id": "AKIA",
            "aws_secret_access_key": "s3cr3t",
        },
    )
    connection = connection_save(name="s3-2", api_url=prefect2_server.api_url)
    link = block_link_resolve(
        connection=connection, client=connection_client(connection), block_document_id=document_id
    )
    # Prefect 2's S3 block names no region or endpoint: it cannot be opened as it stands.
    assert link.block is None and "region is missing" in link.problem

    settings = {**s3_settings, "bucket_path": f"{s3_bucket}/results"}
    mine = block_create(block_type=BlockType.S3, name="mine", settings=settings)
    call_command(
        "prefect_connect",
        "s3-2",
        "--api-url",
        prefect2_server.api_url,
        "--no-test",
        "--map-block",
        f"{document_id}=s3/mine",
        "--path-mapping",
        "/srv/prefect=s3/mine",
    )
    link.refresh_from_db()
    assert link.block_id == mine.pk and link.problem == ""
    assert connection.path_mappings.get().path_prefix == "/srv/prefect"
