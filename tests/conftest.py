"""Fixtures shared by every test package: the real services the suite runs against.

The test command (scripts/test.sh) starts PostgreSQL, Redis and a SeaweedFS S3 server and
exports their addresses; a test that needs one and finds no address fails loudly rather
than skipping, so a green run always means the real thing was exercised.
"""

import os
import uuid

import pytest

from apps.results.format.trust import DecodeTrust, decode_trust_set


def _required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the suite through scripts/test.sh, which starts the services")
    return value


@pytest.fixture(scope="session")
def s3_settings() -> dict:
    """Connection settings for the SeaweedFS S3 server started by scripts/services.sh."""
    return {
        "endpoint_url": _required_env("TEST_S3_ENDPOINT_URL"),
        "aws_access_key_id": _required_env("TEST_S3_ACCESS_KEY_ID"),
        "aws_secret_access_key": _required_env("TEST_S3_SECRET_ACCESS_KEY"),
        "region_name": "us-east-1",
    }


@pytest.fixture(scope="session")
def s3_client(s3_settings):
    import boto3

    return boto3.client("s3", **s3_settings)


@pytest.fixture
def s3_bucket(s3_client):
    """A fresh, empty bucket for one test; emptied and removed afterwards."""
    name = f"t-{uuid.uuid4().hex[:20]}"
    s3_client.create_bucket(Bucket=name)
    yield name
    paginator = s3_client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=name):
        keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
        if keys:
            s3_client.delete_objects(Bucket=name, Delete={"Objects": keys})
    s3_client.delete_bucket(Bucket=name)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return _required_env("REDIS_URL")


@pytest.fixture(scope="session")
def prefect_corpus():
    """The folder of result files written by real Prefect 2.x and 3.x, read in place."""
    from tests.compat.corpus_canon import corpus_dir

    root = corpus_dir()
    if not (root / "manifest.jsonl").exists():
        pytest.fail(f"the Prefect corpus is not at {root} (PREFECT_CORPUS_DIR)")
    return root


@pytest.fixture
def make_user(db):
    """make_user("viewer") -> a user in that role group (None: no role)."""
    from tests.factories import UserFactory

    def make(role: str | None = None, **kwargs):
        return UserFactory(role=role, **kwargs)

    return make


@pytest.fixture
def viewer_client(client, make_user):
    client.force_login(make_user("viewer"))
    return client


@pytest.fixture
def operator_client(client, make_user):
    client.force_login(make_user("operator"))
    return client


@pytest.fixture
def admin_client_role(client, make_user):
    """A client signed in as a member of the admin role (not a Django superuser)."""
    client.force_login(make_user("admin", is_staff=True))
    return client


@pytest.fixture(autouse=True)
def _retention_cache_cleared():
    """Each test sees the retention policies of its own database, not a cached earlier test's."""
    from apps.results.retention import retention_cache_clear

    retention_cache_clear()
    yield
    retention_cache_clear()


@pytest.fixture(autouse=True)
def _cache_cleared():
    """Sign-in throttle counts (kept in the cache) of one test never refuse another test's logins."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def web_decode_trust():
    """The suite's own process decodes as the web process does: a test that imports the SDK
    (``resultdeck`` switches its process to code trust) must not widen what later tests decode."""
    decode_trust_set(DecodeTrust.WEB)
    yield
    decode_trust_set(DecodeTrust.WEB)
