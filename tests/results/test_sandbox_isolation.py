"""The decode sandbox's isolation: code that got past the allowlist still cannot reach the host."""

from __future__ import annotations

import ctypes
import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from apps.results.preview.isolation import BUBBLEWRAP_MISSING, isolation_drops_root, path_open_to_others
from apps.results.preview.sandbox import PROJECT_ROOT, sandbox_decode, sandbox_run
from tests.dashboard_data import stored_result

ESCAPES = r"""
import os, socket, subprocess, threading

def attempt(name, action):
    try:
        outcomes[name] = {"escaped": True, "detail": repr(action())[:300]}
    except BaseException as error:
        outcomes[name] = {"escaped": False, "detail": f"{type(error).__name__}: {error}"}

def read(path):
    with open(path, "rb") as handle:
        data = handle.read()
    if not data:
        raise LookupError("empty")
    return data

def connect_database():
    with socket.create_connection(("127.0.0.1", targets["database_port"]), timeout=5) as connection:
        return connection.getpeername()

def send_udp():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        return udp.sendto(b"escaped", ("127.0.0.1", targets["udp_port"]))

parent_environ = f"/proc/{targets['parent_pid']}/environ"

def start_process():
    done = subprocess.run(["/bin/sh", "-c", f"cat {parent_environ}"], capture_output=True)
    if done.returncode != 0 or not done.stdout:
        raise RuntimeError(f"confined: {done.stderr[-200:]!r}")
    return done.stdout

def fork():
    child = os.fork()
    if child == 0:
        os._exit(0 if os.path.exists(parent_environ) else 7)
    _, status = os.waitpid(child, 0)
    if os.waitstatus_to_exitcode(status) == 7:
        raise RuntimeError("confined: the parent is not visible to the child")
    return status

def create(path):
    open(path, "x").close()
    return path

# Not an escape: the filter that stops new processes lets threads run.
worker = threading.Thread(target=lambda: outcomes.setdefault("thread", "ran"))
worker.start()
worker.join()
outcomes["processes"] = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
attempt("parent environ", lambda: read(parent_environ))
attempt("pid 1 environ", lambda: read("/proc/1/environ"))
attempt("database", connect_database)
attempt("udp", send_udp)
attempt("subprocess", start_process)
attempt("fork", fork)
for path in targets["secret_paths"]:
    attempt(f"read {path}", lambda path=path: read(path))
for path in targets["write_paths"]:
    attempt(f"create {path}", lambda path=path: create(path))
"""


def escapes_run(*, targets: dict, confine: bool) -> dict:
    header = {"source": ESCAPES, "targets": targets, "confine": confine}
    run = sandbox_run(
        stdin=json.dumps(header).encode() + b"\n",
        worker="tests.results.sandbox_escape_worker",
        code_paths=[str(PROJECT_ROOT / "tests")],
        timeout=60,
    )
    assert run.isolated and run.returncode == 0 and not run.timed_out, run.stderr.decode()
    return json.loads(run.stdout)


@pytest.fixture
def udp_listener():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        yield listener


@pytest.mark.parametrize("confine", [True, False], ids=["confined", "namespaces-only"])
def test_code_past_the_allowlist_cannot_escape(confine, tmp_path, udp_listener):
    marker = uuid.uuid4().hex
    database_port = urlsplit(os.environ["DATABASE_URL"]).port
    project_secret = PROJECT_ROOT / f".escape-secret-{marker}"
    host_secret = tmp_path / "secret.env"
    host_secret.write_text(f"DJANGO_SECRET_KEY={marker}\n")
    write_paths = [PROJECT_ROOT / f"escape-{marker}", Path("/tmp") / f"escape-{marker}", tmp_path / "escape"]
    # The targets are real: from the host each of them answers.
    socket.create_connection(("127.0.0.1", database_port), timeout=5).close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(b"control", udp_listener.getsockname())
    assert udp_listener.recv(64) == b"control"
    assert Path(f"/proc/{os.getpid()}/environ").read_bytes()
    targets = {
        "parent_pid": os.getpid(),
        "database_port": database_port,
        "udp_port": udp_listener.getsockname()[1],
        "secret_paths": [str(project_secret), str(host_secret), str(PROJECT_ROOT / "pyproject.toml")],
        "write_paths": [str(path) for path in write_paths],
    }
    project_secret.write_text(marker)
    try:
        answer = escapes_run(targets=targets, confine=confine)
    finally:
        project_secret.unlink()
    outcomes = answer.pop("outcomes")
    # bubblewrap's init and the worker: no host process is in sight.
    assert outcomes.pop("processes") == [1, 2]
    assert outcomes.pop("thread") == "ran"
    # In the private network namespace a datagram may leave the socket; it never reaches the host.
    udp = outcomes.pop("udp")
    creations = {name: outcomes.pop(name) for name in list(outcomes) if name.startswith("create ")}
    assert {name for name, outcome in outcomes.items() if outcome["escaped"]} == set(), outcomes
    assert "FileNotFoundError" in outcomes["parent environ"]["detail"]
    assert outcomes["pid 1 environ"]["detail"].startswith(("LookupError: empty", "PermissionError"))
    with pytest.raises(BlockingIOError):
        udp_listener.recv(64, socket.MSG_DONTWAIT)
    assert [path for path in write_paths if path.exists()] == []
    if confine:
        assert answer["layers"] == ["nproc", "seccomp"]
        blocked = ("database", "subprocess", "fork")
        assert all(outcomes[name]["detail"].startswith("PermissionError") for name in blocked), outcomes
        assert udp["detail"].startswith("PermissionError")
        beside_project = creations[f"create {write_paths[0]}"]
        if PROJECT_ROOT.is_relative_to("/tmp"):
            # A checkout under /tmp sits inside the sandbox's private /tmp: a file made there stays
            # in that tmpfs (the host check above shows it never reached the host).
            assert beside_project["detail"].startswith(("OSError: [Errno 30]", repr(str(write_paths[0]))))
        else:
            assert beside_project["detail"].startswith("OSError: [Errno 30]")
    else:
        assert "confined" in outcomes["subprocess"]["detail"] and "confined" in outcomes["fork"]["detail"]


