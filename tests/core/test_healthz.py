"""/healthz answers load balancers: no login, no secrets, and a dead broker is reported, not raised."""

import shutil
import socket
import subprocess
import time

import pytest

pytestmark = pytest.mark.django_db


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def own_redis(tmp_path):
    """A Redis server this test may stop: the shared one must keep serving the rest of the suite."""
    port = _free_port()
    proc = subprocess.Popen(
        [
            shutil.which("redis-server"),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--dir",
            tmp_path,
        ],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    yield proc, f"redis://:s3cret-password@127.0.0.1:{port}/0"
    proc.kill()
    proc.wait()


def test_healthz_needs_no_login_and_reports_every_check(client):
    response = client.get("/healthz")
    body = response.json()
    assert set(body["checks"]) == {"database", "broker", "storage", "workers"}
    assert response.status_code == (200 if body["status"] == "ok" else 503)
    assert body["checks"]["database"]["ok"] is True


def test_healthz_reports_a_stopped_redis_as_unhealthy_without_crashing(client, settings, own_redis):
    proc, url = own_redis
    settings.CELERY_BROKER_URL = url.replace(":s3cret-password@", "@")
    settings.HEALTHZ_TIMEOUT_SECONDS = 2.0
    assert client.get("/healthz").json()["checks"]["broker"]["ok"] is True

    proc.kill()
    proc.wait()
    started = time.monotonic()
    response = client.get("/healthz")
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True
    assert elapsed < 10


def test_healthz_never_shows_broker_credentials(client, settings, own_redis):
    _, url = own_redis
    settings.CELERY_BROKER_URL = url
    body = client.get("/healthz").content.decode()
    assert "s3cret-password" not in body


def test_healthz_reports_an_unwritable_storage(client, settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings.RESULTS_LOCAL_STORAGE_PATH = str(blocker / "storage")
    settings.RESULTS_DEFAULT_STORAGE_BLOCK = ""
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["storage"]["ok"] is False
