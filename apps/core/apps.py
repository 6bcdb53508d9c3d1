from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.core"
    verbose_name = "Resultdeck"

    def ready(self):
        from django.apps import apps

        from .roles import roles_ensure_groups

        # The migration creates the groups; this restores them after a flush (as Django does
        # for permissions), so a database emptied by `flush` still has its roles.
        post_migrate.connect(
            lambda **kwargs: roles_ensure_groups(), sender=apps.get_app_config("auth"), weak=False
        )