def test_the_launcher_becomes_nobody_only_when_nobody_can_read_the_binds(tmp_path):
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    assert path_open_to_others("/usr/lib") is True
    assert path_open_to_others(str(closed)) is False
    assert isolation_drops_root(binds=["/usr/lib"]) is (os.getuid() == 0)
    assert isolation_drops_root(binds=["/usr/lib", str(closed)]) is False


def test_without_bubblewrap_the_sandbox_refuses_unless_the_fallback_is_allowed(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    refused = sandbox_decode(data=b"[1, 2]", serializer_config="json", layout="v3-raw")
    assert refused["ok"] is False and refused["error_kind"] == "isolation"
    assert (
        refused["error"]
        == BUBBLEWRAP_MISSING
        == "the decode sandbox needs bubblewrap (apt-get install bubblewrap)"
    )
    weaker = sandbox_decode(data=b"[1, 2]", serializer_config="json", layout="v3-raw", isolation="fallback")
    assert weaker["ok"] is True and weaker["isolated"] is False and weaker["type"] == "builtins.list"


def test_namespaces_refused_by_the_kernel_make_the_sandbox_refuse(tmp_path, monkeypatch):
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    refused = sandbox_decode(data=b"[1, 2]", serializer_config="json", layout="v3-raw")
    assert refused["error_kind"] == "isolation"
    assert "No permissions to create new namespace" in refused["error"]
    assert sandbox_decode(data=b"[1]", serializer_config="json", layout="v3-raw", isolation="fallback")["ok"]


def test_a_normal_decode_is_isolated():
    answer = sandbox_decode(data=b'{"a": 1}', serializer_config="json", layout="v3-raw")
    assert answer["ok"] is True and answer["isolated"] is True


@pytest.mark.django_db
def test_the_setting_reaches_the_decode_page(operator_client, settings, tmp_path, monkeypatch):
    reference = stored_result(tmp_path, {"n": 1}, serializer="pickle")
    url = reverse("results:result-decode", args=[reference.pk])
    monkeypatch.setenv("PATH", str(tmp_path))
    settings.RESULTDECK_SANDBOX_ISOLATION = "required"
    refused = operator_client.post(url).content.decode()
    assert "could not decode this result" in refused and BUBBLEWRAP_MISSING in refused
    settings.RESULTDECK_SANDBOX_ISOLATION = "fallback"
    assert "builtins.dict" in operator_client.post(url).content.decode()


# A child of the same user that reads its parent's environment. Root reads any process's, and a
# process cannot read one with more capabilities, so as root both give up every capability first, as
# the processes of an ordinary user have none.
READ_PARENT = (
    "import os\n"
    "try:\n"
    "    print('read' if open(f'/proc/{os.getppid()}/environ', 'rb').read() else 'empty')\n"
    "except PermissionError:\n"
    "    print('refused')\n"
)
PARENT = """
import subprocess, sys
from apps.core.apps import process_dumpable_disable
def child_reads():
    return subprocess.run(READER, capture_output=True, text=True, check=True).stdout.strip()
before = child_reads()
took_effect = process_dumpable_disable()
print(before, took_effect, child_reads())
"""


def test_a_child_of_the_same_user_cannot_read_a_non_dumpable_parents_environment():
    unprivileged = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--"] if os.geteuid() == 0 else []
    reader = [*unprivileged, sys.executable, "-c", READ_PARENT]
    done = subprocess.run(
        [*unprivileged, sys.executable, "-c", f"READER = {reader!r}\n{PARENT}"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["read", "True", "refused"], done.stderr


def test_loading_the_project_makes_the_process_non_dumpable():
    pr_get_dumpable = 3
    assert ctypes.CDLL(None).prctl(pr_get_dumpable, 0, 0, 0, 0) == 0
