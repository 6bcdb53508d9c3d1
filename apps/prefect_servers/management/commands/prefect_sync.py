"""Sync Prefect connections now: one by name, or every enabled one."""

from django.core.management.base import BaseCommand, CommandError

from apps.prefect_servers.models import PrefectConnection
from apps.prefect_servers.sync import prefect_sync


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?", help="default: every connection with sync enabled")
        parser.add_argument("--full", action="store_true", help="read everything again, not only changes")

    def handle(self, *args, name, full, **options):
        if name:
            connections = list(PrefectConnection.objects.filter(name=name))
            if not connections:
                raise CommandError(f"no Prefect connection named {name!r}")
        else:
            connections = list(PrefectConnection.objects.filter(sync_enabled=True))
        failed = 0
        for connection in connections:
            report = prefect_sync(connection=connection, full=full)
            if report.ok:
                self.stdout.write(f"{connection.name}: {report.message}")
            else:
                failed += 1
                self.stderr.write(f"{connection.name}: sync failed: {report.message}")
        if failed:
            raise CommandError(f"{failed} of {len(connections)} connection(s) failed to sync")
