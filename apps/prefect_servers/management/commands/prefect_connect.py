"""Add or update a Prefect server connection; the credential comes from an environment variable."""

import os
import uuid

from django.core.management.base import BaseCommand, CommandError

from apps.blocks.models import StorageBlock
from apps.prefect_servers.models import AuthKind, PrefectConnection
from apps.prefect_servers.services import (
    ConnectionInvalidError,
    PathMappingInvalidError,
    block_link_set,
    connection_save,
    connection_test_run,
    path_mapping_set,
)


def pairs_parse(values: list[str], *, option: str) -> list[tuple[str, StorageBlock]]:
    """``LEFT=TYPE/NAME`` options as (LEFT, block)."""
    pairs = []
    for value in values:
        left, separator, slug = value.rpartition("=")
        if not separator or not left:
            raise CommandError(f"{option} {value!r}: expected LEFT=TYPE/NAME")
        try:
            pairs.append((left, StorageBlock.objects.get_by_slug(slug)))
        except StorageBlock.DoesNotExist as error:
            raise CommandError(f"{option}: {error}") from None
    return pairs


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
        parser.add_argument(
            "--path-mapping",
            action="append",
            default=[],
            metavar="PREFIX=BLOCK",
            help="results of Prefect's default storage under PREFIX are read through BLOCK (e.g. "
            "/home/ada/.prefect/storage=local-file-system/ada); repeatable",
        )
        parser.add_argument(
            "--map-block",
            action="append",
            default=[],
            metavar="DOCUMENT_ID=BLOCK",
            help="read the results of a Prefect block document through an existing BLOCK; repeatable",
        )

    def handle(
        self,
        *args,
        name,
        api_url,
        ui_url,
        auth_string_env,
        api_key_env,
        no_test,
        path_mapping,
        map_block,
        **options,
    ):
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
        for prefix, block in pairs_parse(path_mapping, option="--path-mapping"):
            try:
                path_mapping_set(connection=connection, path_prefix=prefix, block=block)
            except PathMappingInvalidError as error:
                raise CommandError(f"--path-mapping {prefix!r}: {error}") from None
        for document_id, block in pairs_parse(map_block, option="--map-block"):
            try:
                block_link_set(connection=connection, block_document_id=uuid.UUID(document_id), block=block)
            except ValueError:
                raise CommandError(f"--map-block: {document_id!r} is not a block document id") from None
        if not no_test:
            outcome = connection_test_run(connection=connection)
            write = self.stdout.write if outcome.ok else self.stderr.write
            write(outcome.message)
