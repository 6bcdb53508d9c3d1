"""What can be done with storage blocks: create, update, delete, test, save from code, load by slug.

Pages, the API, the admin and the SDK all go through these functions, so validation and secret
handling are the same everywhere. What a block holds, and deleting a block with its results, are
services of the results layer (``apps.results.block_removal``).

Settings are split on the way in: secrets (S3 secret key and session token, the whole fsspec
options dict of a remote block) are encrypted into ``encrypted_secrets``; everything else stays readable in
``settings``. A submitted secret that is blank (or the mask) means "keep the stored one".
"""

from __future__ import annotations

import copy
import logging
import os
import re
import time
import urllib.parse
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from .filesystems import (
    FILESYSTEM_CLASSES,
    SECRET_MASK,
    InvalidSettingsError,
    LocalFileSystem,
    StorageError,
    WritableFileSystem,
    bucket_path_split,
    filesystem_from_settings,
    secret_mask_leaves,
)
from .models import BlockType, StorageBlock, block_name_validator
from .secrets import secrets_decrypt, secrets_encrypt

logger = logging.getLogger(__name__)

TEST_CONNECTION_TIMEOUT_SECONDS = 5.0
# A block read many times a second must not turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# fsspec protocols that read or write the server's disk, or wrap another filesystem that may.
LOCAL_FSSPEC_PROTOCOLS = frozenset(
    {
        "file",
        "local",
        "zip",
        "tar",
        "libarchive",
        "jar",
        "dir",
        "reference",
        "cached",
        "filecache",
        "simplecache",
        "blockcache",
    }
)
UNREACHABLE_MESSAGE = (
    "Could not connect to the storage with these settings: check the endpoint, the bucket or path, "
    "and the credentials."
)
_AWS_REGION_PATTERN = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d+$")


# --------------------------------------------------------------------------------------------------
# Errors


class BlockError(Exception):
    """A block operation was refused; the message says why."""


class BlockValidationError(BlockError, ValueError):
    """Bad input for a block; ``field`` names the setting at fault when there is one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class BlockExistsError(BlockValidationError):
    pass


class BlockInUseError(BlockError):
    """Results are stored through the block (``apps.results.block_removal`` says what to do with them)."""

    def __init__(self, block: StorageBlock, reference_count: int) -> None:
        self.reference_count = reference_count
        super().__init__(
            f"block {block.slug} is referenced by {reference_count} result(s): "
            "choose to keep them (detach) or to purge them"
        )


# --------------------------------------------------------------------------------------------------
# Settings: split into public and secret parts, merge back, mask


def settings_split(*, block_type: str, settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(public settings, secret settings) of a filesystem's full constructor arguments.

    A secret field goes to the secret part whole, an options dict included: fsspec options carry
    credentials under names no rule can recognise (``headers.Authorization``, ``passwd``, ``auth``).
    """
    cls = _filesystem_class(block_type)
    public: dict[str, Any] = {}
    secret: dict[str, Any] = {}
    for name, value in settings.items():
        if name not in cls.secret_fields:
            public[name] = value
        elif value in (None, "") or value == {}:
            public[name] = None
        else:
            secret[name] = value
    return public, secret


