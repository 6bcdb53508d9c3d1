#!/usr/bin/env python3
"""Decode every file of a Prefect result corpus WITHOUT importing prefect, and
check it against the corpus manifest.

Usage:  python verify.py [CORPUS_DIR]      (default: the folder holding this file)

Needs only: the standard library (json, base64, zlib, bz2, lzma, pickle), cloudpickle,
orjson, pydantic (v2) and numpy/pandas for the entries whose "requires" lists them.
The corpus folder itself is put on sys.path so ``corpus_types`` imports.

It also defines ``canon()``, the canonical JSON-friendly form that manifest
"original"/"expected" values use; the generators import it from here.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import decimal
import hashlib
import importlib
import json
import os
import sys
import uuid
from pathlib import Path

BIG = 4096  # str/bytes longer than this are canonicalised as length + sha256


# ----------------------------------------------------------------------------
# canonical form
# ----------------------------------------------------------------------------
def _qual(t) -> str:
    return f"{t.__module__}.{t.__qualname__}"


def canon(v):
    """JSON-friendly, type-tagged canonical form of a Python value."""
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
            return {
                "type": "str",
                "len": len(v),
                "sha256": hashlib.sha256(v.encode("utf-8", "surrogatepass")).hexdigest(),
            }
        return {"type": "str", "value": v}
    if isinstance(v, (bytes, bytearray)):
        t = "bytes" if isinstance(v, bytes) else "bytearray"
        if len(v) > BIG:
            return {"type": t, "len": len(v), "sha256": hashlib.sha256(v).hexdigest()}
        return {"type": t, "b64": base64.b64encode(bytes(v)).decode()}
    if isinstance(v, _dt.datetime):  # also pandas.Timestamp
        tz = v.tzinfo
        zone = getattr(tz, "key", None)  # zoneinfo.ZoneInfo name, if any
        off = v.utcoffset()
        return {
            "type": "datetime",
            "iso": v.isoformat(),
            "utcoffset_s": None if off is None else off.total_seconds(),
            "zone": zone,
        }
    if isinstance(v, _dt.date):
        return {"type": "date", "iso": v.isoformat()}
    if isinstance(v, _dt.time):
        return {"type": "time", "iso": v.isoformat()}
    if isinstance(v, _dt.timedelta):
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
        return {"type": "exception", "class": _qual(type(v)), "args": [canon(a) for a in v.args]}
    mod = type(v).__module__
    # pydantic v2 model
    if hasattr(type(v), "model_fields") and hasattr(v, "model_dump"):
        return {
            "type": "pydantic",
            "class": _qual(type(v)),
            "fields": {k: canon(getattr(v, k)) for k in type(v).model_fields},
        }
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {
            "type": "dataclass",
            "class": _qual(type(v)),
            "fields": {f.name: canon(getattr(v, f.name)) for f in dataclasses.fields(v)},
        }
    if mod.startswith("numpy") and type(v).__name__ == "ndarray":
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
    if mod.startswith("numpy"):  # numpy scalar
        return {"type": "numpy-scalar", "dtype": str(v.dtype), "value": canon(v.item())}
    if mod.startswith("pandas") and type(v).__name__ == "DataFrame":
        cols = {}
        for c in v.columns:
            cols[str(c)] = {"dtype": str(v[c].dtype), "values": [canon(x) for x in v[c].tolist()]}
        return {
            "type": "DataFrame",
            "shape": list(v.shape),
            "columns": [str(c) for c in v.columns],
            "index": [canon(x) for x in v.index.tolist()],
            "data": cols,
        }
    return {"type": "other", "class": _qual(type(v)), "repr": repr(v)}


# ----------------------------------------------------------------------------
# decoding (a from-scratch reading of Prefect's serializers)
# ----------------------------------------------------------------------------
def _import_qualified(name: str):
    mod, _, attr = name.rpartition(".")
    obj = importlib.import_module(mod)
    return getattr(obj, attr)


def prefect_object_hook(d: dict):
    """Equivalent of prefect.serializers.prefect_json_object_decoder (3.x)."""
    if "__class__" in d:
        try:
            cls = _import_qualified(d["__class__"])
        except (ImportError, AttributeError):
            return d
        from pydantic import TypeAdapter

        return TypeAdapter(cls).validate_python(d["data"])
    if "__exc_type__" in d:
        return _import_qualified(d["__exc_type__"])(d["message"])
    return d


def _apply_hook(x, hook):
    """Bottom-up application of a json object_hook (for json libs without one)."""
    if isinstance(x, list):
        return [_apply_hook(i, hook) for i in x]
    if isinstance(x, dict):
        return hook({k: _apply_hook(i, hook) for k, i in x.items()})
    return x


def loads_with(serializer: dict, blob: bytes):
    """Decode serializer output `blob` according to the serializer's JSON config."""
    typ = serializer["type"]
    if typ == "pickle":
        lib = importlib.import_module(serializer.get("picklelib") or "cloudpickle")
        return lib.loads(base64.decodebytes(blob))
    if typ == "json":
        jsonlib = serializer.get("jsonlib") or "json"
        dec = serializer.get("object_decoder")
        hook = None
        if dec:
            if dec != "prefect.serializers.prefect_json_object_decoder":
                raise ValueError(f"unknown object_decoder {dec}")
            hook = prefect_object_hook
        text = blob.decode()
        kwargs = dict(serializer.get("loads_kwargs") or {})
        if jsonlib == "json":
            return json.loads(text, object_hook=hook, **kwargs)
        lib = importlib.import_module(jsonlib)
        obj = lib.loads(text, **kwargs)
        return _apply_hook(obj, hook) if hook else obj
    if typ.startswith("compressed"):
        inner = serializer["serializer"]
        if isinstance(inner, str):
            inner = {"type": inner}
        comp = importlib.import_module(serializer.get("compressionlib") or "lzma")
        return loads_with(inner, comp.decompress(base64.decodebytes(blob)))
    raise ValueError(f"unsupported serializer type {typ!r}")


