"""Real Prefect servers (3.9.1 and 2.20.27) on 127.0.0.1, from throwaway venvs, filled by real flows."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 120
FLOWS_SCRIPT = Path(__file__).with_name("prefect_flows.py")


def port_free() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prefect_python(version: str) -> Path:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from prefect_venv import prefect_venv_ensure
    finally:
        sys.path.pop(0)
    return prefect_venv_ensure(version=version)


@dataclass
class PrefectServer:
    api_url: str
    python: Path
    env: dict[str, str]
    results_dir: Path
    default_dir: Path


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


def server_start(*, version: str, home: Path, extra_env: dict[str, str] | None = None):
    python = prefect_python(version)
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


def server_filled(*, version: str, base: Path):
    """Start a server of ``version`` and run the flows script against it; yields a PrefectServer."""
    process, api_url, python, env = server_start(version=version, home=base / "home")
    results_dir, default_dir = base / "results", base / "default"
    env = {**env, "PREFECT_API_URL": api_url, "PREFECT_LOCAL_STORAGE_PATH": str(default_dir)}
    try:
        subprocess.run(
            [str(python), str(FLOWS_SCRIPT), str(results_dir), str(default_dir)],
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
        yield PrefectServer(api_url, python, env, results_dir, default_dir)
    finally:
        server_stop(process)


@pytest.fixture(scope="session")
def prefect3_server(tmp_path_factory):
    yield from server_filled(version="3.9.1", base=tmp_path_factory.mktemp("prefect3"))


@pytest.fixture(scope="session")
def prefect2_server(tmp_path_factory):
    yield from server_filled(version="2.20.27", base=tmp_path_factory.mktemp("prefect2"))


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
