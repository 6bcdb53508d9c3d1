import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init

from apps.results.format.trust import DecodeTrust, decode_trust_set

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("resultdeck")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

ORPHAN_SWEEP_SECONDS = 60.0
# Celery's Django fixup closes every database connection before and after each task unless
# CELERY_DB_REUSE_MAX is set; a new PostgreSQL connection per flow run costs more than a small run.
# Connections are kept instead and recycled the way Django recycles them between requests (below).
DB_REUSE_MAX_DEFAULT = 1_000_000


@app.on_after_configure.connect
def _schedule_and_transport(sender: Celery, **kwargs) -> None:
    # Runs left in RUNNING by a worker that died (and whose message will not come back) end Crashed.
    sender.conf.beat_schedule.setdefault(
        "flows-sweep-orphans", {"task": "flows.sweep_orphans", "schedule": ORPHAN_SWEEP_SECONDS}
    )
    if sender.conf.get("CELERY_DB_REUSE_MAX") is None:
        sender.conf.update({"CELERY_DB_REUSE_MAX": DB_REUSE_MAX_DEFAULT})
    # How long an unacknowledged message waits before Redis hands it to another worker (Kombu's
    # default is an hour). It must exceed the longest flow, or a live run would be delivered twice
    # (the second delivery sees the live owner and steps aside, but it still costs a worker slot).
    visibility = os.environ.get("CELERY_VISIBILITY_TIMEOUT")
    if visibility and sender.conf.broker_url and sender.conf.broker_url.startswith("redis"):
        seconds = float(visibility)
        sender.conf.broker_transport_options = {
            **(sender.conf.broker_transport_options or {}),
            "visibility_timeout": seconds,
            # Look for messages of lost workers at least every visibility timeout (Kombu's default
            # scan runs every tenth 10 s tick, so a short timeout would otherwise wait ~100 s).
            "unacked_restore_interval": max(1.0, min(10.0, seconds)),
            "unacked_restore_throttle": 1,
        }


@worker_init.connect
def _decode_trust_code(**kwargs) -> None:
    # A worker runs the project's own flows and unpickles their results: it trusts its code.
    decode_trust_set(DecodeTrust.CODE)


@task_prerun.connect
@task_postrun.connect
def _database_connections_recycle(task=None, **kwargs) -> None:
    """Close connections that outlived CONN_MAX_AGE, saw errors or were left mid-transaction."""
    from django.db import close_old_connections

    if task is not None and getattr(task.request, "is_eager", False):
        return  # runs inside the caller's own connection and transaction

    close_old_connections()
