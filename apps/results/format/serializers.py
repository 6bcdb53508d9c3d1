"""Serializers that read and write the same bytes as Prefect's ``prefect.serializers``.

Pure module: no Django. Every serializer turns a value into bytes (``dumps``) and back
(``loads``), and describes itself with the JSON object Prefect stores next to the bytes
(``to_config``), so a file written here is read by Prefect and the other way round.

Formats (identical to Prefect 2.x/3.x):

* ``pickle``: ``base64.encodebytes(<picklelib>.dumps(obj))`` (MIME base64, a newline every
  76 characters).
* ``json``: ``<jsonlib>.dumps(obj, default=<object encoder>)``; values JSON cannot hold become
  ``{"__class__": "<module.qualname>", "data": ...}`` and exceptions
  ``{"__exc_type__": "<module.qualname>", "message": ...}``.
* ``compressed``, ``compressed/pickle``, ``compressed/json``:
  ``base64.encodebytes(<compressionlib>.compress(<inner serializer output>))``.

Safety of decoding:

* base64 and decompression are bounded (``max_decoded_bytes``), so a small file cannot
  expand into gigabytes of memory (``DecodeLimitError``).
* JSON ``__class__`` objects are rebuilt only for an allowlist: the standard types Prefect
  writes (datetime, UUID, Decimal, set, bytes, paths, ...), plus pydantic models,
  dataclasses and enums whose module is *already imported* in this process or was allowed
  with ``allow_json_module``/``allow_json_class``. Nothing else is imported because a JSON
  file names it; an object that is not allowed stays a plain dict (the same fallback the
  reference decoder uses when a class cannot be imported).
* Unpickling runs arbitrary code by design. It happens in workers and in the sandboxed
  decode process, never for stored bytes in the web process.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import dataclasses
import enum
import importlib
import io
import json
import pickle
import re
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, ClassVar

from .codecs import (
    COMPRESSION_LIBRARIES,
    DEFAULT_MAX_DECODED_BYTES,
    STREAM_CHUNK_BYTES,
    Base64DecodingReader,
    CompressingWriter,
    DecompressingReader,
    MimeBase64Writer,
    SmallFirstBase64Writer,
    b64decode_bounded,
    compress_bytes,
    decompress_bounded,
    read_bounded,
)
from .errors import (
    MissingObjectError,
    SerializationError,
    SerializerConfigError,
    UnknownSerializerError,
)

PREFECT_JSON_OBJECT_ENCODER = "prefect.serializers.prefect_json_object_encoder"
PREFECT_JSON_OBJECT_DECODER = "prefect.serializers.prefect_json_object_decoder"


# ---------------------------------------------------------------------------------------
# registry and base class
# ---------------------------------------------------------------------------------------
_SERIALIZER_TYPES: dict[str, type[Serializer]] = {}


def register_serializer(cls: type[Serializer]) -> type[Serializer]:
    """Class decorator: make ``cls`` loadable from configs whose ``type`` is ``cls.type``."""
    type_name = getattr(cls, "type", None)
    if not isinstance(type_name, str) or not type_name:
        raise SerializerConfigError(
            f"{cls.__name__} needs a non-empty class attribute 'type' to be registered"
        )
    _SERIALIZER_TYPES[type_name] = cls
    return cls


def registered_serializer_types() -> list[str]:
    return sorted(_SERIALIZER_TYPES)


class Serializer(ABC):
    """Turns values into bytes and back; ``to_config()`` is what files record about it."""

    type: ClassVar[str]
    max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES
    # True when ``load_from`` only calls ``read(size)`` on its file and copes with short reads,
    # so a caller may hand it a raw reader (chunks passed on uncopied) instead of a buffered one.
    reads_in_chunks: ClassVar[bool] = False

    @abstractmethod
    def dumps(self, obj: Any) -> bytes: ...

    @abstractmethod
    def loads(self, blob: bytes) -> Any: ...

    @abstractmethod
    def to_config(self) -> dict: ...

    @classmethod
    def from_config(cls, config: dict) -> Serializer:
        options = {key: value for key, value in config.items() if key != "type"}
        try:
            return cls(**options)
        except TypeError as exc:
            raise SerializerConfigError(f"invalid config for serializer {cls.type!r}: {exc}") from None

    def dump_to(self, obj: Any, fp: BinaryIO) -> None:
        """Write exactly ``dumps(obj)`` to a binary file-like."""
        fp.write(self.dumps(obj))

    def load_from(self, fp: BinaryIO) -> Any:
        """Read this serializer's output from a binary file-like and return the value."""
        return self.loads(read_bounded(fp, limit=self.max_decoded_bytes * 2, what=f"{self.type} payload"))

    def with_max_decoded_bytes(self, limit: int) -> Serializer:
        """A copy that refuses to decode more than ``limit`` bytes."""
        clone = copy.copy(self)
        clone.max_decoded_bytes = limit
        return clone

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Serializer):
            return NotImplemented
        return self.to_config() == other.to_config()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_config(), sort_keys=True, default=str))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_config()!r})"


