"""prefect_connect and prefect_sync from the command line, and a sync cut short then run again."""

import io

import pytest
from django.core.management import CommandError, call_command

from apps.flows.models import FlowRun, TaskRun
from apps.prefect_servers.client import ErrorKind, PrefectApiError, PrefectClient
from apps.prefect_servers.models import AuthKind, PrefectConnection, SyncStatus
from apps.prefect_servers.services import connection_credential, connection_save
from apps.prefect_servers.sync import prefect_sync
from apps.results.models import ResultReference

from .conftest import AUTH_STRING

pytestmark = pytest.mark.django_db


def test_prefect_connect_reads_the_credential_from_the_named_variable(prefect3_auth_server, monkeypatch):
    monkeypatch.setenv("MY_AUTH", AUTH_STRING)
    out = io.StringIO()
    call_command(
        "prefect_connect",
        "secured",
        "--api-url",
        prefect3_auth_server,
        "--auth-string-env",
        "MY_AUTH",
        stdout=out,
    )
    connection = PrefectConnection.objects.get(name="secured")
    assert connection.auth_kind == AuthKind.BASIC
    assert AUTH_STRING not in connection.encrypted_credential  # encrypted at rest
    assert connection_credential(connection) == AUTH_STRING
    assert "Connected to Prefect 3.9.1." in out.getvalue()
    assert PrefectConnection.objects.get(name="secured").server_version == "3.9.1"


def test_prefect_connect_updates_and_refuses_an_unset_variable(prefect3_server):
    call_command("prefect_connect", "again", "--api-url", prefect3_server.api_url, "--no-test")
    call_command(
        "prefect_connect", "again", "--api-url", prefect3_server.api_url, "--ui-url", "http://ui", "--no-test"
    )
    assert PrefectConnection.objects.get(name="again").ui_url == "http://ui"
    with pytest.raises(CommandError, match="NOT_SET_ANYWHERE is not set"):
        call_command(
            "prefect_connect", "again", "--api-url", "http://x/api", "--api-key-env", "NOT_SET_ANYWHERE"
        )


def test_prefect_sync_command_syncs_and_reports_failures(prefect3_server):
    connection_save(name="cli", api_url=prefect3_server.api_url)
    connection_save(name="gone", api_url="http://127.0.0.1:9/api")
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="1 of 2"):
        call_command("prefect_sync", stdout=out, stderr=err)
    assert "cli: Synced" in out.getvalue()
    assert "gone: sync failed: cannot reach" in err.getvalue()
    assert PrefectConnection.objects.get(name="gone").sync_status == SyncStatus.FAILED
    assert (
        FlowRun.objects.filter(source_connection_id=PrefectConnection.objects.get(name="cli").pk).count() == 4
    )


class CutShort(PrefectClient):
    """A real client whose connection drops after a number of requests, as a killed sync would."""

    budget = 0

    def request(self, method, path, *, body=None):
        if self.requests_made >= self.budget:
            raise PrefectApiError("connection dropped", kind=ErrorKind.UNREACHABLE)
        return super().request(method, path, body=body)


def rows(connection):
    flows = sorted(
        FlowRun.objects.filter(source_connection_id=connection.pk).values_list(
            "external_id", "state", "result__key"
        )
    )
    tasks = sorted(
        TaskRun.objects.filter(source_connection_id=connection.pk).values_list(
            "external_id", "state", "result__key"
        )
    )
    return flows, tasks


def test_a_sync_cut_short_and_run_again_equals_one_uninterrupted_sync(prefect3_server):
    whole = connection_save(name="whole", api_url=prefect3_server.api_url)
    assert prefect_sync(connection=whole, page_size=1).ok
    expected = rows(whole)

    cut = connection_save(name="cut", api_url=prefect3_server.api_url)
    client = CutShort(api_url=cut.api_url)
    client.budget = 7  # version, flows, deployments, the first page of runs, and part of the rest
    report = prefect_sync(connection=cut, client=client, page_size=1)
    assert not report.ok and PrefectConnection.objects.get(pk=cut.pk).sync_status == SyncStatus.FAILED
    partial = rows(cut)
    assert 0 < len(partial[0]) < len(expected[0])

    assert prefect_sync(connection=PrefectConnection.objects.get(pk=cut.pk), page_size=1).ok
    flows, tasks = rows(cut)
    assert len(flows) == len(expected[0]) and len(tasks) == len(expected[1])
    assert {f[0] for f in flows} == {f[0] for f in expected[0]}
    assert {t[0] for t in tasks} == {t[0] for t in expected[1]}
    assert sorted(f[1:] for f in flows) == sorted(f[1:] for f in expected[0])
    keys = [
        key for key in ResultReference.objects.filter(is_literal=False).values_list("storage_location", "key")
    ]
    assert len(keys) == len(set(keys))
