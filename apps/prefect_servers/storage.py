"""Where a Prefect result is stored, as Resultdeck sees it: a block made from the server's block
document (or mapped by the operator), or a path mapping for Prefect's default storage."""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

from apps.blocks.models import BlockType, StorageBlock
from apps.blocks.services import block_create, block_filesystem
from apps.results.models import ResultReference
from apps.results.references import serializer_label, storage_location_of

from .client import PrefectApiError, PrefectClient
from .models import PathMapping, PrefectConnection, StorageBlockLink

logger = logging.getLogger(__name__)

# What `state.data` says about a result (kept on the run as `external_result["kind"]`).
KIND_RECORD = "record"  # 3.x ResultRecordMetadata
KIND_REFERENCE = "reference"  # 2.x PersistedResult
KIND_LITERAL = "literal"
KIND_UNPERSISTED = "unpersisted"


@dataclass
class StorageTarget:
    block: StorageBlock | None
    location: str
    key: str
    problem: str = ""


def block_settings_from_document(*, document: dict[str, Any], fetch: Any) -> tuple[str, dict[str, Any]]:
    """(Resultdeck block type, settings) of a Prefect block document; ValueError for other kinds."""
    slug = (document.get("block_type") or {}).get("slug", "")
    data = dict(document.get("data") or {})
    if slug == "local-file-system":
        return BlockType.LOCAL, {"basepath": data.get("basepath") or ""}
    if slug == "remote-file-system":
        return BlockType.REMOTE, {
            "basepath": data.get("basepath") or "",
            "settings": data.get("settings") or {},
        }
    if slug == "s3":
        return BlockType.S3, {
            "bucket_path": data.get("bucket_path") or "",
            "aws_access_key_id": data.get("aws_access_key_id"),
            "aws_secret_access_key": data.get("aws_secret_access_key"),
        }
    if slug == "s3-bucket":
        credentials = data.get("credentials") or {}
        if isinstance(credentials, dict) and "$ref" in credentials:
            reference = credentials["$ref"]
            credentials = fetch(reference.get("block_document_id")).get("data") or {}
        client_parameters = credentials.get("aws_client_parameters") or {}
        folder = (data.get("bucket_folder") or "").strip("/")
        bucket_path = data.get("bucket_name", "") + (f"/{folder}" if folder else "")
        return BlockType.S3, {
            "bucket_path": bucket_path,
            "aws_access_key_id": credentials.get("aws_access_key_id"),
            "aws_secret_access_key": credentials.get("aws_secret_access_key"),
            "aws_session_token": credentials.get("aws_session_token"),
            "region_name": credentials.get("region_name"),
            "endpoint_url": client_parameters.get("endpoint_url"),
        }
    raise ValueError(f"Prefect block type {slug or 'unknown'!r} is not a storage Resultdeck can read")


