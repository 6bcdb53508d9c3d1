"""The canonical, type-tagged form the corpus manifest uses for decoded values.

A port of ``canon()`` from the corpus's reference decoder, so tests compare decoded values
with the manifest's ``expected`` without importing the corpus's own code.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import decimal
import hashlib
import json
import os
import uuid
from pathlib import Path

BIG = 4096  # str/bytes longer than this are compared as length + sha256

DEFAULT_CORPUS_DIR = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "prefect"


def corpus_dir() -> Path:
    """Where the corpus is: PREFECT_CORPUS_DIR, else the shared folder beside the project."""
    return Path(os.environ.get("PREFECT_CORPUS_DIR", DEFAULT_CORPUS_DIR))


def corpus_entries(root: Path) -> list[dict]:
    manifest = root / "manifest.jsonl"
    if not manifest.exists():
        return []
    return [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def canon(v):
    if v is None:
        return {"type": "NoneType"}
    if isinstance(v, bool):
        return {"type": "bool", "value": v}
    if isinstance(v, int) and type(v).__module__ == "builtins":
        return {"type": "int", "value": v}
    if isinstance(v, float) and type(v).__module__ == "builtins":
        return {"type": "float", "repr": repr(v)}
    if isinstance(v, str) and type(v).__module__ == "builtins":
        if len(v) > BIG:
            digest = hashlib.sha256(v.encode("utf-8", "surrogatepass")).hexdigest()
            return {"type": "str", "len": len(v), "sha256": digest}
        return {"type": "str", "value": v}
    if isinstance(v, (bytes, bytearray)):
        tag = "bytes" if isinstance(v, bytes) else "bytearray"
        if len(v) > BIG:
            return {"type": tag, "len": len(v), "sha256": hashlib.sha256(v).hexdigest()}
        return {"type": tag, "b64": base64.b64encode(bytes(v)).decode()}
    if isinstance(v, dt.datetime):
        offset = v.utcoffset()
        return {
            "type": "datetime",
            "iso": v.isoformat(),
            "utcoffset_s": None if offset is None else offset.total_seconds(),
            "zone": getattr(v.tzinfo, "key", None),
        }
    if isinstance(v, dt.date):
        return {"type": "date", "iso": v.isoformat()}
    if isinstance(v, dt.time):
        return {"type": "time", "iso": v.isoformat()}
    if isinstance(v, dt.timedelta):
        return {"type": "timedelta", "seconds": v.total_seconds()}
    if isinstance(v, uuid.UUID):
        return {"type": "UUID", "value": str(v)}
    if isinstance(v, decimal.Decimal):
        return {"type": "Decimal", "value": str(v)}
    if isinstance(v, (set, frozenset)):
        items = sorted((canon(x) for x in v), key=lambda c: json.dumps(c, sort_keys=True))
        return {"type": "set" if isinstance(v, set) else "frozenset", "items": items}
    if type(v) in (list, tuple):
        return {"type": type(v).__name__, "items": [canon(x) for x in v]}
    if type(v) is dict:
        return {"type": "dict", "items": [[canon(k), canon(x)] for k, x in v.items()]}
    if isinstance(v, BaseException):
        return {"type": "exception", "class": _qualified(type(v)), "args": [canon(a) for a in v.args]}
    module = type(v).__module__
    if hasattr(type(v), "model_fields") and hasattr(v, "model_dump"):
        return {
            "type": "pydantic",
            "class": _qualified(type(v)),
            "fields": {k: canon(getattr(v, k)) for k in type(v).model_fields},
        }
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {
            "type": "dataclass",
            "class": _qualified(type(v)),
            "fields": {f.name: canon(getattr(v, f.name)) for f in dataclasses.fields(v)},
        }
    if module.startswith("numpy") and type(v).__name__ == "ndarray":
        import numpy as np

        a = np.ascontiguousarray(v)
        out = {
            "type": "ndarray",
            "dtype": str(a.dtype),
            "shape": list(a.shape),
            "sha256": hashlib.sha256(a.tobytes()).hexdigest(),
        }
        if a.size <= 64:
            out["values"] = [canon(x) for x in a.ravel().tolist()]
        return out
    if module.startswith("numpy"):
        return {"type": "numpy-scalar", "dtype": str(v.dtype), "value": canon(v.item())}
    if module.startswith("pandas") and type(v).__name__ == "DataFrame":
        columns = {
            str(c): {"dtype": str(v[c].dtype), "values": [canon(x) for x in v[c].tolist()]} for c in v.columns
        }
        return {
            "type": "DataFrame",
            "shape": list(v.shape),
            "columns": [str(c) for c in v.columns],
            "index": [canon(x) for x in v.index.tolist()],
            "data": columns,
        }
    return {"type": "other", "class": _qualified(type(v)), "repr": repr(v)}


def storage_key_rebase(key: str | None, *, entry: dict, root: Path) -> str | None:
    """An absolute storage key written under the generation root, relative to ``root``."""
    generated_root = entry.get("generated_root")
    if key and generated_root and key.startswith(generated_root + "/"):
        return os.path.relpath(Path(str(root) + key[len(generated_root) :]), root)
    return key
