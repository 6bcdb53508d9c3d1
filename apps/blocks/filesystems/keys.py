"""Storage keys: the canonical relative form every filesystem accepts and lists."""

from __future__ import annotations

import re
import urllib.parse

from .errors import UnsafeKeyError

# Already canonical: segments separated by single slashes, none empty, '.', '..' or holding NUL.
_CANONICAL_KEY = re.compile(r"(?!\.\.?(?:/|\Z))[^/\x00]+(?:/(?!\.\.?(?:/|\Z))[^/\x00]+)*")


def key_normalize(key: str) -> str:
    """The canonical relative form of ``key``: ``/``-separated, no empty or ``.`` segments.

    Refuses ``..`` segments, NUL bytes and keys that name nothing. A key returned by ``list()`` is
    already canonical, so it round-trips unchanged.
    """
    if type(key) is str and _CANONICAL_KEY.fullmatch(key):
        return key
    if not isinstance(key, str):
        raise UnsafeKeyError(f"a storage key must be a string, not {type(key).__name__}")
    if "\x00" in key:
        raise UnsafeKeyError(f"storage key {key!r} contains a NUL byte")
    parts = [part for part in key.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeKeyError(f"storage key {key!r} contains '..', which could reach outside the base path")
    if not parts:
        raise UnsafeKeyError(f"storage key {key!r} is empty: it names no object")
    return "/".join(parts)


def key_prefix_normalize(prefix: str) -> str:
    """Like ``key_normalize`` for listing prefixes: empty is allowed, a trailing ``/`` is kept."""
    if prefix in ("", "/", "."):
        return ""
    trailing_slash = prefix.endswith("/")
    normalized = key_normalize(prefix)
    return normalized + "/" if trailing_slash else normalized


# What a remote store, an HTTP layer or a later tool may read as a separator or a dot segment.
_ENCODED_SEPARATOR = re.compile(r"%(?:2f|5c)", re.IGNORECASE)
_DOT_SEGMENT_PARTS = re.compile(r"[/\\]")


def remote_key_normalize(key: str) -> str:
    """The key of an object on a remote store (``RemoteFileSystem``, ``S3``), refused unless canonical.

    A local path names one file however it is spelled; a remote key is a name, so ``a//b``,
    ``a/./b`` and ``a/b`` would be three objects that tools (and file:// or HTTP backends) read
    as one: only ``a/b`` is accepted. Dot segments hidden by percent-encoding (``%2e%2e``,
    ``.%2e``) or by backslashes, and encoded slashes, are refused as reaching outside the base
    path. A leading ``/`` is dropped, as Prefect drops it.
    """
    if type(key) is str and _CANONICAL_KEY.fullmatch(key) and "%" not in key and "\\" not in key:
        return key
    if not isinstance(key, str):
        raise UnsafeKeyError(f"a storage key must be a string, not {type(key).__name__}")
    if "\x00" in key:
        raise UnsafeKeyError(f"storage key {key!r} contains a NUL byte")
    relative = key.lstrip("/")
    if _ENCODED_SEPARATOR.search(relative):
        raise UnsafeKeyError(
            f"storage key {key!r} contains an encoded slash or backslash, which could reach outside "
            "the base path"
        )
    parts = _DOT_SEGMENT_PARTS.split(urllib.parse.unquote(relative))
    hidden = "%" in relative or "\\" in relative
    if ".." in parts or (hidden and "." in parts):
        raise UnsafeKeyError(
            f"storage key {key!r} contains a dot segment, which could reach outside the base path"
        )
    if not _CANONICAL_KEY.fullmatch(relative):
        if not relative:
            raise UnsafeKeyError(f"storage key {key!r} is empty: it names no object")
        raise UnsafeKeyError(
            f"storage key {key!r} has empty or '.' segments: on remote storage it would name another "
            "object than the same key without them"
        )
    return relative


def remote_key_is_irregular(key: str) -> bool:
    # Objects written by other tools under names our keys cannot express are left out of listings,
    # so every listed key can be passed back to read_path.
    try:
        return remote_key_normalize(key) != key
    except UnsafeKeyError:
        return True


def url_key_split(path: str) -> tuple[str, str, str] | None:
    """A key given as a URL, as (scheme, netloc, path without its leading slash); None for a
    plain relative key."""
    if not isinstance(path, str):
        raise UnsafeKeyError(f"a storage key must be a string, not {type(path).__name__}")
    if "\x00" in path:
        raise UnsafeKeyError(f"storage key {path!r} contains a NUL byte")
    if "://" not in path:
        return None
    scheme, netloc, urlpath, _, _ = urllib.parse.urlsplit(path)
    return scheme, netloc, urlpath.lstrip("/")


def url_key_relative(path: str, *, base_prefix: str) -> str | None:
    """The key under ``base_prefix`` (a canonical key, or "" for the root) that the URL path
    ``path`` names, or None when it is not under it."""
    if not base_prefix:
        return remote_key_normalize(path)
    if not path.startswith(base_prefix + "/"):
        return None
    return remote_key_normalize(path[len(base_prefix) + 1 :])
