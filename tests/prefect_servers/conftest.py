"""Real Prefect servers (3.9.1 and 2.20.27) on 127.0.0.1, from throwaway venvs, filled by real flows."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 120
FLOWS_SCRIPT = Path(__file__).with_name("prefect_flows.py")
# What the flows need beside Prefect to keep results on S3: prefect-aws's S3Bucket on 3.x, and
# s3fs under 2.x's built-in S3 block. Venvs of their own (scripts/prefect_venv.py --with).
S3_EXTRAS = {"3.9.1": ("prefect-aws==0.7.12",), "2.20.27": ("s3fs==2026.9.0",)}


def port_free() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prefect_python(version: str, *, extras: tuple[str, ...] = ()) -> Path:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from prefect_venv import prefect_venv_ensure
    finally:
        sys.path.pop(0)
    return prefect_venv_ensure(version=version, extras=extras)


@dataclass
class PrefectServer:
    api_url: str
    python: Path
    env: dict[str, str]
    results_dir: Path
    default_dir: Path
    s3_bucket: str = ""


def server_wait(api_url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"prefect server exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"prefect server did not start in {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}")


def server_start(
    *, version: str, home: Path, extra_env: dict[str, str] | None = None, extras: tuple[str, ...] = ()
):
    python = prefect_python(version, extras=extras)
    port = port_free()
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home}/prefect.db",
        **(extra_env or {}),
    }
    log = home / "server.log"
    process = subprocess.Popen(
        [str(python.parent / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api_url = f"http://127.0.0.1:{port}/api"
    server_wait(api_url, process, log)
    return process, api_url, python, env


def server_stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def server_filled(*, version: str, base: Path, s3: dict | None = None):
    """Start a server of ``version`` and run the flows script against it; yields a PrefectServer.

    With ``s3`` (the S3 settings and a ``bucket``), the flows keep some results there too."""
    extras = S3_EXTRAS[version] if s3 else ()
    process, api_url, python, env = server_start(version=version, home=base / "home", extras=extras)
    results_dir, default_dir = base / "results", base / "default"
    env = {**env, "PREFECT_API_URL": api_url, "PREFECT_LOCAL_STORAGE_PATH": str(default_dir)}
    if s3:
        env.update(
            RD_S3_ENDPOINT=s3["endpoint_url"],
            RD_S3_KEY=s3["aws_access_key_id"],
            RD_S3_SECRET=s3["aws_secret_access_key"],
            RD_S3_BUCKET=s3["bucket"],
        )
    try:
        ran = subprocess.run(
            [str(python), str(FLOWS_SCRIPT), str(results_dir), str(default_dir)],
            env=env,
            capture_output=True,
            timeout=300,
        )
        if ran.returncode:
            pytest.fail(f"the Prefect flows failed:\n{ran.stderr.decode()[-4000:]}")
        yield PrefectServer(api_url, python, env, results_dir, default_dir, (s3 or {}).get("bucket", ""))
    finally:
        server_stop(process)


@pytest.fixture(scope="session")
def prefect_s3(s3_settings, s3_client):
    """A bucket for the servers' flows, for the whole session (each server its own folder in it)."""
    bucket = f"prefect-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket)
    yield {**s3_settings, "bucket": bucket}
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
        if keys:
            s3_client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
    s3_client.delete_bucket(Bucket=bucket)


@pytest.fixture(scope="session")
def prefect3_server(tmp_path_factory, prefect_s3):
    yield from server_filled(version="3.9.1", base=tmp_path_factory.mktemp("prefect3"), s3=prefect_s3)


@pytest.fixture(scope="session")
def prefect2_server(tmp_path_factory, prefect_s3):
    yield from server_filled(version="2.20.27", base=tmp_path_factory.mktemp("prefect2"), s3=prefect_s3)


AUTH_STRING = "admin:correct-horse"


@pytest.fixture(scope="session")
def prefect3_auth_server(tmp_path_factory):
    """A second 3.9.1 server that demands PREFECT_SERVER_API_AUTH_STRING."""
    base = tmp_path_factory.mktemp("prefect3-auth")
    process, api_url, _, _ = server_start(
        version="3.9.1", home=base / "home", extra_env={"PREFECT_SERVER_API_AUTH_STRING": AUTH_STRING}
    )
    try:
        yield api_url
    finally:
        server_stop(process)
