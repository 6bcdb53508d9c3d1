from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ResultsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.results"

    def ready(self):
        from .serializer_configs import serializer_configs_builtins_ensure

        # The migration creates the built-ins; this restores them after a flush, as for roles.
        post_migrate.connect(lambda **kwargs: serializer_configs_builtins_ensure(), sender=self, weak=False)
