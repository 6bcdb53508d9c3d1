"""Run differential cases in one process, by real Prefect or by Resultdeck, and write what was observed.

    python runner.py CASES_JSON OUT_JSON WORKDIR

CASES_JSON is a list of {"id", "code"} whose code already names the implementation to run (the
test rewrites the import lines). Both interpreters run this same file, so both sides are observed
alike. It imports nothing from the project: the environment decides which SDK the cases import.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import signal
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "corpus"))
from verify import canon

CASE_TIMEOUT_SECONDS = 120


def _is_state(value) -> bool:
    return callable(getattr(value, "is_final", None)) and hasattr(value, "state_details")


def _exception(error: BaseException) -> dict:
    # Named without its module: the two implementations define Prefect's exceptions in their own.
    return {"type": "exception", "class": type(error).__name__, "args": [_value(arg) for arg in error.args]}


def _value(value):
    if _is_state(value):
        return {"state": state_of(value)}
    if isinstance(value, BaseException) and type(value).__module__ != "builtins":
        return _exception(value)
    if isinstance(value, (list, tuple)) and any(_is_state(item) for item in value):
        return {"type": type(value).__name__, "items": [_value(item) for item in value]}
    if isinstance(value, dict) and any(_is_state(item) for item in value.values()):
        return {"type": "dict", "items": [[_value(key), _value(item)] for key, item in value.items()]}
    if isinstance(value, (dict, list, tuple, str, int, float, bool)) or value is None:
        return _plain(value)
    return canon(value)


def _plain(value):
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if _is_state(value):
        return {"state": state_of(value)}
    return canon(value)


def value_of(value):
    """What a user sees of a value: states by type and name, exceptions by class and args."""
    return _value(value)


def raises(fn, *args, **kwargs):
    try:
        return {"value": _value(fn(*args, **kwargs))}
    except BaseException as error:
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            raise
        return {"raises": type(error).__name__}


async def araises(fn, *args, **kwargs):
    try:
        return {"value": _value(await fn(*args, **kwargs))}
    except Exception as error:
        return {"raises": type(error).__name__}


def state_of(state):
    return {"type": state.type.value, "name": state.name, "final": state.is_final()}


PREDICATES = (
    "is_scheduled",
    "is_pending",
    "is_running",
    "is_completed",
    "is_failed",
    "is_crashed",
    "is_cancelled",
    "is_cancelling",
    "is_paused",
    "is_final",
)


def predicates_of(state):
    """The names of the predicates that hold for ``state``."""
    return [name for name in PREDICATES if getattr(state, name)()]


def details_of(state):
    """Which ``state_details`` fields are set (ids by presence, other values as they are)."""
    details = state.state_details
    observed = {}
    for name in ("flow_run_id", "task_run_id", "child_flow_run_id", "cache_expiration"):
        observed[name] = getattr(details, name) is not None
    for name in ("cache_key", "retriable", "refresh_cache"):
        observed[name] = _plain(getattr(details, name))
    return observed


def record_of(data):
    """The shape of a state's ``data``: a result record's result, serializer and expiration.

    Not its storage key or block id: Resultdeck's default storage is a saved block (relative keys, a
    block id), Prefect's an unsaved local folder (absolute keys, none).
    """
    if type(data).__name__ != "ResultRecord":
        return {"data": type(data).__name__}
    metadata = data.metadata
    return {
        "data": "ResultRecord",
        "result": _value(data.result),
        "serializer": metadata.serializer.type,
        "expiration": metadata.expiration is not None,
    }


def _files(root: Path, where: str, before: set[Path]) -> list[dict]:
    seen = []
    for path in sorted(root.rglob("*")) if root.exists() else []:
        if not path.is_file() or path in before:
            continue
        entry = {"where": where}
        try:
            document = json.loads(path.read_bytes())
        except ValueError:
            document = None
        if isinstance(document, dict) and isinstance(document.get("metadata"), dict):
            metadata = document["metadata"]
            serializer = metadata.get("serializer") or {}
            entry |= {
                "kind": "record",
                "keys": sorted(document),
                "metadata_keys": sorted(metadata),
                "serializer": serializer.get("type"),
            }
        else:
            entry["kind"] = "payload"
        seen.append(entry)
    return sorted(seen, key=lambda entry: json.dumps(entry, sort_keys=True))


def _snapshot(*roots: Path) -> set[Path]:
    return {path for root in roots if root.exists() for path in root.rglob("*")}


class _CaseTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise _CaseTimeout


def case_run(*, case: dict, workdir: Path, default_storage: Path) -> dict:
    storage = workdir / case["id"]
    storage.mkdir(parents=True)
    namespace = {
        "__name__": f"case_{case['id'].replace('-', '_')}",
        "STORAGE_PATH": str(storage),
        "raises": raises,
        "araises": araises,
        "state_of": state_of,
        "value_of": value_of,
        "predicates_of": predicates_of,
        "details_of": details_of,
        "record_of": record_of,
    }
    before = _snapshot(default_storage)
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_TIMEOUT_SECONDS)
    try:
        exec(compile(case["code"], f"<case {case['id']}>", "exec", dont_inherit=True), namespace)  # noqa: S102 - our own cases
        outcome = namespace["case"]()
        if inspect.isawaitable(outcome):
            outcome = asyncio.run(_awaited(outcome))
        observed = {"observed": _plain(outcome)}
    except _CaseTimeout:
        observed = {"error": f"timed out after {CASE_TIMEOUT_SECONDS} s"}
    except Exception as error:
        observed = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
    finally:
        signal.alarm(0)
    observed["files"] = _files(storage, "storage", set()) + _files(default_storage, "default", before)
    return observed


async def _awaited(awaitable):
    return await awaitable


def main() -> None:
    cases_path, out_path, workdir = (Path(argument) for argument in sys.argv[1:4])
    default_storage = Path(os.environ["RESULTS_LOCAL_STORAGE_PATH"])
    outcomes = {}
    for case in json.loads(cases_path.read_text()):
        outcomes[case["id"]] = case_run(case=case, workdir=workdir, default_storage=default_storage)
        out_path.write_text(json.dumps(outcomes, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
