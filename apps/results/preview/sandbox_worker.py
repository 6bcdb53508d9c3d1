"""The process that decodes a result for real, started by ``apps.results.preview.sandbox`` and nothing else.

Reads a JSON header line and the file's bytes on stdin, decodes the value and writes one JSON object
(a preview in the format of ``apps.results.preview``) on stdout. Its parent runs it in namespaces of
its own (``apps.results.preview.isolation``) with no secrets and limits on memory, CPU time, open
files and file size; before it decodes anything it forbids itself new processes and
dangerous system calls (``process_confine``).

Pickles are loaded by ``RestrictedUnpickler``: its ``find_class`` hands out only what data needs:

* builtins: the container and number types, ``slice``, ``range``, ``object`` and the exception
  classes; ``getattr`` only as a wrapper that reaches listed class attributes (``ZoneInfo._unpickle``);
  ``_codecs.encode`` only for latin-1 (how protocol 2 stores bytes);
* ``copyreg`` reconstructors; ``datetime``, ``decimal``, ``fractions``, ``uuid``, ``zoneinfo``,
  ``collections``, ``ipaddress`` value types and the ``pathlib`` path classes (a path object touches
  no file until asked to);
* numpy: dtypes, ``ndarray``, scalar types and the array reconstructors;
* pandas: classes that are frames, indexes, arrays, dtypes, blocks, managers or scalars (never the
  I/O classes such as ``ExcelWriter`` or ``HDFStore``), and the pickle helpers (``_unpickle_*``,
  ``_new_*``, ``__pyx_unpickle_*``);
* classes of other modules only when they are pydantic models, dataclasses or enums, their module is
  importable from the sandbox's path and is not a system, network or code module, and nothing in
  their hierarchy outside pydantic, dataclasses and enum redefines ``__setstate__``/``__new__``/
  ``__reduce__``. Importing such a module runs its top-level code: the sandbox path holds only the
  project's code and installed packages, a standard-library module outside the lists above or a
  module the sandbox cannot find is refused before any import, and whatever imported code prints
  goes to stderr, never into the answer on stdout;
* pandas time zones named ``dateutil/<name>`` only when the name is a zone name: dateutil would
  open any path it is given, and its errors would tell which files exist.

Refused: everything else, notably ``os``, ``subprocess``, ``builtins.eval/exec/open/__import__``,
``types.CodeType``/``FunctionType`` and ``cloudpickle``'s by-value reconstruction of functions and
classes (functions are code, not data). An audit hook refuses process creation, writes to files and
network connections as a second line of defence.
"""

from __future__ import annotations

import builtins
import dataclasses
import enum
import importlib
import importlib.util
import io
import json
import os
import pickle
import re
import sys
from typing import Any

from apps.results.format.codecs import DEFAULT_MAX_DECODED_BYTES, b64decode_bounded, decompress_bounded
from apps.results.format.layout import Layout, head_read, serializer_config_expand
from apps.results.preview.isolation import process_confine
from apps.results.preview.json_tree import json_node
from apps.results.preview.nodes import DANGER_DANGEROUS, Budget
from apps.results.preview.pickle_machine import global_classify
from apps.results.preview.values import value_to_preview

EXIT_OK = 0


def _names(text: str) -> frozenset[str]:
    """A set of names written as one space-separated text, so long lists stay compact."""
    return frozenset(text.split())


