"""Throwaway servers for the fault tests: each test that stops a server stops its own.

The suite's PostgreSQL, Redis and S3 servers are shared, so they are never stopped here. These
fixtures start a PostgreSQL (as the ``postgres`` user, in a temporary folder), a Redis with an
append-only file and a SeaweedFS S3 gateway, all on free ports of 127.0.0.1, and stop them at the
end. Workers and web servers are real subprocesses pointed at them; ``django_call`` runs Django code
in a subprocess against the throwaway database, so the test process's own database is left alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.celery_workers import celery_worker_argv

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
WEED = ROOT / ".venv" / "bin" / "weed"
FLOW_MODULES = "examples.flows,tests.flows.worker_flows,tests.faults.fault_flows"
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(predicate: Callable[[], object], *, timeout: float, what: str, log: Path | None = None):
    """Wait for ``predicate()`` to be truthy (returned) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{tail}")
        time.sleep(0.1)


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def process_stop(process: subprocess.Popen | None, *, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)


def spawn(argv: list[str], *, log_path: Path, **options) -> subprocess.Popen:
    """Start ``argv`` in a session of its own (stopped as a group), its output appended to ``log_path``."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **options)


def worker_argv(name: str, *, concurrency: int = 2) -> list[str]:
    return celery_worker_argv(name, concurrency=concurrency, loglevel="info")


class Postgres:
    """A PostgreSQL 15 cluster of its own, run as ``postgres``; ``stop``/``start`` keep its data."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.log = folder / "postgres.log"
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.url = f"postgres://resultdeck:resultdeck@127.0.0.1:{self.port}/resultdeck"
        self._as_postgres(f"{PG_BIN}/initdb -D {self.data} -U postgres --auth=trust -E UTF8")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 100\n"
            )

    def _as_postgres(self, command: str) -> None:
        subprocess.run(
            ["su", "postgres", "-s", "/bin/sh", "-c", command], check=True, capture_output=True, timeout=120
        )

    def start(self) -> None:
        command = (
            f"exec {PG_BIN}/postgres -D {self.data} -h 127.0.0.1 -p {self.port} -c unix_socket_directories=''"
        )
        self.process = spawn(["su", "postgres", "-s", "/bin/sh", "-c", command], log_path=self.log)
        wait_for(self.ready, timeout=START_TIMEOUT, what="PostgreSQL to accept connections", log=self.log)

    def ready(self) -> bool:
        probe = subprocess.run(
            [f"{PG_BIN}/pg_isready", "-h", "127.0.0.1", "-p", str(self.port)], capture_output=True
        )
        return probe.returncode == 0

    def stop(self) -> None:
        # Fast shutdown: open sessions are cut, as when a server is restarted under load.
        self._as_postgres(f"{PG_BIN}/pg_ctl -D {self.data} -m fast -w -t 60 stop")
        if self.process is not None:
            self.process.wait(30)
        self.process = None

    def sql(self, statement: str) -> str:
        completed = subprocess.run(
            [f"{PG_BIN}/psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-tAc", statement],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return completed.stdout.strip()

    def query(self, statement: str) -> list[list[str]]:
        output = subprocess.run(
            [
                f"{PG_BIN}/psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "resultdeck",
                "-tAF",
                "\t",
                "-c",
                statement,
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        return [line.split("\t") for line in output.splitlines() if line]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """A migrated throwaway database, shared by the fault tests (each test empties what it uses)."""
    folder = Path(tempfile.mkdtemp(prefix="rd-faults-pg-"))
    os.chmod(folder, 0o755)  # noqa: S103 - the postgres user must reach its data folder
    shutil.chown(folder, "postgres")
    server = Postgres(folder)
    server.start()
    try:
        server.sql("CREATE ROLE resultdeck LOGIN SUPERUSER PASSWORD 'resultdeck'")
        server.sql("CREATE DATABASE resultdeck OWNER resultdeck")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=child_env(DATABASE_URL=server.url),
            check=True,
            timeout=300,
        )
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres(postgres_server: Postgres) -> Iterator[Postgres]:
    """The throwaway database, running, with no runs, jobs or results left by an earlier test."""
    if postgres_server.process is None:
        postgres_server.start()
    postgres_server.query(
        "TRUNCATE flows_taskrun, flows_flowrun, results_resultreference, results_cleanupjob,"
        " results_purgeauditentry, blocks_storageblock CASCADE"
    )
    yield postgres_server
    if postgres_server.process is None:
        postgres_server.start()


class Redis:
    """A redis-server of its own that persists every write to an append-only file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.log = folder / "redis.log"
        self.process: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = spawn(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.folder),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ],
            log_path=self.log,
        )
        wait_for(lambda: self.ping(), timeout=START_TIMEOUT, what="Redis to answer", log=self.log)

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown save; only what the append-only file holds survives."""
        process_stop(self.process, sig=signal.SIGKILL)
        self.process = None


def new_folder(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Redis]:
    server = Redis(new_folder(tmp_path / "redis"))
    server.start()
    yield server
    process_stop(server.process)


class S3Server:
    """A SeaweedFS ``weed mini`` (master, volume, filer and S3 gateway) of its own."""

    access_key = "faults-key"
    secret_key = "faults-secret"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.ports = {name: free_port() for name in ("master", "volume", "filer", "admin")}
        self.log = folder / "weed.log"
        self.process: subprocess.Popen | None = None
        self.endpoint = f"http://127.0.0.1:{self.port}"
        (folder / "data").mkdir(exist_ok=True)
        identities = {
            "identities": [
                {
                    "name": "faults",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        (folder / "s3.json").write_text(json.dumps(identities))

    def start(self) -> None:
        self.process = spawn(
            [
                str(WEED),
                "mini",
                f"-dir={self.folder / 'data'}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-master.telemetry=false",
                "-admin.ui=false",
                "-webdav=false",
                f"-s3.port={self.port}",
                f"-master.port={self.ports['master']}",
                f"-volume.port={self.ports['volume']}",
                f"-filer.port={self.ports['filer']}",
                f"-admin.port={self.ports['admin']}",
                f"-s3.config={self.folder / 's3.json'}",
            ],
            log_path=self.log,
        )
        wait_for(self.answers, timeout=120, what="the S3 gateway to answer", log=self.log)

    def answers(self) -> bool:
        try:
            urllib.request.urlopen(self.endpoint + "/", timeout=1)  # noqa: S310 - our own http URL
        except urllib.error.HTTPError:
            return True  # 403 for an anonymous list: the gateway is up
        except OSError:
            return False
        return True

    def stop(self) -> None:
        process_stop(self.process, sig=signal.SIGKILL)
        self.process = None
        wait_for(lambda: not port_open(self.port), timeout=20, what="the S3 port to close")

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 2}),
        )


@pytest.fixture
def s3_server(tmp_path: Path) -> Iterator[S3Server]:
    server = S3Server(new_folder(tmp_path / "weed"))
    server.start()
    yield server
    process_stop(server.process, sig=signal.SIGKILL)


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a worker, web server or helper process run against throwaway servers."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        {
            "FLOW_MODULES": FLOW_MODULES,
            "DJANGO_DEBUG": "on",
            "PYTHONUNBUFFERED": "1",
            "CELERY_BROKER_URL": "memory://",
            **extra,
        }
    )
    return env