class UnknownSerializer(Serializer):
    """A config whose ``type`` nobody registered: kept verbatim, cannot encode or decode."""

    type = "__unknown__"

    def __init__(self, config: dict):
        self.config = dict(config)
        self.type = str(config.get("type"))

    def _refuse(self):
        raise UnknownSerializerError(
            f"unknown serializer type {self.type!r}; register it with register_serializer"
        )

    def dumps(self, obj: Any) -> bytes:
        self._refuse()

    def loads(self, blob: bytes) -> Any:
        self._refuse()

    def to_config(self) -> dict:
        return dict(self.config)

    @classmethod
    def from_config(cls, config: dict) -> Serializer:
        return cls(config)


def _check_dotted_name(value: Any, *, field: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", value):
        raise SerializerConfigError(f"{field} must be a dotted module name, got {value!r}")
    return value


# ---------------------------------------------------------------------------------------
# pickle
# ---------------------------------------------------------------------------------------
_STDLIB_UNPICKLER_LIBS = ("pickle", "cloudpickle")
# Pickle libraries already imported and checked, by module name (kept off the serializer so
# serializer instances stay picklable).
_PICKLE_LIBRARIES: dict[str, Any] = {}


class _ReportingUnpickler(pickle.Unpickler):
    """The stdlib unpickler, with readable errors for objects that are not installed."""

    def find_class(self, module: str, name: str):
        try:
            return super().find_class(module, name)
        except ModuleNotFoundError as exc:
            missing = exc.name or module
            if missing == module:
                raise MissingObjectError(
                    f"pickle refers to module {module!r} which is not installed"
                ) from None
            raise MissingObjectError(
                f"pickle refers to module {module!r}, which cannot be imported: "
                f"module {missing!r} is not installed"
            ) from None
        except AttributeError:
            raise MissingObjectError(
                f"pickle refers to {module}.{name}, but module {module!r} has no attribute {name!r}"
            ) from None


def _unpickle_failure(exc: BaseException) -> SerializationError:
    if isinstance(exc, SerializationError):
        return exc
    if isinstance(exc, (EOFError, pickle.UnpicklingError)):
        return SerializationError(f"pickle payload is corrupt or truncated: {exc}")
    if isinstance(exc, ModuleNotFoundError):
        return MissingObjectError(f"pickle refers to module {exc.name!r} which is not installed")
    return SerializationError(f"unpickling failed: {type(exc).__name__}: {exc}")


@register_serializer
class PickleSerializer(Serializer):
    type = "pickle"
    reads_in_chunks = True

    def __init__(self, picklelib: str = "cloudpickle", picklelib_version: str | None = None):
        self.picklelib = _check_dotted_name(picklelib, field="picklelib")
        if picklelib_version is not None and not isinstance(picklelib_version, str):
            raise SerializerConfigError(
                f"picklelib_version must be a string or null, got {picklelib_version!r}"
            )
        self.picklelib_version = picklelib_version

    def to_config(self) -> dict:
        return {"type": self.type, "picklelib": self.picklelib, "picklelib_version": self.picklelib_version}

    def _library(self):
        lib = _PICKLE_LIBRARIES.get(self.picklelib)
        if lib is not None:
            return lib
        try:
            lib = importlib.import_module(self.picklelib)
        except ImportError:
            raise MissingObjectError(f"picklelib {self.picklelib!r} is not installed") from None
        if not (callable(getattr(lib, "dumps", None)) and callable(getattr(lib, "loads", None))):
            raise SerializerConfigError(f"picklelib {self.picklelib!r} has no dumps/loads functions")
        _PICKLE_LIBRARIES[self.picklelib] = lib
        return lib

    @contextlib.contextmanager
    def _pickling(self, obj: Any) -> Iterator[None]:
        """Whatever the pickle library raises becomes a SerializationError that names the value."""
        try:
            yield
        except SerializationError:
            raise
        except Exception as exc:
            raise SerializationError(
                f"cannot pickle value of type {type(obj).__name__!r} with {self.picklelib}: {exc}"
            ) from exc

    def dumps(self, obj: Any) -> bytes:
        with self._pickling(obj):
            return base64.encodebytes(self._library().dumps(obj))

    def dump_to(self, obj: Any, fp: BinaryIO) -> None:
        lib = self._library()
        writer = SmallFirstBase64Writer(fp)
        with self._pickling(obj):
            if callable(getattr(lib, "dump", None)):
                lib.dump(obj, writer)
            else:
                writer.write(lib.dumps(obj))
        writer.finish()

    def loads(self, blob: bytes) -> Any:
        raw = b64decode_bounded(blob, limit=self.max_decoded_bytes, what="pickle payload")
        return self._unpickle(io.BytesIO(raw), raw)

    def load_from(self, fp: BinaryIO) -> Any:
        reader = io.BufferedReader(
            Base64DecodingReader(fp, limit=self.max_decoded_bytes, what="pickle payload")
        )
        if self.picklelib in _STDLIB_UNPICKLER_LIBS:
            value = self._unpickle(reader, None)
            while reader.read(STREAM_CHUNK_BYTES):
                pass  # the rest must still be valid base64
            return value
        return self._unpickle(None, reader.read())

    def _unpickle(self, stream: BinaryIO | None, raw: bytes | None) -> Any:
        try:
            if self.picklelib in _STDLIB_UNPICKLER_LIBS:
                if self.picklelib == "cloudpickle":
                    self._library()  # by-value pickles need cloudpickle importable
                return _ReportingUnpickler(stream).load()
            return self._library().loads(raw)
        except Exception as exc:
            raise _unpickle_failure(exc) from exc


# ---------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------
_JSON_STANDARD_CLASSES = frozenset(
    {
        "datetime.datetime",
        "datetime.date",
        "datetime.time",
        "datetime.timedelta",
        "uuid.UUID",
        "decimal.Decimal",
        "fractions.Fraction",
        "builtins.set",
        "builtins.frozenset",
        "builtins.bytes",
        "builtins.bytearray",
        "builtins.tuple",
        "builtins.complex",
        "pathlib.Path",
        "pathlib.PosixPath",
        "pathlib.WindowsPath",
        "pathlib.PurePath",
        "pathlib.PurePosixPath",
        "pathlib.PureWindowsPath",
        "ipaddress.IPv4Address",
        "ipaddress.IPv6Address",
        "ipaddress.IPv4Network",
        "ipaddress.IPv6Network",
        "ipaddress.IPv4Interface",
        "ipaddress.IPv6Interface",
        "collections.deque",
        "collections.OrderedDict",
    }
)
_json_allowed_classes: set[str] = set()
_json_allowed_modules: set[str] = set()
_json_type_adapters: dict[type, Any] = {}


def allow_json_class(target: str | type) -> None:
    """Let JSON ``__class__``/``__exc_type__`` objects of exactly this class be rebuilt.

    The class's module may be imported for it. Any class named this way is trusted.
    """
    name = target if isinstance(target, str) else f"{target.__module__}.{target.__qualname__}"
    _json_allowed_classes.add(name)


def allow_json_module(module: str) -> None:
    """Let pydantic models, dataclasses, enums and exceptions of ``module`` (and its
    submodules) be rebuilt from JSON, importing the module if needed."""
    _json_allowed_modules.add(module)


def _module_allowed(module: str) -> bool:
    return any(module == allowed or module.startswith(allowed + ".") for allowed in _json_allowed_modules)


def _resolve_qualified(name: str, *, may_import: bool) -> Any:
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        module = sys.modules.get(module_name)
        if module is None and may_import:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                module = None
        if module is None:
            continue
        obj = module
        try:
            for attr in parts[split:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _is_rebuildable_class(obj: Any) -> bool:
    if not isinstance(obj, type):
        return False
    if dataclasses.is_dataclass(obj) or issubclass(obj, enum.Enum):
        return True
    try:
        from pydantic import BaseModel
    except ImportError:  # pragma: no cover - pydantic is a dependency
        return False
    return issubclass(obj, BaseModel)


def json_class_resolve(name: Any) -> type | None:
    """The class a JSON ``__class__`` may be rebuilt as, or None when it is not allowed."""
    if not isinstance(name, str) or "." not in name:
        return None
    explicit = name in _JSON_STANDARD_CLASSES or name in _json_allowed_classes
    module_allowed = _module_allowed(name.rpartition(".")[0])
    obj = _resolve_qualified(name, may_import=explicit or module_allowed)
    if not isinstance(obj, type):
        return None
    if explicit or _is_rebuildable_class(obj):
        return obj
    return None


def json_exception_resolve(name: Any) -> type[BaseException] | None:
    if not isinstance(name, str) or "." not in name:
        return None
    may_import = name in _json_allowed_classes or _module_allowed(name.rpartition(".")[0])
    obj = _resolve_qualified(name, may_import=may_import)
    if isinstance(obj, type) and issubclass(obj, BaseException):
        return obj
    return None


def _type_adapter(cls: type):
    adapter = _json_type_adapters.get(cls)
    if adapter is None:
        from pydantic import TypeAdapter

        adapter = _json_type_adapters[cls] = TypeAdapter(cls)
    return adapter


def _qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def json_object_encode(obj: Any) -> Any:
    """Prefect's ``prefect_json_object_encoder``: the ``default=`` hook of json.dumps."""
    if isinstance(obj, BaseException):
        return {"__exc_type__": _qualified_name(type(obj)), "message": str(obj)}
    if isinstance(obj, io.IOBase):
        return {
            "__class__": _qualified_name(type(obj)),
            "data": (
                f"<Prefect IOStream Placeholder: type={type(obj).__name__}, "
                f"repr={obj!r} (original content not read)>"
            ),
        }
    from pydantic import BaseModel
    from pydantic_core import to_jsonable_python

    data = obj.model_dump(mode="json") if isinstance(obj, BaseModel) else to_jsonable_python(obj)
    return {"__class__": _qualified_name(type(obj)), "data": data}


def json_object_decode(value: dict) -> Any:
    """Prefect's ``prefect_json_object_decoder`` restricted to allowed classes."""
    if "__class__" in value:
        cls = json_class_resolve(value["__class__"])
        if cls is None or "data" not in value:
            return value
        try:
            return _type_adapter(cls).validate_python(value["data"])
        except Exception as exc:
            raise SerializationError(f"cannot rebuild {value['__class__']} from JSON data: {exc}") from exc
    if "__exc_type__" in value:
        exc_type = json_exception_resolve(value["__exc_type__"])
        if exc_type is None or "message" not in value:
            return value
        try:
            return exc_type(value["message"])
        except Exception as exc:
            raise SerializationError(f"cannot rebuild exception {value['__exc_type__']}: {exc}") from exc
    return value


_JSON_OBJECT_ENCODERS: dict[str, Callable[[Any], Any]] = {PREFECT_JSON_OBJECT_ENCODER: json_object_encode}
_JSON_OBJECT_DECODERS: dict[str, Callable[[dict], Any]] = {PREFECT_JSON_OBJECT_DECODER: json_object_decode}
JSON_LIBRARIES = {"json", "orjson", "simplejson", "ujson"}


def register_json_object_hook(
    name: str,
    *,
    encoder: Callable[[Any], Any] | None = None,
    decoder: Callable[[dict], Any] | None = None,
) -> None:
    """Bind a dotted name used in configs (``object_encoder``/``object_decoder``) to a function.

    Configs name functions by import path; they are never imported from a file's say-so.
    """
    if encoder is not None:
        _JSON_OBJECT_ENCODERS[name] = encoder
    if decoder is not None:
        _JSON_OBJECT_DECODERS[name] = decoder


def json_hook_apply(value: Any, hook: Callable[[dict], Any]) -> Any:
    """Apply a ``json.loads`` object_hook bottom-up to an already parsed tree."""
    if isinstance(value, list):
        return [json_hook_apply(item, hook) for item in value]
    if isinstance(value, dict):
        return hook({key: json_hook_apply(item, hook) for key, item in value.items()})
    return value


@register_serializer
class JSONSerializer(Serializer):
    type = "json"

    def __init__(
        self,
        jsonlib: str = "json",
        object_encoder: str | None = PREFECT_JSON_OBJECT_ENCODER,
        object_decoder: str | None = PREFECT_JSON_OBJECT_DECODER,
        dumps_kwargs: dict | None = None,
        loads_kwargs: dict | None = None,
    ):
        self.jsonlib = _check_dotted_name(jsonlib, field="jsonlib")
        for field_name, value in (("object_encoder", object_encoder), ("object_decoder", object_decoder)):
            if value is not None:
                _check_dotted_name(value, field=field_name)
        self.object_encoder = object_encoder
        self.object_decoder = object_decoder
        self.dumps_kwargs = dict(dumps_kwargs or {})
        self.loads_kwargs = dict(loads_kwargs or {})
        if "default" in self.dumps_kwargs:
            raise SerializerConfigError("dumps_kwargs cannot contain 'default'; set object_encoder instead")
        if "object_hook" in self.loads_kwargs:
            raise SerializerConfigError(
                "loads_kwargs cannot contain 'object_hook'; set object_decoder instead"
            )

    def to_config(self) -> dict:
        return {
            "type": self.type,
            "jsonlib": self.jsonlib,
            "object_encoder": self.object_encoder,
            "object_decoder": self.object_decoder,
            "dumps_kwargs": dict(self.dumps_kwargs),
            "loads_kwargs": dict(self.loads_kwargs),
        }

    def _library(self):
        if self.jsonlib not in JSON_LIBRARIES:
            raise SerializerConfigError(
                f"jsonlib {self.jsonlib!r} is not an allowed JSON library (allowed: {sorted(JSON_LIBRARIES)})"
            )
        try:
            return importlib.import_module(self.jsonlib)
        except ImportError:
            raise MissingObjectError(f"jsonlib {self.jsonlib!r} is not installed") from None

    def _hook(self, registry: dict, name: str | None, kind: str):
        if name is None:
            return None
        try:
            return registry[name]
        except KeyError:
            raise SerializerConfigError(
                f"unknown {kind} {name!r}; register it with register_json_object_hook"
            ) from None

    def dumps(self, obj: Any) -> bytes:
        lib = self._library()
        kwargs = dict(self.dumps_kwargs)
        encoder = self._hook(_JSON_OBJECT_ENCODERS, self.object_encoder, "object_encoder")
        if encoder is not None:
            kwargs["default"] = encoder
        try:
            result = lib.dumps(obj, **kwargs)
        except Exception as exc:
            raise SerializationError(
                f"cannot serialize value of type {type(obj).__name__!r} as JSON with {self.jsonlib}: {exc}"
            ) from exc
        return result.encode() if isinstance(result, str) else bytes(result)

    def loads(self, blob: bytes) -> Any:
        decoder = self._hook(_JSON_OBJECT_DECODERS, self.object_decoder, "object_decoder")
        lib = self._library()
        try:
            text = bytes(blob).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SerializationError(f"JSON payload is not valid UTF-8: {exc}") from None
        try:
            if self.jsonlib == "orjson" and not self.loads_kwargs:
                return self._loads_orjson(lib, text, decoder)
            if self.jsonlib in ("json", "orjson", "simplejson"):
                return json.loads(text, object_hook=decoder, **self.loads_kwargs)
            parsed = lib.loads(text, **self.loads_kwargs)
            return json_hook_apply(parsed, decoder) if decoder else parsed
        except SerializationError:
            raise
        except RecursionError:
            raise SerializationError("JSON payload is nested too deeply") from None
        except ValueError as exc:
            raise SerializationError(f"invalid JSON payload: {exc}") from None

    @staticmethod
    def _loads_orjson(lib, text: str, decoder):
        try:
            parsed = lib.loads(text)
        except lib.JSONDecodeError:
            # orjson rejects what stdlib json accepts (NaN, huge ints, lone surrogates); the
            # stdlib's reading is the reference, so fall back to it.
            return json.loads(text, object_hook=decoder)
        return json_hook_apply(parsed, decoder) if decoder else parsed


# ---------------------------------------------------------------------------------------
# compressed
# ---------------------------------------------------------------------------------------
@register_serializer
class CompressedSerializer(Serializer):
    """Another serializer's output, compressed, then base64 encoded.

    ``level`` only tunes speed (it is not part of the config: decompression needs none).
    With lzma and ``level=None`` the fast mode of ``CompressingWriter`` is used.
    """

    type = "compressed"
    default_inner: ClassVar[str] = "pickle"
    reads_in_chunks = True

    def __init__(
        self,
        serializer: str | dict | Serializer | None = None,
        compressionlib: str = "lzma",
        level: int | None = None,
    ):
        self.serializer = serializer_from(self.default_inner if serializer is None else serializer)
        if compressionlib not in COMPRESSION_LIBRARIES:
            raise SerializerConfigError(
                f"compressionlib {compressionlib!r} is not supported "
                f"(supported: {', '.join(COMPRESSION_LIBRARIES)})"
            )
        self.compressionlib = compressionlib
        if level is not None and not isinstance(level, int):
            raise SerializerConfigError(f"level must be an int or None, got {level!r}")
        self.level = level

    def to_config(self) -> dict:
        return {
            "type": self.type,
            "serializer": self.serializer.to_config(),
            "compressionlib": self.compressionlib,
        }

    def with_max_decoded_bytes(self, limit: int) -> Serializer:
        clone = copy.copy(self)
        clone.max_decoded_bytes = limit
        clone.serializer = self.serializer.with_max_decoded_bytes(limit)
        return clone

    def dumps(self, obj: Any) -> bytes:
        compressed = compress_bytes(
            self.serializer.dumps(obj), compressionlib=self.compressionlib, level=self.level
        )
        return base64.encodebytes(compressed)

    def dump_to(self, obj: Any, fp: BinaryIO) -> None:
        base64_writer = MimeBase64Writer(fp)
        compressor = CompressingWriter(base64_writer, compressionlib=self.compressionlib, level=self.level)
        self.serializer.dump_to(obj, compressor)
        compressor.finish()
        base64_writer.finish()

    def loads(self, blob: bytes) -> Any:
        compressed = b64decode_bounded(
            blob, limit=self.max_decoded_bytes, what=f"{self.compressionlib} payload"
        )
        inner = decompress_bounded(
            compressed, compressionlib=self.compressionlib, limit=self.max_decoded_bytes
        )
        return self.serializer.loads(inner)

    def load_from(self, fp: BinaryIO) -> Any:
        decoded = Base64DecodingReader(
            fp, limit=self.max_decoded_bytes, what=f"{self.compressionlib} payload"
        )
        inflated = DecompressingReader(
            decoded, compressionlib=self.compressionlib, limit=self.max_decoded_bytes
        )
        if not self.serializer.reads_in_chunks:
            inflated = io.BufferedReader(inflated, buffer_size=STREAM_CHUNK_BYTES)
        value = self.serializer.load_from(inflated)
        while inflated.read(STREAM_CHUNK_BYTES):
            pass  # check the rest of the stream (its end marker and checksum)
        return value


@register_serializer
class CompressedPickleSerializer(CompressedSerializer):
    type = "compressed/pickle"
    default_inner = "pickle"


@register_serializer
class CompressedJSONSerializer(CompressedSerializer):
    type = "compressed/json"
    default_inner = "json"


# ---------------------------------------------------------------------------------------
# lookup
# ---------------------------------------------------------------------------------------
def serializer_from(value: str | dict | Serializer | None) -> Serializer:
    """A serializer from an instance, a type name (``"pickle"``, ``"compressed/json"``, ...)
    or a config dict as stored in files. ``None`` means Prefect's default, pickle."""
    if value is None:
        return PickleSerializer()
    if isinstance(value, Serializer):
        return value
    if isinstance(value, str):
        cls = _SERIALIZER_TYPES.get(value)
        if cls is None:
            raise UnknownSerializerError(
                f"unknown serializer {value!r}; known: {', '.join(registered_serializer_types())}"
            )
        return cls()
    if isinstance(value, dict):
        type_name = value.get("type")
        if not isinstance(type_name, str):
            raise SerializerConfigError(f"serializer config has no 'type': {value!r}")
        cls = _SERIALIZER_TYPES.get(type_name)
        if cls is None:
            return UnknownSerializer(value)
        return cls.from_config(value)
    raise SerializerConfigError(f"cannot make a serializer from {type(value).__name__} {value!r}")


__all__ = [
    "JSON_LIBRARIES",
    "PREFECT_JSON_OBJECT_DECODER",
    "PREFECT_JSON_OBJECT_ENCODER",
    "CompressedJSONSerializer",
    "CompressedPickleSerializer",
    "CompressedSerializer",
    "JSONSerializer",
    "PickleSerializer",
    "Serializer",
    "UnknownSerializer",
    "allow_json_class",
    "allow_json_module",
    "json_class_resolve",
    "json_exception_resolve",
    "json_hook_apply",
    "json_object_decode",
    "json_object_encode",
    "register_json_object_hook",
    "register_serializer",
    "registered_serializer_types",
    "serializer_from",
]
