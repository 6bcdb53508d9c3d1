"""The runs browser's filters of synced runs: Prefect server, deployment, tag and work pool, on the
page and in the API, and those fields in the API's output."""

import uuid

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.flows.models import FlowRun, RunSource
from apps.prefect_servers.services import connection_save
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def synced(connection, name, **fields):
    return FlowRun.objects.create(
        name=name,
        flow_name="etl",
        source=RunSource.PREFECT,
        source_connection_id=connection.pk,
        external_id=uuid.uuid4(),
        **fields,
    )


@pytest.fixture
def runs():
    north = connection_save(name="north", api_url="http://127.0.0.1:9/api")
    south = connection_save(name="south", api_url="http://127.0.0.1:8/api")
    return {
        "nightly": synced(north, "nightly", deployment="etl/nightly", work_pool="k8s", tags=["prod", "etl"]),
        "adhoc": synced(north, "adhoc", deployment="etl/adhoc", work_pool="local", tags=["dev"]),
        "south": synced(south, "south-run", deployment="etl/nightly", work_pool="k8s", tags=["production"]),
        "own": FlowRun.objects.create(name="own-run", flow_name="etl"),
        "north": north,
        "south_connection": south,
    }


def names(response) -> set[str]:
    return {run["name"] for run in response.json()["results"]}


@pytest.fixture
def api():
    client = APIClient()
    client.force_authenticate(UserFactory(role="viewer"))
    return client


def test_the_api_filters_by_connection_deployment_tag_and_work_pool(runs, api):
    north = runs["north"].pk
    assert names(api.get("/api/runs/", {"connection": str(north)})) == {"nightly", "adhoc"}
    assert names(api.get("/api/runs/", {"deployment": "etl/nightly"})) == {"nightly", "south-run"}
    assert names(api.get("/api/runs/", {"work_pool": "local"})) == {"adhoc"}
    # A tag matches whole tags only: "prod" is not "production".
    assert names(api.get("/api/runs/", {"tag": "prod"})) == {"nightly"}
    assert names(api.get("/api/runs/", {"tag": "production", "work_pool": "k8s"})) == {"south-run"}
    assert api.get("/api/runs/", {"connection": str(uuid.uuid4())}).status_code == 400


def test_the_api_shows_where_a_synced_run_comes_from(runs, api):
    body = {run["name"]: run for run in api.get("/api/runs/").json()["results"]}
    nightly = body["nightly"]
    assert nightly["source"] == "prefect" and nightly["connection"] == str(runs["north"].pk)
    assert nightly["external_id"] == str(runs["nightly"].external_id)
    assert (nightly["deployment"], nightly["work_pool"], nightly["tags"]) == (
        "etl/nightly",
        "k8s",
        ["prod", "etl"],
    )
    assert body["own-run"]["source"] == "" and body["own-run"]["connection"] is None


def test_the_runs_page_filters_and_counts_nothing(runs, viewer_client):
    with CaptureQueriesContext(db_connection) as queries:
        page = viewer_client.get("/runs/", {"tag": "dev"}).content.decode()
    assert "adhoc" in page and "nightly" not in page and "own-run" not in page
    assert 'name="connection"' in page and ">north</option>" in page
    assert 'href="?tag=dev"' in page and 'href="?work_pool=local"' in page
    assert not [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    by_connection = viewer_client.get("/runs/", {"connection": str(runs["south_connection"].pk)})
    assert "south-run" in by_connection.content.decode() and "adhoc" not in by_connection.content.decode()


def test_without_a_prefect_server_the_page_leaves_their_filters_out(viewer_client):
    FlowRun.objects.create(name="own-run", flow_name="etl")
    page = viewer_client.get("/runs/").content.decode()
    assert "own-run" in page and 'name="deployment"' not in page and 'name="tag"' not in page


def test_the_filters_use_their_indexes():
    if db_connection.vendor != "postgresql":
        pytest.fail("the index test needs PostgreSQL")
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'flows_flowrun'")
        indexes = {row[0] for row in cursor.fetchall()}
    assert {
        "flowrun_connection_idx",
        "flowrun_deployment_idx",
        "flowrun_work_pool_idx",
        "flowrun_tags_gin_idx",
    } <= indexes
    with db_connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = (
            FlowRun.objects.filter(tags__contains=["prod"]).order_by("-created").query.sql_with_params()
        )
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "flowrun_tags_gin_idx" in plan
