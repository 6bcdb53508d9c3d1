"""Builders of result files for the preview and sandbox tests."""

from __future__ import annotations

import base64
import json
import pickle
from typing import Any

PICKLE_SERIALIZER = {"type": "pickle", "picklelib": "cloudpickle", "picklelib_version": None}


def record_bytes(payload: bytes, *, serializer: dict[str, Any] | None = None) -> bytes:
    """A Prefect 3 result record holding serializer output ``payload``."""
    metadata = {
        "storage_key": "/tmp/results/example",
        "expiration": None,
        "serializer": serializer or PICKLE_SERIALIZER,
        "prefect_version": "3.9.1",
        "storage_block_id": None,
    }
    return json.dumps({"metadata": metadata, "result": payload.decode()}, separators=(",", ":")).encode()


def pickle_record(value: Any, *, dumps: Any = None) -> bytes:
    data = (dumps or pickle.dumps)(value)
    return record_bytes(base64.encodebytes(data))


def json_record(value: Any) -> bytes:
    return record_bytes(json.dumps(value).encode(), serializer={"type": "json", "jsonlib": "json"})


def manifest_expected_type(entry: dict[str, Any]) -> str:
    """The type tag a preview must show: the written type, or the plain JSON type a lossy encoder left.

    Without the decoding hook (``orjson-nohook``) a reader keeps ``__class__`` wrappers as dicts, but the
    file still carries them, and the preview shows what the file carries.
    """
    python_type = entry["python_type"]
    if entry["serializer_id"].endswith("nohook"):
        return python_type
    expected = entry["expected"].get("type")
    plain = {"dict": "builtins.dict", "str": "builtins.str", "list": "builtins.list"}
    if expected in plain and python_type.rpartition(".")[2] != expected and python_type != plain[expected]:
        return plain[expected]
    return python_type
