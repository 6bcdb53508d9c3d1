import ctypes
import sys

from django.apps import AppConfig
from django.db.models.signals import post_migrate

PR_SET_DUMPABLE = 4


def process_dumpable_disable() -> bool:
    """Make this process non-dumpable (Linux); whether it took effect.

    Its environment holds the secret key, the secrets key and the database URL: a non-dumpable
    process's ``/proc/<pid>/environ`` and memory cannot be read, nor the process traced, by other
    processes of the same user (a decode sandbox that escaped, say), and it leaves no core dump.
    Children started with ``exec`` are dumpable again, so this holds for this process only.
    """
    if sys.platform != "linux":
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0


class CoreConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.core"
    verbose_name = "Resultdeck"

    def ready(self):
        from django.apps import apps

        from .roles import roles_ensure_groups

        # Every process that loads the project (web server, workers, commands) holds its secrets.
        process_dumpable_disable()
        # The migration creates the groups; this restores them after a flush (as Django does
        # for permissions), so a database emptied by `flush` still has its roles.
        post_migrate.connect(
            lambda **kwargs: roles_ensure_groups(), sender=apps.get_app_config("auth"), weak=False
        )
