"""Fixtures for engine tests: storages (local and the real S3 server) and isolated result settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.blocks.filesystems import S3, LocalFileSystem


@dataclass
class Storage:
    """A filesystem under test, with a way to list what was written to it."""

    kind: str
    filesystem: Any

    def keys(self) -> set[str]:
        return {info.key for info in self.filesystem.list("") if not info.key.startswith(".")}


def s3_filesystem(s3_settings: dict, bucket: str, prefix: str = "results") -> S3:
    return S3(
        bucket_path=f"{bucket}/{prefix}",
        aws_access_key_id=s3_settings["aws_access_key_id"],
        aws_secret_access_key=s3_settings["aws_secret_access_key"],
        endpoint_url=s3_settings["endpoint_url"],
        region_name=s3_settings["region_name"],
    )


@pytest.fixture(autouse=True)
def result_settings(settings, tmp_path, monkeypatch):
    """Every engine test writes defaults under its own tmp dir and starts from the documented defaults."""
    default_dir = tmp_path / "default-storage"
    settings.RESULTS_LOCAL_STORAGE_PATH = str(default_dir)
    settings.RESULTS_DEFAULT_STORAGE_BLOCK = ""
    settings.RESULTS_DEFAULT_SERIALIZER = "pickle"
    settings.RESULTS_PERSIST_BY_DEFAULT = False
    settings.VAR_DIR = tmp_path / "var"
    monkeypatch.delenv("REDIS_URL", raising=False)
    from apps.flows.engine.targets import targets_shared_clear
    from apps.results.resolve import lock_managers_clear

    lock_managers_clear()
    targets_shared_clear()
    return settings


@pytest.fixture
def api(make_user):
    """api("viewer") is an API client signed in as a new user with that role (None: no role)."""

    def client_for(role):
        client = APIClient()
        client.force_authenticate(make_user(role))
        return client

    return client_for


@pytest.fixture
def default_storage(result_settings) -> Storage:
    return Storage("local", LocalFileSystem(basepath=result_settings.RESULTS_LOCAL_STORAGE_PATH))


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path) -> Storage:
    """The same test on a local directory and on a bucket of the real S3 server."""
    if request.param == "local":
        return Storage("local", LocalFileSystem(basepath=tmp_path / "flow-storage"))
    s3_settings = request.getfixturevalue("s3_settings")
    bucket = request.getfixturevalue("s3_bucket")
    return Storage("s3", s3_filesystem(s3_settings, bucket))


@pytest.fixture
def other_storage(storage, tmp_path, request) -> Storage:
    """A second storage of the same kind, to tell a task's own storage from its flow's."""
    if storage.kind == "local":
        return Storage("local", LocalFileSystem(basepath=tmp_path / "task-storage"))
    s3_settings = request.getfixturevalue("s3_settings")
    bucket = request.getfixturevalue("s3_bucket")
    return Storage("s3", s3_filesystem(s3_settings, bucket, prefix="task-results"))


def path_keys(path: Path) -> set[str]:
    if not path.exists():
        return set()
    return {str(p.relative_to(path)) for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")}