_BUILTIN_DATA = _names(
    "list dict set frozenset tuple bytearray bytes str int float complex bool slice range object"
)
_STDLIB_ALLOWED = {
    "datetime": {"date", "datetime", "time", "timedelta", "timezone", "tzinfo"},
    "decimal": {"Decimal"},
    "_decimal": {"Decimal"},
    "fractions": {"Fraction"},
    "uuid": {"UUID", "SafeUUID"},
    "zoneinfo": {"ZoneInfo"},
    "collections": {"OrderedDict", "defaultdict", "deque", "Counter", "ChainMap"},
    "pathlib": {"PurePath", "PurePosixPath", "PureWindowsPath", "Path", "PosixPath", "WindowsPath"},
    "ipaddress": {
        "IPv4Address",
        "IPv6Address",
        "IPv4Network",
        "IPv6Network",
        "IPv4Interface",
        "IPv6Interface",
    },
    "copyreg": {"_reconstructor", "__newobj__", "__newobj_ex__"},
}
_NUMPY_ALLOWED = _names(
    "numpy.dtype numpy.ndarray numpy._core.multiarray._reconstruct numpy.core.multiarray._reconstruct "
    "numpy._core.multiarray.scalar numpy.core.multiarray.scalar numpy._core.numeric._frombuffer "
    "numpy.core.numeric._frombuffer numpy.ma.core._mareconstruct numpy.ma.core.MaskedArray"
)
# Class attributes that pickles reach with getattr(cls, name).
_GETATTR_ALLOWED = frozenset({"zoneinfo.ZoneInfo._unpickle"})
_PANDAS_HELPER_PREFIXES = ("_unpickle", "__pyx_unpickle", "_new_", "__nat_unpickle", "_timedelta_unpickle")
_PANDAS_REFUSED_PARTS = frozenset({"io", "testing", "plotting", "util", "api", "_testing", "errors"})
_USER_CLASS_TRUSTED_MODULES = ("builtins", "pydantic", "dataclasses", "enum", "abc", "typing")
_RENAMED_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


