"""PostgreSQL restarted while a worker runs flows: every run ends Completed, Failed or Crashed with a
reason, none is left Running or Scheduled; the web pages answer 503 with a clear message while the
database is down and recover by themselves once it is back."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

import pytest

from .conftest import free_port, port_open, wait_for, worker_argv

pytestmark = pytest.mark.slow
FINAL = {"COMPLETED", "FAILED", "CRASHED"}


SWEEP = """
import json
from apps.flows.tasks import flow_runs_crash_orphans
print(json.dumps(flow_runs_crash_orphans(grace_seconds=0)))
"""

SIGN_IN = """
import json
from django.test import Client
from tests.factories import UserFactory
client = Client()
client.force_login(UserFactory(role="viewer"))
print(json.dumps(client.cookies["sessionid"].value))
"""


def run_states(postgres) -> dict[str, tuple[str, str]]:
    return {
        row[0]: (row[1], row[2])
        for row in postgres.query("SELECT id, state, state_message FROM flows_flowrun")
    }


def test_runs_in_flight_end_in_a_final_state_with_a_reason(
    postgres, flow_env, markers, start_process, django_call, runs_submit
):
    env = flow_env
    worker = start_process("worker", worker_argv("pg"), **env)
    ids = runs_submit(env, markers, 6, 1.0)

    # Two runs on the worker, four still queued; the database goes while the bodies finish.
    wait_for(
        lambda: sum(state == "RUNNING" for state, _ in run_states(postgres).values()) >= 2,
        timeout=60,
        what="two runs to start",
        log=worker.log_path,
    )
    postgres.stop()
    wait_for(
        lambda: len(list(markers.iterdir())) >= 2,
        timeout=60,
        what="two flow bodies to finish",
        log=worker.log_path,
    )
    postgres.start()

    def settled():
        django_call(SWEEP, **env)
        states = run_states(postgres)
        return len(states) == len(ids) and all(state in FINAL for state, _ in states.values())

    try:
        wait_for(settled, timeout=120, what="every run to end", log=worker.log_path)
    except AssertionError as error:
        raise AssertionError(f"{error}\nruns: {run_states(postgres)}") from None
    states = run_states(postgres)
    assert set(states) == set(ids)
    for state, message in states.values():
        assert state == "COMPLETED" or message, states
    assert worker.poll() is None, "the worker stayed up through the outage"


def page_status(url: str, session: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Cookie": f"sessionid={session}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - a local http URL
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_pages_answer_503_while_the_database_is_down_and_recover(
    postgres, start_process, django_call, tmp_path
):
    env = {"DATABASE_URL": postgres.url}
    session = django_call(SIGN_IN, **env)
    port = free_port()
    web = start_process(
        "web",
        [
            sys.executable,
            "-m",
            "gunicorn",
            "project.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "2",
        ],
        **env,
    )
    wait_for(lambda: port_open(port), timeout=60, what="the web server", log=web.log_path)
    base = f"http://127.0.0.1:{port}"
    pages = ["/", "/runs/", "/results/", "/api/runs/"]
    for page in pages:
        assert page_status(base + page, session)[0] == 200, page

    postgres.stop()
    for page in pages:
        status, body = page_status(base + page, session)
        assert status == 503, (page, status, body[:500])
        assert "database is unavailable" in body, body[:500]

    postgres.start()
    for page in pages:
        assert page_status(base + page, session)[0] == 200, page
    assert web.poll() is None
