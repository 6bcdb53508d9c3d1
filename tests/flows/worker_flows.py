"""Flows the Celery integration tests submit; workers import this module through FLOW_MODULES."""

import time

from apps.flows import flow, task
from apps.flows.runtime import flow_run_count


@task(persist_result=True)
def prepare(label: str) -> dict:
    return {"label": label}


@task
def wait_on_first_attempt(seconds: float) -> None:
    if flow_run_count() == 1:
        time.sleep(seconds)


@flow(name="survives-worker-loss", retries=1)
def survives_worker_loss(seconds: float = 30.0) -> dict:
    data = prepare("kept")
    wait_on_first_attempt(seconds)
    return data


@flow(name="lost-with-worker")
def lost_with_worker(seconds: float = 30.0) -> str:
    time.sleep(seconds)
    return "never"


@flow(name="too-slow", timeout_seconds=1)
def too_slow() -> str:
    time.sleep(10)
    return "never"


@flow(name="database-backend", persist_result=True)
def database_backend() -> int:
    """The id of the PostgreSQL backend serving this run's database connection."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]
