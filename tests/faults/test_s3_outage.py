"""The S3 server stopped in the middle of writing a result: the write fails with a clear storage
error and leaves no object behind, the flow's retry writes it once S3 is back, and the dashboard
shows "storage unreachable" for results on a stopped S3 instead of answering 500."""

from __future__ import annotations

import pytest

from apps.blocks import services
from apps.blocks.filesystems import StorageError
from apps.flows import flow, task
from apps.flows.models import FlowRun, TaskRun
from apps.results.models import ResultReference

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
PART = 9 * 1024 * 1024  # over one multipart part: the first part is uploaded before the stop


class OutageDuringPickling:
    """Pickled between two large parts of a value: stops the S3 server while the value is being
    written, the first time it is pickled."""

    server = None
    done = False

    def __reduce__(self):
        if not OutageDuringPickling.done:
            OutageDuringPickling.done = True
            OutageDuringPickling.server.stop()
        return (int, (0,))


@task(persist_result=True)
def big_value() -> list:
    return [b"a" * PART, OutageDuringPickling(), b"b" * PART]


@pytest.fixture
def s3_block(s3_server):
    client = s3_server.client()
    client.create_bucket(Bucket="faults")
    block = services.block_create(
        block_type="s3",
        name="outage",
        settings={
            "bucket_path": "faults/results",
            "endpoint_url": s3_server.endpoint,
            "aws_access_key_id": s3_server.access_key,
            "aws_secret_access_key": s3_server.secret_key,
            "region_name": "us-east-1",
        },
    )
    return block, client


def bucket_keys(client) -> list[str]:
    return [item["Key"] for item in client.list_objects_v2(Bucket="faults").get("Contents", [])]


def test_a_write_cut_by_an_s3_outage_fails_clearly_and_a_retry_stores_it(s3_server, s3_block):
    block, client = s3_block
    OutageDuringPickling.server = s3_server
    OutageDuringPickling.done = False

    @flow(name="s3-outage", result_storage=block.slug)
    def s3_outage() -> int:
        return len(big_value())

    state = s3_outage(return_state=True)

    run = FlowRun.objects.get(flow_name="s3-outage")
    assert state.is_failed() and run.state == "FAILED"
    failed = TaskRun.objects.get(flow_run=run)
    assert failed.state == "FAILED"
    assert "storage unreachable" in failed.state_message, failed.state_message
    assert "storage unreachable" in run.state_message, run.state_message
    s3_server.start()
    assert bucket_keys(client) == []  # the cut upload left nothing visible

    retry = s3_outage(return_state=True)

    assert retry.is_completed(), retry.message
    stored = ResultReference.objects.get(pk=TaskRun.objects.get(state="COMPLETED").result_id)
    # The task's value and the flow's own result (the flow names a storage, so it persists).
    assert sorted(bucket_keys(client)) == sorted(
        f"results/{ref.key}" for ref in ResultReference.objects.all()
    )
    assert client.head_object(Bucket="faults", Key=f"results/{stored.key}")["ContentLength"] > 2 * PART


def test_result_pages_say_storage_unreachable_while_s3_is_down(s3_server, s3_block, viewer_client):
    block, _ = s3_block
    filesystem = block.filesystem()
    filesystem.write_path("one", b'{"metadata": {}, "result": "1"}')
    reference = ResultReference.objects.create(
        block=block, storage_location=filesystem.basepath, key="one", size_bytes=30
    )
    assert viewer_client.get(f"/results/{reference.pk}/").status_code == 200
    s3_server.stop()
    with pytest.raises(StorageError):
        filesystem.read_path("one")

    page = viewer_client.get(f"/results/{reference.pk}/")

    assert page.status_code == 200
    assert "storage unreachable" in page.content.decode().lower()
