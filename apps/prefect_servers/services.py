"""Connections: create and update them, keep their credential encrypted, test them."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from apps.blocks.secrets import secrets_decrypt, secrets_encrypt

from .client import ConnectionTestOutcome, PrefectClient, connection_test
from .models import AuthKind, PathMapping, PrefectConnection, StorageBlockLink

logger = logging.getLogger(__name__)


class ConnectionInvalidError(ValueError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def connection_credential(connection: PrefectConnection) -> str:
    return str(secrets_decrypt(connection.encrypted_credential).get("credential", ""))


def connection_client(connection: PrefectConnection, *, timeout: float | None = None) -> PrefectClient:
    client = PrefectClient(
        api_url=connection.api_url,
        auth_kind=connection.auth_kind,
        credential=connection_credential(connection) if connection.auth_kind != AuthKind.NONE else "",
    )
    if timeout is not None:
        client.timeout = timeout
    return client


def connection_save(
    *,
    name: str,
    api_url: str,
    ui_url: str = "",
    auth_kind: str = AuthKind.NONE,
    credential: str | None = None,
    sync_enabled: bool = True,
    sync_interval_seconds: int | None = None,
    connection: PrefectConnection | None = None,
    user: Any = None,
) -> PrefectConnection:
    """Create a connection, or update ``connection``. A ``credential`` of None or "" keeps the stored
    one (write-only, like block secrets); choosing no authentication drops it."""
    name = name.strip()
    if not name:
        raise ConnectionInvalidError("give the connection a name", field="name")
    taken = PrefectConnection.objects.filter(name=name)
    if connection is not None:
        taken = taken.exclude(pk=connection.pk)
    if taken.exists():
        raise ConnectionInvalidError(f"a connection named {name!r} already exists", field="name")
    if auth_kind not in AuthKind.values:
        raise ConnectionInvalidError(f"unknown authentication {auth_kind!r}", field="auth_kind")
    if connection is None:
        connection = PrefectConnection(created_by=user if getattr(user, "pk", None) else None)
    connection.name = name
    connection.api_url = api_url.strip().rstrip("/")
    connection.ui_url = ui_url.strip().rstrip("/")
    connection.auth_kind = auth_kind
    connection.sync_enabled = sync_enabled
    if sync_interval_seconds is not None:
        connection.sync_interval_seconds = sync_interval_seconds
    if auth_kind == AuthKind.NONE:
        connection.encrypted_credential = ""
    elif credential:
        connection.encrypted_credential = secrets_encrypt({"credential": credential})
    elif not connection.encrypted_credential:
        raise ConnectionInvalidError("this authentication needs a credential", field="credential")
    with transaction.atomic():
        connection.save()
    logger.info("prefect connection %s saved by %s", connection.name, getattr(user, "username", "-"))
    return connection


def connection_test_run(
    *, connection: PrefectConnection, timeout: float | None = None
) -> ConnectionTestOutcome:
    """Test a connection (saved or not) and remember the server version it reported."""
    outcome = connection_test(client=connection_client(connection, timeout=timeout))
    if outcome.ok:
        # An unsaved connection (a form's test) matches no row, and nothing is written.
        PrefectConnection.objects.filter(pk=connection.pk).update(server_version=outcome.version)
        connection.server_version = outcome.version
    return outcome


class PathMappingInvalidError(ValueError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def path_prefix_clean(path_prefix: str) -> str:
    """A mapping's prefix as keys are matched against it: absolute, without a trailing slash."""
    prefix = path_prefix.strip()
    if not prefix.startswith("/"):
        raise PathMappingInvalidError(
            "the prefix must be an absolute path, as Prefect's default storage writes keys "
            "(e.g. /home/ada/.prefect/storage)",
            field="path_prefix",
        )
    return prefix.rstrip("/") or "/"


def path_mapping_set(*, connection: PrefectConnection, path_prefix: str, block: Any) -> PathMapping:
    """Map ``path_prefix`` onto ``block``, replacing the prefix's mapping if there is one."""
    mapping, _ = PathMapping.objects.update_or_create(
        connection=connection, path_prefix=path_prefix_clean(path_prefix), defaults={"block": block}
    )
    return mapping


def path_mapping_save(
    *,
    connection: PrefectConnection,
    path_prefix: str,
    block: Any,
    mapping: PathMapping | None = None,
    user: Any = None,
) -> PathMapping:
    """Add a mapping to ``connection``, or change ``mapping``; a prefix is mapped once per connection.

    Results synced before keep where they were found; a full sync reads them through the change."""
    prefix = path_prefix_clean(path_prefix)
    taken = PathMapping.objects.filter(connection=connection, path_prefix=prefix)
    if mapping is not None:
        taken = taken.exclude(pk=mapping.pk)
    if taken.exists():
        raise PathMappingInvalidError(f"{prefix} is already mapped on this connection", field="path_prefix")
    mapping = mapping or PathMapping(connection=connection)
    mapping.path_prefix = prefix
    mapping.block = block
    mapping.save()
    logger.info(
        "prefect connection %s: %s mapped to %s by %s",
        connection.name,
        prefix,
        block.slug,
        getattr(user, "username", "-"),
    )
    return mapping


def path_mapping_delete(*, mapping: PathMapping, user: Any = None) -> None:
    logger.info(
        "prefect connection %s: mapping of %s removed by %s",
        mapping.connection.name,
        mapping.path_prefix,
        getattr(user, "username", "-"),
    )
    mapping.delete()


def block_link_set(*, connection: PrefectConnection, block_document_id: Any, block: Any) -> StorageBlockLink:
    """Read a Prefect block document's results through an existing block instead of making one."""
    link, _ = StorageBlockLink.objects.update_or_create(
        connection=connection, block_document_id=block_document_id, defaults={"block": block, "problem": ""}
    )
    return link
