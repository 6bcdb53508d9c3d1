"""How far decoding trusts the names a serializer config or a stored JSON value carries.

The one switch between the two kinds of process:

* ``CODE`` (SDK scripts and workers): they run their own flows and unpickle their own results,
  so, as in Prefect, configs may name any importable ``object_encoder``/``object_decoder``,
  ``jsonlib`` and ``picklelib`` (imported and checked when the serializer is built), and JSON
  ``__class__``/``__exc_type__`` objects import the class they name.
* ``WEB`` (the default, and what the dashboard runs with): stored files come from anyone who
  can write to storage, so only registered JSON hooks and libraries are used, pickle libraries
  are not imported before use (the web process never unpickles), and JSON objects are rebuilt
  only for an allowlist of classes.

``resultdeck`` (the SDK package) and the Celery worker switch to ``CODE`` when they start.
"""

from __future__ import annotations

import enum


class DecodeTrust(enum.Enum):
    CODE = "code"
    WEB = "web"


_trust = DecodeTrust.WEB


def decode_trust() -> DecodeTrust:
    return _trust


def decode_trust_set(trust: DecodeTrust) -> None:
    """Set the trust of this process; call it once, where the process starts."""
    global _trust
    _trust = DecodeTrust(trust)


__all__ = ["DecodeTrust", "decode_trust", "decode_trust_set"]
