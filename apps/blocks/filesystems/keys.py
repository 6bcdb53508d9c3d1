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


def key_is_irregular(key: str) -> bool:
    # Objects written by other tools under names our keys cannot express are left out of listings,
    # so every listed key can be passed back to read_path.
    try:
        return key_normalize(key) != key
    except UnsafeKeyError:
        return True


def url_key_split(path: str) -> tuple[str, str, list[str]] | None:
    """A key given as a URL, as (scheme, netloc, path segments); None for a plain relative key.

    Refuses what no base path can contain before the caller compares the URL with its own.
    """
    if not isinstance(path, str):
        raise UnsafeKeyError(f"a storage key must be a string, not {type(path).__name__}")
    if "\x00" in path:
        raise UnsafeKeyError(f"storage key {path!r} contains a NUL byte")
    if "://" not in path:
        return None
    scheme, netloc, urlpath, _, _ = urllib.parse.urlsplit(path)
    parts = [part for part in urlpath.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeKeyError(f"storage key {path!r} contains '..', which could reach outside the base path")
    return scheme, netloc, parts
