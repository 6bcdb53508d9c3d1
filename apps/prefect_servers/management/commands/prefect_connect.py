"""Add or update a Prefect server connection; the credential comes from an environment variable."""

import os

from django.core.management.base import BaseCommand, CommandError

from apps.prefect_servers.models import AuthKind, PrefectConnection
from apps.prefect_servers.services import ConnectionInvalidError, connection_save, connection_test_run


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--api-url", required=True, help="e.g. http://127.0.0.1:4200/api")
        parser.add_argument("--ui-url", default="", help="for links back to the Prefect UI")
        credential = parser.add_mutually_exclusive_group()
        credential.add_argument(
            "--auth-string-env", metavar="VAR", help="variable holding PREFECT_SERVER_API_AUTH_STRING"
        )
        credential.add_argument(
            "--api-key-env", metavar="VAR", help="variable holding a Prefect Cloud API key"
        )
        parser.add_argument("--no-test", action="store_true", help="save without testing the connection")

    def handle(self, *args, name, api_url, ui_url, auth_string_env, api_key_env, no_test, **options):
        variable = auth_string_env or api_key_env
        auth_kind = AuthKind.BASIC if auth_string_env else AuthKind.API_KEY if api_key_env else AuthKind.NONE
        credential = None
        if variable:
            credential = os.environ.get(variable, "")
            if not credential:
                raise CommandError(f"the environment variable {variable} is not set or empty")
        existing = PrefectConnection.objects.filter(name=name).first()
        try:
            connection = connection_save(
                name=name,
                api_url=api_url,
                ui_url=ui_url,
                auth_kind=auth_kind,
                credential=credential,
                connection=existing,
            )
        except ConnectionInvalidError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"{'updated' if existing else 'added'} connection {connection.name}")
        if not no_test:
            outcome = connection_test_run(connection=connection)
            write = self.stdout.write if outcome.ok else self.stderr.write
            write(outcome.message)