def block_name_for(*, connection: PrefectConnection, document: dict[str, Any], block_type: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", f"{connection.name}-{document.get('name') or 'anonymous'}".lower())
    base = base.strip("-")[:80] or "prefect"
    name, counter = base, 1
    while StorageBlock.objects.filter(block_type=block_type, name=name).exists():
        counter += 1
        name = f"{base}-{counter}"
    return name


def block_link_resolve(
    *, connection: PrefectConnection, client: PrefectClient, block_document_id: str
) -> StorageBlockLink:
    """The link of a block document, reading the document and making its block the first time."""
    document_id = uuid.UUID(str(block_document_id))
    link = StorageBlockLink.objects.filter(connection=connection, block_document_id=document_id).first()
    if link is not None:
        return link
    link = StorageBlockLink(connection=connection, block_document_id=document_id)
    try:
        document = client.block_document(str(document_id))
        link.block_type_slug = (document.get("block_type") or {}).get("slug", "")[:64]
        block_type, settings = block_settings_from_document(document=document, fetch=client.block_document)
        name = block_name_for(connection=connection, document=document, block_type=block_type)
        link.block = block_create(block_type=block_type, name=name, settings=settings)
    except PrefectApiError as error:
        link.problem = (
            "the block document no longer exists on the server"
            if error.status == 404
            else f"the block document cannot be read: {error}"
        )[:500]
    except Exception as error:
        link.problem = f"the block document cannot be made a Resultdeck block: {error}"[:500]
    if link.problem:
        logger.warning("prefect connection %s: block %s: %s", connection.name, document_id, link.problem)
    link.save()
    return link


def default_storage_target(
    *, connection: PrefectConnection, key: str, mappings: list[PathMapping]
) -> StorageTarget:
    """An absolute key of Prefect's default storage: the longest mapped prefix decides its block."""
    best = None
    for mapping in mappings:
        prefix = mapping.path_prefix.rstrip("/")
        if key.startswith(prefix + "/") and (best is None or len(prefix) > len(best.path_prefix.rstrip("/"))):
            best = mapping
    if best is not None:
        relative = key[len(best.path_prefix.rstrip("/")) + 1 :]
        return StorageTarget(best.block, storage_location_of(block_filesystem(best.block)), relative)
    # Unmapped: still readable when Resultdeck runs where the file is.
    directory, _, name = key.rpartition("/")
    problem = "" if key.startswith("/") else "the key is neither absolute nor in a known block"
    return StorageTarget(None, directory or "", name, problem)


class ResultMapper:
    """Turns each final state's `data` into a ResultReference, with per-sync caches of blocks."""

    def __init__(self, *, connection: PrefectConnection, client: PrefectClient, server_version: str) -> None:
        self.connection = connection
        self.client = client
        self.server_version = server_version
        self.links: dict[str, StorageBlockLink] = {}
        self.locations: dict[Any, str] = {}
        self.mappings = list(connection.path_mappings.select_related("block"))

    def target(self, *, storage_block_id: str | None, storage_key: str) -> StorageTarget:
        if not storage_block_id:
            return default_storage_target(connection=self.connection, key=storage_key, mappings=self.mappings)
        link = self.links.get(storage_block_id)
        if link is None:
            link = self.links[storage_block_id] = block_link_resolve(
                connection=self.connection, client=self.client, block_document_id=storage_block_id
            )
        if link.block is None:
            return StorageTarget(None, "", storage_key, link.problem or "the storage block is unknown")
        location = self.locations.get(link.block_id)
        if location is None:
            location = self.locations[link.block_id] = storage_location_of(block_filesystem(link.block))
        return StorageTarget(link.block, location, storage_key)

    def describe(self, data: Any) -> dict[str, Any]:
        """What `state.data` says, normalised: the run keeps this as `external_result`."""
        if data is None:
            return {"kind": KIND_UNPERSISTED}
        if isinstance(data, dict) and "storage_key" in data and "serializer" in data:
            return {
                "kind": KIND_RECORD,
                "storage_key": data.get("storage_key") or "",
                "storage_block_id": data.get("storage_block_id"),
                "serializer": data.get("serializer"),
                "expiration": data.get("expiration"),
                "prefect_version": data.get("prefect_version") or "",
            }
        if isinstance(data, dict) and data.get("type") == "reference":
            return {
                "kind": KIND_REFERENCE,
                "storage_key": data.get("storage_key") or "",
                "storage_block_id": data.get("storage_block_id"),
                "serializer": {"type": data.get("serializer_type") or ""},
                "expiration": data.get("expiration"),
                "prefect_version": self.server_version,
            }
        if isinstance(data, dict) and data.get("type") == "unpersisted":
            return {"kind": KIND_UNPERSISTED}
        if isinstance(data, dict) and data.get("type") == "literal":
            return {"kind": KIND_LITERAL, "value": data.get("value")}
        return {"kind": KIND_LITERAL, "value": data}

    def reference(self, *, described: dict[str, Any], raw_payload: bool) -> ResultReference | None:
        """An unsaved reference for a described result, or None when nothing was persisted.

        ``raw_payload``: a 3.x flow's return value is written without its metadata, so its
        serializer comes from the API state.
        """
        kind = described["kind"]
        if kind == KIND_UNPERSISTED:
            return None
        if kind == KIND_LITERAL:
            value = described.get("value")
            return ResultReference(
                layout=ResultReference.Layout.LITERAL,
                is_literal=True,
                literal_value=value,
                value_type=type(value).__name__,
                size_bytes=0,
            )
        target = self.target(
            storage_block_id=described.get("storage_block_id"), storage_key=described["storage_key"]
        )
        described["problem"] = target.problem
        if kind == KIND_REFERENCE:
            layout = ResultReference.Layout.V2_BLOB
        else:
            layout = ResultReference.Layout.V3_RAW if raw_payload else ResultReference.Layout.V3_RECORD
        serializer = described.get("serializer") or None
        return ResultReference(
            block=target.block,
            storage_location=target.location,
            key=target.key,
            layout=layout,
            serializer_type=serializer_label(serializer),
            serializer_config=serializer,
            prefect_version=described.get("prefect_version") or "",
            expiration=described.get("expiration"),
        )
