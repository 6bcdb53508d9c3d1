import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("resultdeck")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

ORPHAN_SWEEP_SECONDS = 60.0


@app.on_after_configure.connect
def _schedule_and_transport(sender: Celery, **kwargs) -> None:
    # Runs left in RUNNING by a worker that died (and whose message will not come back) end Crashed.
    sender.conf.beat_schedule.setdefault(
        "flows-sweep-orphans", {"task": "flows.sweep_orphans", "schedule": ORPHAN_SWEEP_SECONDS}
    )
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
