"""The beat job syncs due connections only, one failing not stopping the others; storage problems
are named on the connection, not raised."""

import uuid

import pytest
from django.utils import timezone

from apps.flows.models import FlowRun
from apps.prefect_servers.models import PrefectConnection, StorageBlockLink, SyncStatus
from apps.prefect_servers.services import connection_client, connection_save
from apps.prefect_servers.storage import block_link_resolve
from apps.prefect_servers.sync import prefect_sync
from apps.prefect_servers.tasks import sync_due
from tests.prefect_servers.rest import api_call

pytestmark = pytest.mark.django_db


def test_the_beat_job_syncs_due_connections_and_one_failing_does_not_stop_the_others(prefect3_server):
    broken = connection_save(name="a-broken", api_url="http://127.0.0.1:9/api")
    due = connection_save(name="b-due", api_url=prefect3_server.api_url)
    recent = connection_save(name="c-recent", api_url=prefect3_server.api_url)
    off = connection_save(name="d-off", api_url=prefect3_server.api_url, sync_enabled=False)
    PrefectConnection.objects.filter(pk=recent.pk).update(sync_started_at=timezone.now())

    assert sync_due() == 2

    statuses = dict(PrefectConnection.objects.values_list("name", "sync_status"))
    assert statuses == {
        "a-broken": SyncStatus.FAILED,
        "b-due": SyncStatus.OK,
        "c-recent": SyncStatus.NEVER,
        "d-off": SyncStatus.NEVER,
    }
    assert "cannot reach" in PrefectConnection.objects.get(pk=broken.pk).sync_message
    assert FlowRun.objects.filter(source_connection_id=due.pk).count() == 4
    assert not FlowRun.objects.filter(source_connection_id__in=[recent.pk, off.pk]).exists()


def test_a_block_document_that_no_longer_exists_is_named_on_its_link(prefect3_server):
    connection = connection_save(name="gone-block", api_url=prefect3_server.api_url)
    document_id = uuid.uuid4()
    link = block_link_resolve(
        connection=connection, client=connection_client(connection), block_document_id=str(document_id)
    )
    assert link.block is None
    assert link.problem == "the block document no longer exists on the server"
    assert StorageBlockLink.objects.get(connection=connection, block_document_id=document_id).pk == link.pk


def test_a_run_deleted_in_prefect_is_marked_deleted_not_dropped(prefect3_server):
    api = prefect3_server.api_url
    flow = api_call(api, "POST", "flows/", {"name": "short-lived"})
    run = api_call(
        api, "POST", "flow_runs/", {"flow_id": flow["id"], "name": "doomed", "state": {"type": "PENDING"}}
    )
    connection = connection_save(name="deletions", api_url=api)
    try:
        assert prefect_sync(connection=connection).ok
    finally:
        api_call(api, "DELETE", f"flow_runs/{run['id']}")
    local = FlowRun.objects.get(source_connection_id=connection.pk, external_id=run["id"])
    assert local.external_deleted_at is None and local.state == "PENDING"

    report = prefect_sync(connection=PrefectConnection.objects.get(pk=connection.pk))

    local.refresh_from_db()
    assert report.ok and report.counts["deleted"] == 1
    assert local.external_deleted_at is not None  # the row stays, marked
    others = FlowRun.objects.filter(source_connection_id=connection.pk).exclude(pk=local.pk)
    assert others.count() == 4 and not others.filter(external_deleted_at__isnull=False).exists()
