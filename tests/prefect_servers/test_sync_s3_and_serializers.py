"""Real flows on both servers keep results on SeaweedFS through an S3 block (prefect-aws S3Bucket
with AwsCredentials on 3.x, the built-in S3 block on 2.x), with compressed serializers and cached
tasks; a sync finds every run, state and reference, and the results preview."""

import pytest

from apps.blocks.models import BlockType
from apps.blocks.services import block_create
from apps.flows.models import FlowRun, TaskRun
from apps.prefect_servers.models import StorageBlockLink
from apps.prefect_servers.services import block_link_set, connection_client, connection_save
from apps.prefect_servers.sync import prefect_sync
from apps.results.contents import reference_preview
from apps.results.models import ResultReference

pytestmark = pytest.mark.django_db


def preview_text(reference) -> str:
    preview = reference_preview(reference=reference)
    assert preview.get("error") in (None, ""), preview
    return str(preview)


def document_id_of(connection, name: str) -> str:
    client = connection_client(connection)
    found = client.request(
        "POST", "block_documents/filter", body={"block_documents": {"name": {"any_": [name]}}}
    )
    return found[0]["id"]


def test_a_3x_s3_bucket_block_becomes_a_block_that_reads_its_results(prefect3_server):
    connection = connection_save(name="s3-3", api_url=prefect3_server.api_url)
    report = prefect_sync(connection=connection)
    assert report.ok, report.message

    run = FlowRun.objects.get(source_connection_id=connection.pk, flow_name="s3-results")
    assert run.state == "COMPLETED"
    tasks = list(TaskRun.objects.filter(flow_run=run).order_by("created"))
    assert [task.task_name for task in tasks] == ["cached_on_s3", "on_s3", "cached_on_s3"]
    first, on_s3, second = tasks
    # The S3Bucket document and its AwsCredentials ($ref) became one S3 block with the endpoint.
    block = on_s3.result.block
    assert block.block_type == BlockType.S3
    assert block.settings["bucket_path"] == f"{prefect3_server.s3_bucket}/prefect3"
    assert block.settings["endpoint_url"] == prefect3_server.env["RD_S3_ENDPOINT"]
    link = StorageBlockLink.objects.get(connection=connection, block=block)
    assert link.block_type_slug == "s3-bucket" and link.problem == ""

    assert on_s3.result.layout == ResultReference.Layout.V3_RECORD
    assert on_s3.result.serializer_type == "compressed/json"
    assert "doubled" in preview_text(on_s3.result)
    # The cached call: a Cached state over the first call's record, whose key is the cache key (3.x
    # task runs leave their cache_key field empty).
    assert first.state_history[-1]["name"] == "Completed" and second.state_history[-1]["name"] == "Cached"
    assert second.result.key == first.result.key and "kept on s3: 3" in preview_text(second.result)
    # The flow's raw return value on S3, read with the API state's serializer.
    assert run.result.layout == ResultReference.Layout.V3_RAW and run.result.block_id == block.pk
    assert "doubled" in preview_text(run.result)


def test_a_2x_s3_block_mapped_onto_a_block_reads_its_results(prefect2_server, s3_settings):
    connection = connection_save(name="s3-2", api_url=prefect2_server.api_url)
    # Prefect 2's S3 block names no endpoint: the operator maps it onto a block that does.
    mine = block_create(
        block_type=BlockType.S3,
        name="seaweed-2",
        settings={**s3_settings, "bucket_path": f"{prefect2_server.s3_bucket}/prefect2"},
    )
    block_link_set(
        connection=connection, block_document_id=document_id_of(connection, "seaweed-results"), block=mine
    )
    report = prefect_sync(connection=connection)
    assert report.ok, report.message

    run = FlowRun.objects.get(source_connection_id=connection.pk, flow_name="s3-results")
    tasks = list(TaskRun.objects.filter(flow_run=run).order_by("created"))
    assert [task.task_name for task in tasks] == ["cached_on_s3", "on_s3", "cached_on_s3"]
    first, on_s3, second = tasks
    assert on_s3.result.block_id == mine.pk and on_s3.result.layout == ResultReference.Layout.V2_BLOB
    assert on_s3.result.serializer_type == "compressed/json"
    assert "doubled" in preview_text(on_s3.result)
    assert second.state_history[-1]["name"] == "Cached" and second.cache_key == first.cache_key
    assert "kept on s3: 3" in preview_text(second.result)
    assert run.result.block_id == mine.pk and "doubled" in preview_text(run.result)


@pytest.mark.parametrize("server", ["prefect3_server", "prefect2_server"])
def test_compressed_serializers_and_a_cached_task_in_local_storage(server, request):
    prefect = request.getfixturevalue(server)
    connection = connection_save(name=f"local-{server}", api_url=prefect.api_url)
    assert prefect_sync(connection=connection).ok
    parent = FlowRun.objects.get(source_connection_id=connection.pk, flow_name="sync-me")
    tasks = {}
    for task in TaskRun.objects.filter(flow_run=parent).order_by("created"):
        tasks.setdefault(task.task_name, []).append(task)

    squeezed, squeezed_json = tasks["squeezed"][0].result, tasks["squeezed_json"][0].result
    assert squeezed.serializer_type == "compressed/pickle" and "row-4" in preview_text(squeezed)
    assert squeezed_json.serializer_type == "compressed/json" and "squares" in preview_text(squeezed_json)
    first, second = tasks["cached"]
    assert (first.state, second.state) == ("COMPLETED", "COMPLETED")
    assert second.state_history[-1]["name"] == "Cached" and second.result.key == first.result.key
    if server == "prefect2_server":  # 2.x orchestrates on the server, which keeps the cache key
        assert second.cache_key and second.cache_key == first.cache_key
    assert "70" in preview_text(second.result)
