from django.apps import AppConfig


class PrefectServersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.prefect_servers"
    verbose_name = "Prefect servers"