def settings_merge(public: dict[str, Any], secret: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(public)
    for name, value in secret.items():
        if isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = settings_merge(merged[name], value)
        else:
            merged[name] = copy.deepcopy(value)
    return merged


def secret_paths(secret: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the secrets that are set, e.g. ``aws_secret_access_key``, ``settings.password``."""
    paths = []
    for name, value in secret.items():
        path = f"{prefix}{name}"
        paths.extend(secret_paths(value, f"{path}.") if isinstance(value, dict) else [path])
    return sorted(paths)


def block_secrets(block: StorageBlock) -> dict[str, Any]:
    return secrets_decrypt(block.encrypted_secrets)


def block_settings_full(block: StorageBlock) -> dict[str, Any]:
    """Every constructor argument, secrets decrypted. For building filesystems, never for display."""
    return settings_merge(block.settings, block_secrets(block))


def block_settings_masked(block: StorageBlock) -> dict[str, Any]:
    """The settings with every stored secret shown as the mask: safe to send to a browser."""
    return settings_merge(block.settings, secret_mask_leaves(block_secrets(block)))


def block_secret_paths(block: StorageBlock) -> list[str]:
    return secret_paths(block_secrets(block))


def _mask_replace(submitted: Any, stored: Any, path: str) -> Any:
    if isinstance(submitted, dict):
        stored_dict = stored if isinstance(stored, dict) else {}
        return {
            name: _mask_replace(value, stored_dict.get(name), f"{path}.{name}" if path else str(name))
            for name, value in submitted.items()
        }
    if submitted == SECRET_MASK:
        if stored is None or stored == SECRET_MASK:
            raise BlockValidationError(
                f"{path} shows the mask {SECRET_MASK}, but no value is stored for it: type the value",
                field=path.split(".")[0],
            )
        return stored
    return submitted


def settings_for_update(
    *, block_type: str, stored: dict[str, Any], submitted: dict[str, Any]
) -> dict[str, Any]:
    """The settings an update means: a secret left blank (or masked) keeps the stored value.

    A top-level secret missing, ``""`` or the mask keeps the stored value; ``None`` clears it. In
    option dicts (fsspec options), an entry equal to the mask keeps the stored value; entries the
    submission leaves out are removed, as the whole dict is edited at once. An S3 block switched to
    environment credentials (no access key ID) drops its stored keys.
    """
    cls = _filesystem_class(block_type)
    merged = copy.deepcopy(submitted)
    for name in cls.secret_fields:
        if name in submitted and isinstance(submitted[name], dict):
            merged[name] = _mask_replace(submitted[name], stored.get(name), name)
        elif name not in submitted or submitted[name] in ("", SECRET_MASK):
            if name in stored:
                merged[name] = stored[name]
            else:
                merged.pop(name, None)
    if block_type == BlockType.S3 and not merged.get("aws_access_key_id"):
        merged["aws_secret_access_key"] = None
        merged["aws_session_token"] = None
    return merged


# --------------------------------------------------------------------------------------------------
# Validation


def _filesystem_class(block_type: str) -> type[WritableFileSystem]:
    try:
        return FILESYSTEM_CLASSES[block_type]
    except KeyError:
        known = ", ".join(FILESYSTEM_CLASSES)
        raise BlockValidationError(
            f"unknown block type {block_type!r}; choose one of {known}", field="block_type"
        ) from None


def block_name_validate(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise BlockValidationError("give the block a name, e.g. prod-results", field="name")
    if len(name) > 100:
        raise BlockValidationError("the name is longer than 100 characters", field="name")
    try:
        block_name_validator(name)
    except ValidationError:
        raise BlockValidationError(
            f"{name!r} is not a valid block name: use lowercase letters, digits and single dashes, "
            "e.g. prod-results",
            field="name",
        ) from None
    return name


def _basepath_writable_check(basepath: str) -> None:
    path = Path(basepath).expanduser()
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise BlockValidationError(
            f"the base path {basepath} is not writable: {existing} is a file, not a directory",
            field="basepath",
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == path else f" (its nearest existing folder {existing} is read-only)"
        raise BlockValidationError(
            f"the base path {basepath} is not writable by the server{where}: choose a folder the "
            "server can write to, or fix its permissions",
            field="basepath",
        )


def _validate_local(settings: dict[str, Any], *, allow_relative_basepath: bool) -> None:
    basepath = str(settings.get("basepath") or "").strip()
    if not basepath:
        raise BlockValidationError("give the base path, the folder results are stored in", field="basepath")
    if "\x00" in basepath:
        raise BlockValidationError("the base path contains a NUL byte", field="basepath")
    if not allow_relative_basepath and not os.path.isabs(os.path.expanduser(basepath)):
        raise BlockValidationError(
            f"the base path {basepath!r} is relative: give an absolute path such as /srv/results, so the "
            "web server and the workers mean the same folder",
            field="basepath",
        )
    _basepath_writable_check(basepath)


def _validate_s3(settings: dict[str, Any], *, require_region: bool) -> None:
    try:
        bucket_path_split(settings.get("bucket_path") or "")
    except InvalidSettingsError as exc:
        raise BlockValidationError(str(exc), field="bucket_path") from None
    endpoint_url = settings.get("endpoint_url") or ""
    if endpoint_url:
        parts = urllib.parse.urlsplit(endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BlockValidationError(
                f"the endpoint URL {endpoint_url!r} must look like https://s3.example.com or "
                "http://127.0.0.1:8333",
                field="endpoint_url",
            )
        if parts.username or parts.password:
            raise BlockValidationError(
                "put credentials in the access key fields, not in the endpoint URL", field="endpoint_url"
            )
    region = settings.get("region_name") or ""
    if require_region and not endpoint_url and not region:
        raise BlockValidationError(
            "the region is missing: AWS needs the bucket's region, e.g. eu-west-1 (only S3-compatible "
            "servers with an endpoint URL can do without)",
            field="region_name",
        )
    if region and not endpoint_url and not _AWS_REGION_PATTERN.match(region):
        raise BlockValidationError(
            f"{region!r} is not an AWS region name such as us-east-1 or eu-west-1", field="region_name"
        )
    has_key_id = bool(settings.get("aws_access_key_id"))
    has_secret = bool(settings.get("aws_secret_access_key"))
    if has_key_id and not has_secret:
        raise BlockValidationError(
            "give the secret access key that goes with the access key ID", field="aws_secret_access_key"
        )
    if has_secret and not has_key_id:
        raise BlockValidationError(
            "give the access key ID that goes with the secret access key", field="aws_access_key_id"
        )
    if not has_key_id and not settings.get("use_environment_credentials"):
        raise BlockValidationError(
            "no credentials: give an access key ID and secret access key, or use the server's "
            "environment / instance credentials",
            field="aws_access_key_id",
        )


def _validate_remote(settings: dict[str, Any]) -> None:
    basepath = str(settings.get("basepath") or "").strip()
    if not basepath:
        raise BlockValidationError(
            "give the fsspec URL, e.g. s3://bucket/dir or gcs://bucket/dir", field="basepath"
        )
    scheme = urllib.parse.urlsplit(basepath).scheme.lower()
    if "::" in basepath or scheme in LOCAL_FSSPEC_PROTOCOLS:
        # These reach the server's own disk, with none of a local block's checks (base path, links).
        raise BlockValidationError(
            f"{basepath!r} is on the server's own disk (or wraps another filesystem): use a local "
            "file system block for a folder on the server",
            field="basepath",
        )
    options = settings.get("settings")
    if options is not None and not isinstance(options, dict):
        raise BlockValidationError(
            'the options must be a JSON object, e.g. {"anon": false}', field="settings"
        )


def block_settings_validate(
    *,
    block_type: str,
    settings: dict[str, Any],
    allow_relative_basepath: bool = False,
    require_region: bool = True,
) -> WritableFileSystem:
    """The filesystem the settings describe, or ``BlockValidationError`` naming the field at fault."""
    cls = _filesystem_class(block_type)
    if not isinstance(settings, dict):
        raise BlockValidationError("the settings must be a JSON object", field="settings")
    if block_type == BlockType.LOCAL:
        _validate_local(settings, allow_relative_basepath=allow_relative_basepath)
    elif block_type == BlockType.S3:
        _validate_s3(settings, require_region=require_region)
    elif block_type == BlockType.REMOTE:
        _validate_remote(settings)
    try:
        return filesystem_from_settings(block_type_slug=cls.block_type_slug, settings=settings)
    except InvalidSettingsError as exc:
        field_name = "basepath" if block_type == BlockType.REMOTE else None
        raise BlockValidationError(str(exc), field=field_name) from None
    except TypeError as exc:
        # An unknown keyword: say which settings the type takes, not Python's wording.
        allowed = ", ".join(sorted(_filesystem_default_settings(cls)))
        raise BlockValidationError(
            f"unexpected setting for a {block_type} block ({exc}); the settings are: {allowed}",
            field="settings",
        ) from None


def _filesystem_default_settings(cls: type[WritableFileSystem]) -> list[str]:
    return list(cls.model_fields)


def block_settings_prepare(
    *, block_type: str, settings: dict[str, Any], block: StorageBlock | None = None
) -> WritableFileSystem:
    """Validate submitted settings (merged with the stored secrets when editing ``block``)."""
    if block is not None:
        settings = settings_for_update(
            block_type=block.block_type, stored=block_settings_full(block), submitted=settings
        )
    return block_settings_validate(block_type=block_type, settings=settings)


# --------------------------------------------------------------------------------------------------
# Create, update, delete


def _block_store_filesystem(block: StorageBlock, filesystem: WritableFileSystem) -> None:
    public, secret = settings_split(
        block_type=block.block_type, settings=filesystem.block_settings(include_secrets=True)
    )
    block.settings = public
    block.encrypted_secrets = secrets_encrypt(secret)


def block_name_taken(*, block_type: str, name: str, exclude: UUID | None = None) -> bool:
    queryset = StorageBlock.objects.filter(block_type=block_type, name=name)
    if exclude is not None:
        queryset = queryset.exclude(pk=exclude)
    return queryset.exists()


def _name_taken_error(block_type: str, name: str) -> BlockExistsError:
    return BlockExistsError(
        f"a {block_type} block named {name!r} already exists ({block_type}/{name}): choose another name",
        field="name",
    )


def block_create(*, block_type: str, name: str, settings: dict[str, Any], user: Any = None) -> StorageBlock:
    name = block_name_validate(name)
    filesystem = block_settings_validate(block_type=block_type, settings=settings)
    if block_name_taken(block_type=block_type, name=name):
        raise _name_taken_error(block_type, name)
    block = StorageBlock(block_type=block_type, name=name, created_by=_user_or_none(user))
    _block_store_filesystem(block, filesystem)
    try:
        with transaction.atomic():
            block.save()
    except IntegrityError:
        raise _name_taken_error(block_type, name) from None
    logger.info("storage block %s created by %s", block.slug, _username(user))
    return block


def block_update(
    *, block: StorageBlock, settings: dict[str, Any], name: str | None = None, user: Any = None
) -> StorageBlock:
    """Apply submitted settings; blank secrets keep the stored ones (see ``settings_for_update``)."""
    new_name = block_name_validate(name) if name is not None else block.name
    filesystem = block_settings_prepare(block_type=block.block_type, settings=settings, block=block)
    if new_name != block.name and block_name_taken(
        block_type=block.block_type, name=new_name, exclude=block.pk
    ):
        raise _name_taken_error(block.block_type, new_name)
    old_slug = block.slug
    block.name = new_name
    _block_store_filesystem(block, filesystem)
    try:
        with transaction.atomic():
            block.save()
    except IntegrityError:
        raise _name_taken_error(block.block_type, new_name) from None
    logger.info(
        "storage block %s updated by %s%s",
        block.slug,
        _username(user),
        f" (renamed from {old_slug})" if old_slug != block.slug else "",
    )
    return block


def block_delete(*, block: StorageBlock, user: Any = None) -> None:
    """Delete a block that nothing refers to; ``BlockInUseError`` if results still do.

    Deleting a block together with its results (detaching or purging them) is
    ``apps.results.block_removal.block_delete_with_results``.
    """
    slug = block.slug
    try:
        with transaction.atomic():
            block.delete()
    except ProtectedError as exc:
        raise BlockInUseError(block, len(exc.protected_objects)) from None
    logger.info("storage block %s deleted by %s", slug, _username(user))


# --------------------------------------------------------------------------------------------------
# Building filesystems; code's save and load


def block_filesystem(block: StorageBlock) -> WritableFileSystem:
    """The block's filesystem, secrets decrypted. Changes nothing in the database."""
    filesystem = filesystem_from_settings(
        block_type_slug=block.block_type, settings=block_settings_full(block)
    )
    filesystem._block_document_id = block.pk
    filesystem._block_document_name = block.name
    return filesystem


def block_mark_used(block: StorageBlock, *, now=None) -> None:
    now = now or timezone.now()
    if block.last_used_at is None or now - block.last_used_at >= LAST_USED_RESOLUTION:
        StorageBlock.objects.filter(pk=block.pk).update(last_used_at=now)
        block.last_used_at = now


def block_load(slug: str, *, mark_used: bool = True) -> WritableFileSystem:
    """The filesystem of the block ``TYPE/NAME`` (``s3/demo``), as ``result_storage="s3/demo"`` means."""
    block = StorageBlock.objects.get_by_slug(slug)
    filesystem = block_filesystem(block)
    if mark_used:
        block_mark_used(block)
    return filesystem


def block_save(
    filesystem: WritableFileSystem, *, name: str, overwrite: bool = False, user: Any = None
) -> StorageBlock:
    """Save a filesystem configured in code under ``name`` (Prefect's ``S3(...).save("demo")``)."""
    block_type = filesystem.block_type_slug
    name = block_name_validate(name)
    settings = filesystem.block_settings(include_secrets=True)
    # Code may use paths relative to where it runs and rely on the default region, as it can with Prefect.
    block_settings_validate(
        block_type=block_type, settings=settings, allow_relative_basepath=True, require_region=False
    )
    with transaction.atomic():
        block = StorageBlock.objects.select_for_update().filter(block_type=block_type, name=name).first()
        if block is not None and not overwrite:
            raise BlockExistsError(
                f"a {block_type} block named {name!r} already exists; pass overwrite=True to replace "
                "its settings",
                field="name",
            )
        created = block is None
        if created:
            block = StorageBlock(block_type=block_type, name=name, created_by=_user_or_none(user))
        _block_store_filesystem(block, filesystem)
        block.save()
    filesystem._block_document_id = block.pk
    filesystem._block_document_name = block.name
    logger.info("storage block %s %s from code", block.slug, "saved" if created else "overwritten")
    return block


# --------------------------------------------------------------------------------------------------
# Connection tests


@dataclass(frozen=True)
class ConnectionTestResult:
    ok: bool
    message: str
    seconds: float
    location: str = ""


def block_test_connection(
    *,
    block: StorageBlock | None = None,
    filesystem: WritableFileSystem | None = None,
    timeout: float | None = None,
) -> ConnectionTestResult:
    """Write, read back and delete a probe object; never raises for a storage problem.

    A failure of a network storage (S3, remote) always gives the same message, whatever went
    wrong: telling a refused connection from an answering service would let the test map the
    server's network. The cause goes to the server log for an operator.
    """
    from django.conf import settings as django_settings

    if timeout is None:
        timeout = float(
            getattr(django_settings, "BLOCKS_TEST_CONNECTION_TIMEOUT", TEST_CONNECTION_TIMEOUT_SECONDS)
        )
    started = time.monotonic()
    location = ""
    try:
        if filesystem is None:
            if block is None:
                raise ValueError("give a block or a filesystem to test")
            filesystem = block_filesystem(block)
        location = filesystem.location
        filesystem.test_connection(timeout=timeout)
    except Exception as exc:
        seconds = round(time.monotonic() - started, 2)
        network = filesystem is not None and not isinstance(filesystem, LocalFileSystem)
        # A StorageError message names no secret; of anything else only the type is logged.
        cause = str(exc) if isinstance(exc, StorageError) else type(exc).__name__
        logger.warning("connection test of %s failed: %s", location or "a block", cause)
        if network:
            return ConnectionTestResult(False, UNREACHABLE_MESSAGE, seconds, location)
        if isinstance(exc, StorageError):
            return ConnectionTestResult(False, _sentence(str(exc)), seconds, location)
        # Anything else still gets an answer, not a crash; the type tells an operator where to look.
        message = f"the test failed unexpectedly ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
        return ConnectionTestResult(False, message, seconds, location)
    seconds = round(time.monotonic() - started, 2)
    return ConnectionTestResult(
        True, f"Connected: wrote, read back and deleted a probe object in {seconds:g} s.", seconds, location
    )


def _sentence(message: str) -> str:
    message = message.strip()
    return message[:1].upper() + message[1:] if message else "The test failed."


# --------------------------------------------------------------------------------------------------
# Display


def block_points_to(block: StorageBlock) -> str:
    """Where the block stores results, for lists: a URL or path, never a credential."""
    settings = block.settings
    if block.block_type == BlockType.S3:
        where = f"s3://{str(settings.get('bucket_path') or '').removeprefix('s3://').strip('/')}"
        endpoint = settings.get("endpoint_url")
        return f"{where} at {_url_host(endpoint)}" if endpoint else where
    return str(settings.get("basepath") or "")


def _url_host(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts.netloc.rpartition("@")[2] or url


def _user_or_none(user: Any) -> Any:
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def _username(user: Any) -> str:
    return user.get_username() if _user_or_none(user) is not None else "code"