class RefusedGlobalError(pickle.UnpicklingError):
    """The pickle names a global the sandbox does not hand out."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.danger, _ = global_classify(path)
        super().__init__(f"refused to load {path}: {reason}")


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    if encoding not in ("latin1", "latin-1"):
        raise RefusedGlobalError("_codecs.encode", f"only latin-1 is allowed, not {encoding!r}")
    return text.encode("latin-1")


def _class_getattr(owner: Any, name: str) -> Any:
    if isinstance(owner, type):
        path = f"{owner.__module__}.{owner.__qualname__}.{name}"
        if path in _GETATTR_ALLOWED:
            return getattr(owner, name)
        if issubclass(owner, enum.Enum) and name in owner.__members__:
            return owner[name]
        raise RefusedGlobalError(
            f"builtins.getattr({owner.__module__}.{owner.__qualname__}, {name!r})",
            "getattr reaches only listed class attributes",
        )
    raise RefusedGlobalError("builtins.getattr", "getattr is allowed on classes only")


_audit_state = {"trusted_import": False}
_TRUSTED_IMPORT_TOPS = _names(
    "numpy pandas datetime decimal _decimal fractions uuid zoneinfo collections pathlib ipaddress copyreg"
)


def _resolve(module: str, name: str) -> Any:
    # numpy and pandas load native libraries (ctypes) when imported: the audit hook lets their imports be.
    trusted = module.split(".")[0] in _TRUSTED_IMPORT_TOPS
    _audit_state["trusted_import"] = trusted
    try:
        imported = importlib.import_module(module)
    finally:
        _audit_state["trusted_import"] = False
    found: Any = imported
    for part in name.split("."):
        found = getattr(found, part)
    return found


# The zone names of the tz database: no absolute paths, no "..".
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*")


def _pandas_zone_names_only() -> None:
    """pandas reads a "dateutil/<name>" time zone with dateutil's ``gettz``, which opens any path it is
    given, so its errors would tell which files exist. Here it is handed zone names only."""
    from pandas._libs.tslibs import timezones

    gettz = timezones.dateutil_gettz
    if getattr(gettz, "zone_names_only", False):
        return

    def zone_gettz(name: str | None = None) -> Any:
        if name and not _ZONE_NAME.fullmatch(name):
            raise RefusedGlobalError("dateutil.tz.gettz", "a time zone is a zone name, not a file path")
        return gettz(name)

    zone_gettz.zone_names_only = True  # type: ignore[attr-defined]
    timezones.dateutil_gettz = zone_gettz


def _pandas_allowed(module: str, name: str) -> Any:
    if set(module.split(".")[1:]) & _PANDAS_REFUSED_PARTS:
        raise RefusedGlobalError(f"{module}.{name}", "pandas I/O and test modules are not loaded")
    found = _resolve(module, name)
    _pandas_zone_names_only()
    import pandas
    from pandas.api.extensions import ExtensionArray, ExtensionDtype
    from pandas.core.generic import NDFrame
    from pandas.core.internals.blocks import Block
    from pandas.core.internals.managers import BaseBlockManager

    data_bases: tuple[type, ...] = (
        NDFrame,
        pandas.Index,
        ExtensionArray,
        ExtensionDtype,
        BaseBlockManager,
        Block,
        pandas.Timestamp,
        pandas.Timedelta,
        pandas.Period,
        pandas.Interval,
        pandas.DateOffset.__mro__[1],
    )
    if isinstance(found, type) and issubclass(found, data_bases):
        return found
    if isinstance(found, type) and found.__name__ in ("NDArrayBacked", "NaTType", "Flags", "BlockPlacement"):
        return found
    if (
        callable(found)
        and not isinstance(found, type)
        and name.split(".")[-1].startswith(_PANDAS_HELPER_PREFIXES)
    ):
        return found
    raise RefusedGlobalError(f"{module}.{name}", "not a pandas data type or pickle helper")


def _numpy_allowed(module: str, name: str) -> Any:
    path = f"{module}.{name}"
    found = _resolve(module, name)
    if path in _NUMPY_ALLOWED:
        return found
    import numpy

    if isinstance(found, type) and (issubclass(found, numpy.generic) or issubclass(found, numpy.dtype)):
        return found
    raise RefusedGlobalError(path, "not a numpy data type or array reconstructor")


def _user_class_allowed(module: str, name: str) -> Any:
    path = f"{module}.{name}"
    level, reason = global_classify(path)
    if level == DANGER_DANGEROUS:
        raise RefusedGlobalError(path, reason)
    # Importing runs the module's code, so what can be refused without importing is refused first.
    top = module.split(".")[0]
    if top in sys.stdlib_module_names:
        raise RefusedGlobalError(path, "standard-library modules outside the allowlist are not imported")
    if importlib.util.find_spec(top) is None:
        raise RefusedGlobalError(path, "its module is not importable in the sandbox")
    try:
        found = _resolve(module, name)
    except (ImportError, AttributeError) as error:
        raise RefusedGlobalError(path, f"it is not importable in the sandbox ({error})") from error
    if not isinstance(found, type):
        raise RefusedGlobalError(path, "only classes are loaded from this module, and this is a function")
    is_model = any(
        f"{base.__module__}.{base.__name__}" == "pydantic.main.BaseModel" for base in found.__mro__
    )
    if not (is_model or dataclasses.is_dataclass(found) or issubclass(found, enum.Enum)):
        raise RefusedGlobalError(
            path, "only pydantic models, dataclasses and enums are loaded from other modules"
        )
    for hook in ("__setstate__", "__new__", "__reduce__", "__reduce_ex__", "__getattr__", "__setattr__"):
        owner = next((base for base in found.__mro__ if hook in vars(base)), None)
        if owner is not None and not (owner.__module__ or "").startswith(_USER_CLASS_TRUSTED_MODULES):
            raise RefusedGlobalError(
                path, f"{owner.__qualname__} defines {hook}, which would run its own code"
            )
    return found


def sandbox_find_class(module: str, name: str) -> Any:
    """The object a pickle may import, or RefusedGlobalError."""
    module = _RENAMED_MODULES.get(module, module)
    path = f"{module}.{name}"
    if module == "builtins":
        if name == "getattr":
            return _class_getattr
        candidate = getattr(builtins, name, None) if "." not in name else None
        if name in _BUILTIN_DATA or (isinstance(candidate, type) and issubclass(candidate, BaseException)):
            return candidate
        raise RefusedGlobalError(path, "this built-in can run code or touch the system")
    if path == "_codecs.encode":
        return _latin1_encode
    if path in _GETATTR_ALLOWED:
        return _resolve(module, name)
    top = module.split(".")[0]
    if module in _STDLIB_ALLOWED:
        if name in _STDLIB_ALLOWED[module]:
            return _resolve(module, name)
        raise RefusedGlobalError(path, "not a data type of this module")
    if top == "numpy":
        return _numpy_allowed(module, name)
    if top == "pandas":
        return _pandas_allowed(module, name)
    return _user_class_allowed(module, name)


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        return sandbox_find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError(
            "refused: the pickle refers to a persistent id (an object outside the file)"
        )


_REFUSED_EVENTS = tuple(
    _names(
        "os.system os.exec os.posix_spawn os.spawn os.fork os.forkpty subprocess.Popen os.remove "
        "os.unlink os.rename os.rmdir os.mkdir os.chmod os.chown os.symlink os.link os.truncate os.kill "
        "shutil. socket.connect socket.bind socket.getaddrinfo ctypes. webbrowser.open pty.spawn"
    )
)


def _audit_hook(event: str, args: tuple[Any, ...]) -> None:
    if _audit_state["trusted_import"] and event.startswith(("ctypes.", "os.")):
        return
    if event.startswith(_REFUSED_EVENTS):
        raise PermissionError(f"refused in the sandbox: {event}")
    if event == "open" and len(args) > 1:
        mode = args[1]
        flags = args[2] if len(args) > 2 else 0
        writes = isinstance(mode, str) and any(char in mode for char in "wax+")
        if writes or (isinstance(flags, int) and flags & 0o3):
            raise PermissionError(f"refused in the sandbox: writing to {args[0]!r}")


def _payload_and_serializer(data: bytes, *, layout: str, serializer: Any) -> tuple[bytes, Any]:
    if layout in (Layout.V3_RECORD, Layout.V2_BLOB):
        document = json.loads(data)
        if layout == Layout.V3_RECORD:
            text = document.get("result")
            serializer = serializer or (document.get("metadata") or {}).get("serializer")
        else:
            text = document.get("data")
            serializer = serializer or document.get("serializer")
        if text is None:
            return b"null", serializer or {"type": "json"}
        return str(text).encode("utf-8"), serializer
    return data, serializer


def _decode(payload: bytes, serializer: Any, *, max_nodes: int) -> dict[str, Any]:
    config = serializer_config_expand(serializer) if serializer is not None else head_read(payload).serializer
    if config is None:
        raise ValueError(f"no serializer is known for this payload (given: {serializer!r})")
    kind = config["type"]
    if kind == "compressed":
        compressed = b64decode_bounded(payload, limit=DEFAULT_MAX_DECODED_BYTES)
        inner = decompress_bounded(
            compressed, compressionlib=config["compressionlib"], limit=DEFAULT_MAX_DECODED_BYTES
        )
        return _decode(inner, config["serializer"], max_nodes=max_nodes)
    if kind == "json":
        value = json.loads(payload)
        return {"format": "json", "value": json_node(value, key=None, budget=Budget(max_nodes))}
    if kind == "pickle":
        data = b64decode_bounded(payload, limit=DEFAULT_MAX_DECODED_BYTES)
        value = RestrictedUnpickler(io.BytesIO(data)).load()
        return {"format": "pickle", "value": value_to_preview(value, max_nodes=max_nodes)}
    raise ValueError(f"unknown serializer type {kind!r}")


def _answer_channel() -> Any:
    """The original stdout, kept for the answer alone; what code run by the decode prints (a module
    imported for a class, say) goes to stderr and cannot garble it."""
    answer = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return answer


def main() -> int:
    answer = _answer_channel()
    header = json.loads(sys.stdin.buffer.readline())
    data = sys.stdin.buffer.read()
    for path in header.get("import_paths") or []:
        sys.path.append(path)
    process_confine()
    sys.addaudithook(_audit_hook)
    try:
        payload, serializer = _payload_and_serializer(
            data, layout=header["layout"], serializer=header.get("serializer")
        )
        del data
        result: dict[str, Any] = {"ok": True, **_decode(payload, serializer, max_nodes=header["max_nodes"])}
        result["type"] = result["value"]["type"]
    except RefusedGlobalError as error:
        result = {
            "ok": False,
            "error_kind": "refused",
            "error": str(error),
            "refused": error.path,
            "danger": error.danger,
        }
    except MemoryError:
        result = {
            "ok": False,
            "error_kind": "memory",
            "error": "the value needs more memory than the sandbox allows",
        }
    except PermissionError as error:
        result = {"ok": False, "error_kind": "refused", "error": str(error)}
    except RecursionError:
        result = {"ok": False, "error_kind": "corrupt", "error": "the value is nested too deeply to decode"}
    except Exception as error:
        result = {
            "ok": False,
            "error_kind": "corrupt",
            "error": f"cannot decode: {type(error).__name__}: {error}",
        }
    answer.write(json.dumps(result, default=str))
    answer.flush()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