def parse_iso(s: str) -> _dt.datetime:
    return _dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


METADATA_KEYS = {"storage_key", "expiration", "serializer", "prefect_version", "storage_block_id"}


def metadata_info(md: dict) -> dict:
    """The checked fields of a 3.x ``ResultRecordMetadata`` (in a record or a split metadata file)."""
    assert set(md) == METADATA_KEYS, sorted(md)
    return {key: md[key] for key in METADATA_KEYS - {"serializer"}}


def decode_entry(root: Path, e: dict):
    """Return (value, info) for one manifest entry, reading only the corpus files."""
    layout = e["layout"]
    raw = (root / e["path"]).read_bytes()
    info = {}
    if layout == "v2-blob":
        doc = json.loads(raw)
        assert set(doc) == {"serializer", "data", "prefect_version"}, sorted(doc)
        ser, payload = doc["serializer"], doc["data"].encode()
        info["prefect_version"] = doc["prefect_version"]
    elif layout == "v3-record":
        doc = json.loads(raw)
        assert set(doc) == {"metadata", "result"}, sorted(doc)
        info.update(metadata_info(doc["metadata"]))
        ser, payload = doc["metadata"]["serializer"], doc["result"].encode()
    elif layout == "v3-raw":
        if e.get("metadata_path"):
            md = json.loads((root / e["metadata_path"]).read_bytes())
            info.update(metadata_info(md))
            ser = md["serializer"]
        else:  # no metadata anywhere on disk: serializer known only from the flow config
            ser = e["serializer"]
        payload = raw
    else:
        raise ValueError(layout)
    info["serializer"] = ser
    return loads_with(ser, payload), info


def storage_key_rebase(key: str | None, *, entry: dict, root: Path) -> str | None:
    """An absolute storage key written under the generation root, relative to ``root``."""
    generated_root = entry.get("generated_root")
    if key and generated_root and key.startswith(generated_root + "/"):
        return os.path.relpath(Path(str(root) + key[len(generated_root) :]), root)
    return key


def verify(root: Path) -> int:
    root = root.resolve()
    sys.path.insert(0, str(root))
    lines = (root / "manifest.jsonl").read_text().splitlines()
    entries = [json.loads(line) for line in lines if line.strip()]
    now = _dt.datetime.now(_dt.UTC)
    ok = bad = 0
    for e in entries:
        errs = []
        try:
            value, info = decode_entry(root, e)
            got = canon(value)
            if got != e["expected"]:
                errs.append(f"decoded {json.dumps(got)[:300]} != expected {json.dumps(e['expected'])[:300]}")
            if info["serializer"] != e["serializer"]:
                errs.append(f"serializer {info['serializer']} != manifest {e['serializer']}")
            if "prefect_version" in info and info["prefect_version"] != e["prefect_version"]:
                errs.append(f"prefect_version {info.get('prefect_version')} != {e['prefect_version']}")
            if "storage_key" in info:
                sk = info["storage_key"]
                if sk != e["storage_key"]:
                    errs.append(f"storage_key {sk} != {e['storage_key']}")
                # unsaved LocalFileSystem: absolute path of the result file at generation time
                if (
                    e.get("storage_block_id") is None
                    and storage_key_rebase(sk, entry=e, root=root) != e["path"]
                ):
                    errs.append(f"storage_key {sk} does not point at {e['path']}")
                if info["expiration"] != e["expiration"]:
                    errs.append(f"expiration {info['expiration']} != {e['expiration']}")
                if info["expiration"] is not None:
                    expired = parse_iso(info["expiration"]) <= now
                    if expired != e["expired"]:
                        errs.append(f"expired={expired} but manifest says {e['expired']}")
            if (got == e["original"]) != e["lossless"]:
                errs.append("lossless flag mismatch")
        except Exception as exc:
            errs.append(f"exception {type(exc).__name__}: {exc}")
        if errs:
            bad += 1
            print(f"FAIL {e['path']}: " + "; ".join(errs))
        else:
            ok += 1
    print(f"{ok} passed, {bad} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    here = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
    if "prefect" in sys.modules:
        raise SystemExit("prefect must not be imported")
    rc = verify(here)
    assert "prefect" not in sys.modules, "verification imported prefect"
    sys.exit(rc)
