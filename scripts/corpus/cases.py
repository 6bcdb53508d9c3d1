"""What the corpus generators write, and how they describe each file in the manifest.

Imported by gen_v2.py (inside a Prefect 2.20.27 venv) and gen_v3.py (inside a Prefect 3.9.1 venv),
so it imports nothing from prefect at module level: the serializers are built from the
``prefect.serializers`` module each generator hands in. ``canon`` is the corpus's own canonical
form (``verify.py`` in the corpus folder, which the generators have on PYTHONPATH).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import importlib
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from verify import canon

# Every serializer the corpus covers, with the values written through it by a task. Values a
# serializer cannot encode are here on purpose: they end up in unwritable.jsonl.
TASK_CASES: dict[str, tuple[str, ...]] = {
    "pickle": (
        "bytes",
        "dataclass",
        "dataframe",
        "date",
        "datetime_tz",
        "datetime_zone",
        "decimal",
        "float",
        "int",
        "ndarray",
        "nested",
        "none",
        "set",
        "str_unicode",
    ),
    "pickle-stdlib": ("datetime_tz", "int", "nested"),
    "json": (
        "bytes_utf8",
        "completed_state",
        "dataclass",
        "date",
        "datetime_utc",
        "datetime_zone",
        "float",
        "int",
        "nested",
        "none",
        "pydantic",
        "set",
        "true",
        "uuid",
        "bytes",
        "ndarray",
        "dataframe",
    ),
    "orjson": (
        "dataclass",
        "float",
        "int",
        "none",
        "pydantic",
        "set",
        "str_unicode",
        "true",
        "uuid",
        "bigint",
        "ndarray",
        "bytes",
    ),
    "orjson-nohook": ("decimal", "int", "nested"),
    "compressed-pickle": ("decimal", "int", "ndarray", "nested", "pydantic", "str_unicode"),
    "compressed-json": ("decimal", "int", "nested", "pydantic", "str_unicode"),
    "lzma-pickle": ("ndarray_int32", "nested", "str_unicode"),
    "zlib-pickle": ("ndarray_int32", "nested", "str_unicode"),
    "bz2-pickle": ("ndarray_int32", "nested", "str_unicode"),
    "lzma-json": ("datetime_tz", "nested", "pydantic"),
    "zlib-json": ("datetime_tz", "nested", "pydantic"),
    "bz2-json": ("datetime_tz", "nested", "pydantic"),
}


def task_cases() -> list[tuple[str, str]]:
    """(serializer id, value id) of every task case, and the failed task whose exception is persisted."""
    return [(sid, vid) for sid, vids in TASK_CASES.items() for vid in vids] + [("pickle", "exception")]


# What a value needs to be rebuilt by a reader (the manifest's ``requires``).
REQUIRES = {
    "ndarray": ["numpy"],
    "ndarray_int32": ["numpy"],
    "dataframe": ["numpy", "pandas"],
    "pydantic": ["pydantic", "corpus_types"],
    "dataclass": ["corpus_types"],
}

CACHE_EXPIRATION = dt.timedelta(days=3650)
COMPLETED_STATE_NOTE = (
    "task returned Completed(message=..., data=VALUE); the state's data is what is persisted"
)
FLOW_RAW_NOTE = (
    "flow results are written WITHOUT the metadata wrapper (metadata_storage=NullFileSystem); "
    "the serializer is known only from the flow's result_serializer"
)


def serializer_build(serializer_id: str, *, serializers: Any) -> Any:
    """The Prefect serializer object behind a corpus serializer id (2.x and 3.x spell them alike)."""
    pickle, json_ = serializers.PickleSerializer, serializers.JSONSerializer
    if serializer_id == "pickle":
        return pickle()
    if serializer_id == "pickle-stdlib":
        return pickle(picklelib="pickle")
    if serializer_id == "json":
        return json_()
    if serializer_id == "orjson":
        return json_(jsonlib="orjson")
    if serializer_id == "orjson-nohook":
        return json_(jsonlib="orjson", object_decoder=None)
    if serializer_id == "compressed-pickle":
        return serializers.CompressedPickleSerializer()
    if serializer_id == "compressed-json":
        return serializers.CompressedJSONSerializer()
    library, _, inner = serializer_id.partition("-")
    inner_serializer = pickle() if inner == "pickle" else json_()
    return serializers.CompressedSerializer(serializer=inner_serializer, compressionlib=library)


def value_build(value_id: str) -> Any:
    """A fresh instance of the value a case writes (``exception`` is raised, not returned)."""
    from corpus_types import Item, Point

    if value_id in ("ndarray", "ndarray_int32", "dataframe"):
        import numpy as np

        if value_id == "ndarray":
            return np.arange(12, dtype=np.float64).reshape(3, 4) / 7
        if value_id == "ndarray_int32":
            return np.array([[1, -2], [3, 2147483647]], dtype=np.int32)
        import pandas as pd

        return pd.DataFrame(
            {
                "i": [1, 2, 3],
                "f": [0.5, float("nan"), 2.25],
                "s": ["a", "b", "ç"],
                "t": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"], utc=True),
            }
        )
    values = {
        "int": lambda: 42,
        "bigint": lambda: 2**70,
        "float": lambda: 0.1 + 0.2,
        "str_unicode": lambda: 'héllo wörld — 日本語 🚀 👩\u200d💻 "quoted" back\\slash\ttab\nnewline',
        "bytes": lambda: b"\x00\x01\x02\xff\xfe binary \x80\x7f",
        "bytes_utf8": lambda: "utf-8 bytes: é".encode(),
        "none": lambda: None,
        "true": lambda: True,
        "uuid": lambda: uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "decimal": lambda: decimal.Decimal("3.14159265358979323846264338327950288"),
        "date": lambda: dt.date(2024, 2, 29),
        "datetime_utc": lambda: dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
        "datetime_tz": lambda: dt.datetime(
            2024, 3, 10, 12, 34, 56, 789012, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))
        ),
        "datetime_zone": lambda: dt.datetime(2024, 7, 4, 9, 0, tzinfo=ZoneInfo("Europe/Paris")),
        "set": lambda: {1, 2, 3, "four"},
        "nested": lambda: {
            "a": [1, 2.5, "x", None, True, {"b": {"c": [[], {}]}}],
            "ü": "ñ",
            "n": {"deep": [[[1]]]},
            "empty": "",
        },
        "completed_state": lambda: {"answer": 42, "when": dt.date(2024, 1, 1)},
        "pydantic": lambda: Point(
            x=1, y=2.5, label="pt-é", tags=["a", "b"], created=dt.datetime(2023, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
        ),
        "dataclass": lambda: Item(name="widget", qty=3, price=9.99, dims=[1, 2, 3]),
        "exception": lambda: ValueError("boom é", 7),
    }
    return values[value_id]()


def task_return(value_id: str, *, completed: Callable[..., Any]) -> Any:
    """What a corpus task returns: the value, a ``completed`` state carrying it, or a raised exception."""
    if value_id == "exception":
        raise value_build(value_id)
    if value_id == "completed_state":
        return completed(message="returned as a state", data=value_build(value_id))
    return value_build(value_id)


def cached_task_options(*, key: str, storage: Any) -> dict:
    """Task options of the cache case: a fixed cache key and an expiration ten years out."""
    return {
        "persist_result": True,
        "result_storage": storage,
        "cache_key_fn": lambda context, parameters: key,
        "cache_expiration": CACHE_EXPIRATION,
    }


def flow_result_options(*, storage: Any, serializer: Any) -> dict:
    """Flow options of the flow-return-value case."""
    return {
        "name": "corpus-flow-result",
        "persist_result": True,
        "result_storage": storage,
        "result_serializer": serializer,
    }


def qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def json_fallback_decode(serializer: dict, payload: bytes, *, object_hook: Any) -> Any:
    """Decode a JSON serializer's output with stdlib ``json`` and ``object_hook``.

    For the files Prefect writes but cannot read back itself (``orjson.loads`` takes no
    ``object_hook``): what the serializer's own decoder means, applied by the library that can.
    """
    if serializer["type"].startswith("compressed"):
        inner = serializer["serializer"]
        library = importlib.import_module(serializer.get("compressionlib") or "lzma")
        return json_fallback_decode(
            inner, library.decompress(base64.decodebytes(payload)), object_hook=object_hook
        )
    hook = object_hook if serializer.get("object_decoder") else None
    return json.loads(payload.decode(), object_hook=hook)


def file_describe(*, root: Path, path: str, metadata_path: str | None = None) -> dict:
    """What a result file itself says: its layout, serializer and (3.x) metadata fields."""
    data = (root / path).read_bytes()
    described: dict[str, Any] = {"size_bytes": len(data)}
    try:
        document = json.loads(data)
    except ValueError:
        document = None
    if isinstance(document, dict) and set(document) == {"serializer", "data", "prefect_version"}:
        described.update(
            layout="v2-blob", serializer=document["serializer"], payload=document["data"].encode()
        )
        return described
    if isinstance(document, dict) and set(document) == {"metadata", "result"}:
        metadata, payload = document["metadata"], document["result"].encode()
        described.update(layout="v3-record", payload=payload)
    else:
        described.update(layout="v3-raw", payload=data)
        if not metadata_path:
            return described
        metadata = json.loads((root / metadata_path).read_bytes())
    described.update(
        serializer=metadata["serializer"],
        storage_key=metadata["storage_key"],
        expiration=metadata["expiration"],
        storage_block_id=metadata["storage_block_id"],
    )
    return described


def manifest_entry(
    *,
    root: Path,
    path: str,
    prefect_version: str,
    writer: str,
    serializer_id: str,
    value_id: str,
    read: dict,
    task_state: str,
    metadata_path: str | None = None,
    serializer: dict | None = None,
    storage_key: str | None = None,
    notes: tuple[str, ...] = (),
    **extra: Any,
) -> dict:
    """One manifest line for a file that holds ``value_build(value_id)``. ``read`` is what real
    Prefect gave reading the file back: {"value": ...} or {"error": "Type: message", "expected": ...}."""
    written = value_build(value_id)
    described = file_describe(root=root, path=path, metadata_path=metadata_path)
    original = canon(written)
    expected = canon(read["value"]) if "value" in read else read["expected"]
    entry: dict[str, Any] = {
        "path": path,
        "split": "public",
        "prefect_version": prefect_version,
        "layout": described["layout"],
        "writer": writer,
        "serializer_id": serializer_id,
        "value_id": value_id,
        "python_type": qualified_name(type(written)),
        "serializer": described.get("serializer", serializer),
        "expected": expected,
        "original": original,
        "lossless": expected == original,
        "prefect_load": "ok" if "value" in read else f"error: {read['error']}",
    }
    if "expected_source" in read:
        entry["expected_source"] = read["expected_source"]
    if metadata_path:
        entry["metadata_path"] = metadata_path
    expiration = described.get("expiration")
    now = dt.datetime.now(dt.UTC)
    expired = expiration is not None and dt.datetime.fromisoformat(expiration.replace("Z", "+00:00")) <= now
    entry.update(
        expiration=expiration,
        expired=expired,
        generated_root=str(root),
        requires=REQUIRES.get(value_id, []),
        size_bytes=described["size_bytes"],
        storage_block_id=described.get("storage_block_id"),
        storage_key=described.get("storage_key", storage_key),
        task_state=task_state,
        **extra,
    )
    if notes:
        entry["notes"] = list(notes)
    return entry


def unwritable_entry(
    *, prefect_version: str, serializer_id: str, value_id: str, behaviour: str, task_state: str
):
    return {
        "behaviour": behaviour,
        "file_written": False,
        "group": serializer_id,
        "prefect_version": prefect_version,
        "python_type": qualified_name(type(value_build(value_id))),
        "split": "public",
        "task_state": task_state,
        "value_id": value_id,
    }


def jsonl_write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def new_files(folder: Path, before: set[Path]) -> list[Path]:
    """Files under ``folder`` that were not in ``before``, oldest first."""
    found = [path for path in folder.rglob("*") if path.is_file() and path not in before]
    return sorted(found, key=lambda path: path.stat().st_mtime_ns)


def files_under(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*") if path.is_file()} if folder.exists() else set()
