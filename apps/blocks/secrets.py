"""Encryption at rest of block credentials: Fernet tokens under keys from the environment.

``settings.RESULTDECK_SECRETS_KEYS`` lists Fernet keys, newest first. The first key encrypts; every
key decrypts, so a new key can be put in front of the old one, every block re-encrypted with
``python manage.py rotate_secrets_key``, and the old key dropped afterwards (docs/secrets.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretsKeyError(Exception):
    """Stored secrets cannot be decrypted with any configured key."""


def secrets_keys_configured() -> list[str]:
    keys = [key.strip() for key in getattr(settings, "RESULTDECK_SECRETS_KEYS", []) if key and key.strip()]
    if not keys:
        raise ImproperlyConfigured(
            "RESULTDECK_SECRETS_KEY is empty: set it to one or more comma-separated Fernet keys "
            "(see docs/secrets.md)"
        )
    return keys


def secrets_fernet(*, keys: Sequence[str] | None = None) -> MultiFernet:
    """A MultiFernet over ``keys`` (default: the configured ones); the first key encrypts."""
    keys = list(keys) if keys is not None else secrets_keys_configured()
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode() if isinstance(key, str) else key))
        except (ValueError, TypeError):
            # The key itself is never echoed: it is a secret too.
            raise ImproperlyConfigured(
                f"RESULTDECK_SECRETS_KEY entry {position} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes; see docs/secrets.md)"
            ) from None
    if not fernets:
        raise ImproperlyConfigured("no secrets key given")
    return MultiFernet(fernets)


def secrets_encrypt(values: dict[str, Any], *, keys: Sequence[str] | None = None) -> str:
    """One token over the JSON of ``values``; an empty dict is stored as the empty string."""
    if not values:
        return ""
    plain = json.dumps(values, sort_keys=True, separators=(",", ":")).encode()
    return secrets_fernet(keys=keys).encrypt(plain).decode()


def secrets_decrypt(token: str, *, keys: Sequence[str] | None = None) -> dict[str, Any]:
    if not token:
        return {}
    try:
        plain = secrets_fernet(keys=keys).decrypt(token.encode())
    except InvalidToken:
        raise SecretsKeyError(
            "the stored credentials cannot be decrypted with the configured RESULTDECK_SECRETS_KEY: "
            "was the key changed without keeping the old one? (see docs/secrets.md)"
        ) from None
    values = json.loads(plain)
    if not isinstance(values, dict):
        raise SecretsKeyError("the stored credentials are not a JSON object")
    return values


def secrets_token_rotate(token: str, *, keys: Sequence[str] | None = None) -> str:
    """The same secrets, re-encrypted under the first key."""
    if not token:
        return ""
    try:
        return secrets_fernet(keys=keys).rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretsKeyError(
            "the stored credentials cannot be decrypted with any configured key, so they cannot be rotated"
        ) from None


def secrets_rotate_all(*, keys: Sequence[str] | None = None, dry_run: bool = False) -> tuple[int, list[str]]:
    """Re-encrypt every block's secrets under the first key, in one transaction.

    Returns (how many blocks were re-encrypted, slugs whose secrets no key decrypts). Nothing is
    written when any block fails, so a half-rotated database never exists.
    """
    from django.db import transaction

    from .models import StorageBlock

    rotated: list[tuple[StorageBlock, str]] = []
    undecryptable: list[str] = []
    with transaction.atomic():
        for block in StorageBlock.objects.select_for_update().exclude(encrypted_secrets=""):
            try:
                rotated.append((block, secrets_token_rotate(block.encrypted_secrets, keys=keys)))
            except SecretsKeyError:
                undecryptable.append(block.slug)
        if undecryptable or dry_run:
            return len(rotated), undecryptable
        for block, token in rotated:
            # update(), not save(): rotation changes no setting, so updated_at stays as it was.
            StorageBlock.objects.filter(pk=block.pk).update(encrypted_secrets=token)
    return len(rotated), undecryptable
