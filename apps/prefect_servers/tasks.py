"""The beat job that syncs every due connection; its tick is the setting PREFECT_SYNC_TICK_SECONDS."""

from celery import current_app, shared_task
from django.conf import settings

SYNC_TICK_SECONDS = float(getattr(settings, "PREFECT_SYNC_TICK_SECONDS", 60))

current_app.conf.beat_schedule.setdefault(
    "prefect-sync-due", {"task": "prefect_servers.sync_due", "schedule": SYNC_TICK_SECONDS}
)


@shared_task(name="prefect_servers.sync_due", ignore_result=True)
def sync_due() -> int:
    from .sync import prefect_sync_due

    return len(prefect_sync_due())


@shared_task(name="prefect_servers.sync_one", ignore_result=True)
def sync_one(connection_id: str, full: bool = False) -> bool:
    from .models import PrefectConnection
    from .sync import prefect_sync

    connection = PrefectConnection.objects.filter(pk=connection_id).first()
    return connection is not None and prefect_sync(connection=connection, full=full).ok
