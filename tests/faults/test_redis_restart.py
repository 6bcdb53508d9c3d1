"""Redis killed and restarted while runs are queued: no queued run is lost (Redis keeps its
messages in an append-only file) and the worker that was running reconnects by itself."""

from __future__ import annotations

import re

import pytest
import yaml

from .conftest import ROOT, wait_for, worker_argv

pytestmark = pytest.mark.slow


def test_queued_runs_survive_a_redis_kill_and_the_worker_reconnects(
    postgres, redis_server, flow_env, markers, start_process, runs_submit
):
    # Messages a worker held when the connection broke come back after this long.
    env = {**flow_env, "CELERY_VISIBILITY_TIMEOUT": "10"}
    # Queued while no worker runs: only Redis holds the messages when it is killed.
    ids = runs_submit(env, markers, 3, 0.5)
    redis_server.kill()
    redis_server.start()
    worker = start_process("worker", worker_argv("redis", concurrency=1), **env)
    wait_for(lambda: len(list(markers.iterdir())) >= 1, timeout=60, what="a first run", log=worker.log_path)

    # Killed again with the worker busy and more runs queued behind it.
    ids += runs_submit(env, markers, 3, 0.5)
    redis_server.kill()
    redis_server.start()

    def all_completed() -> bool:
        rows = postgres.query("SELECT id, state FROM flows_flowrun")
        return len(rows) == len(ids) and all(state == "COMPLETED" for _, state in rows)

    wait_for(all_completed, timeout=150, what="every queued run to complete", log=worker.log_path)
    assert {row[0] for row in postgres.query("SELECT id FROM flows_flowrun")} == set(ids)
    assert worker.poll() is None, "the same worker process went on after reconnecting"


def test_redis_persists_to_disk_in_the_test_services_and_in_compose():
    script = (ROOT / "scripts" / "services.sh").read_text()
    command = next(line for line in script.splitlines() if line.strip().startswith("redis-server"))
    assert re.search(r"--appendonly yes\b", command), command
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    redis = compose["services"]["redis"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert any(volume.endswith(":/data") for volume in redis["volumes"])