@pytest.fixture
def django_call(tmp_path: Path):
    """django_call(code, **env) -> the JSON the code prints as its last line, run by a Django shell
    against the given environment (DATABASE_URL and so on)."""

    def call(code: str, **env: str):
        completed = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env=child_env(RESULTDECK_VAR_DIR=str(tmp_path / "var"), **env),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
        return json.loads(completed.stdout.strip().splitlines()[-1])

    return call


SUBMIT = """
import json
from apps.flows.submission import flow_run_submit
parameters = {{"marker_dir": {marker!r}, "seconds": {seconds}}}
handles = [flow_run_submit(flow_name="fault-steps", parameters=parameters) for _ in range({count})]
print(json.dumps([str(handle.id) for handle in handles]))
"""


@pytest.fixture
def runs_submit(django_call):
    """runs_submit(env, markers, count, seconds) -> ids of ``fault-steps`` runs submitted to the
    broker and database of ``env``; each run touches a file in ``markers`` when its body ends."""

    def submit(env: dict[str, str], markers: Path, count: int, seconds: float) -> list[str]:
        return django_call(SUBMIT.format(marker=str(markers), count=count, seconds=seconds), **env)

    return submit


@pytest.fixture
def flow_env(postgres, redis_server, tmp_path: Path) -> dict[str, str]:
    """The environment of workers and helpers running flows on the throwaway database and broker."""
    return {
        "DATABASE_URL": postgres.url,
        "CELERY_BROKER_URL": redis_server.url,
        "RESULTS_LOCAL_STORAGE_PATH": str(tmp_path / "results"),
    }


@pytest.fixture
def markers(tmp_path: Path) -> Path:
    """The folder where each ``fault-steps`` run leaves a file when its body ends."""
    return new_folder(tmp_path / "markers")


@pytest.fixture
def start_process(tmp_path: Path):
    """start_process(name, argv, **env) -> a Popen in its own session, with its output in a log
    file (``.log_path``); stopped at the end of the test."""
    started: list[subprocess.Popen] = []

    def start(name: str, argv: list[str], **env: str) -> subprocess.Popen:
        log_path = tmp_path / f"{name}.log"
        process = spawn(
            argv, log_path=log_path, cwd=ROOT, env=child_env(RESULTDECK_VAR_DIR=str(tmp_path / "var"), **env)
        )
        process.log_path = log_path
        started.append(process)
        return process

    yield start
    for process in started:
        process_stop(process)
