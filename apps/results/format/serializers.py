"""Serializers that read and write the same bytes as Prefect's ``prefect.serializers``.

Pure module: no Django. The serializers are pydantic models, as Prefect's are:
``Serializer(type="json")`` and ``Serializer(**config)`` build the serializer of that type, a
subclass whose ``type`` field has a default registers itself under it, extra fields are refused,
and the config written into files is ``model_dump`` of the serializer. Every serializer turns a
value into bytes (``dumps``) and back (``loads``).

Formats (identical to Prefect 2.x/3.x):

* ``pickle``: ``base64.encodebytes(<picklelib>.dumps(obj))`` (MIME base64, a newline every
  76 characters).
* ``json``: ``<jsonlib>.dumps(obj, default=<object encoder>)``; values JSON cannot hold become
  ``{"__class__": "<module.qualname>", "data": ...}`` and exceptions
  ``{"__exc_type__": "<module.qualname>", "message": ...}`` (see ``json_objects``).
* ``compressed``, ``compressed/pickle``, ``compressed/json``:
  ``base64.encodebytes(<compressionlib>.compress(<inner serializer output>))``.

Safety of decoding:

* base64 and decompression are bounded (``max_decoded_bytes``), so a small file cannot
  expand into gigabytes of memory (``DecodeLimitError``).
* What a config may name (hooks, JSON and pickle libraries) and what JSON objects are rebuilt
  follow the process's ``decode_trust()`` (see ``trust``).
* Unpickling runs arbitrary code by design. It happens in workers and in the sandboxed
  decode process, never for stored bytes in the web process.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import pickle
import re
from collections.abc import Iterator
from typing import Any, BinaryIO, ClassVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

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
from .json_objects import (
    PREFECT_JSON_OBJECT_DECODER,
    PREFECT_JSON_OBJECT_ENCODER,
    json_hook_apply,
    json_hook_resolve,
    qualified_name_import,
)
from .trust import DecodeTrust, decode_trust

JSON_LIBRARIES = {"json", "orjson", "simplejson", "ujson"}


# ---------------------------------------------------------------------------------------
# registry and base class
# ---------------------------------------------------------------------------------------
_SERIALIZER_TYPES: dict[str, type[Serializer]] = {}


def _type_default(cls: type[Serializer]) -> str | None:
    field = cls.model_fields.get("type")
    default = None if field is None else field.default
    return default if isinstance(default, str) and default else None


def register_serializer(cls: type[Serializer]) -> type[Serializer]:
    """Make ``cls`` loadable from configs whose ``type`` is its ``type`` default.

    Subclasses register themselves when defined; this is for registering one again after
    another took its type.
    """
    type_name = _type_default(cls)
    if type_name is None:
        raise SerializerConfigError(f"{cls.__name__} needs a 'type' field with a default to be registered")
    _SERIALIZER_TYPES[type_name] = cls
    return cls


def registered_serializer_types() -> list[str]:
    return sorted(_SERIALIZER_TYPES)


def _type_lookup(type_name: Any) -> type[Serializer]:
    cls = _SERIALIZER_TYPES.get(type_name) if isinstance(type_name, str) else None
    if cls is None:
        raise ValidationError.from_exception_data(
            title="Serializer",
            line_errors=[
                {
                    "type": "value_error",
                    "loc": ("type",),
                    "input": type_name,
                    "ctx": {"error": f"No class found for dispatch key {type_name!r}"},
                }
            ],
            input_type="python",
        )
    return cls


class Serializer(BaseModel):
    """Turns values into bytes and back; its ``model_dump`` is what files record about it."""

    model_config = ConfigDict(extra="forbid")

    type: str

    # True when ``load_from`` only calls ``read(size)`` on its file and copes with short reads,
    # so a caller may hand it a raw reader (chunks passed on uncopied) instead of a buffered one.
    reads_in_chunks: ClassVar[bool] = False
    _max_decoded_bytes: int = PrivateAttr(default=DEFAULT_MAX_DECODED_BYTES)
    # The config's JSON, made once: every record written carries it.
    _config_json: bytes | None = PrivateAttr(default=None)

    def __new__(cls, **kwargs: Any) -> Serializer:
        type_name = kwargs.get("type")
        if type_name:
            return super().__new__(_type_lookup(type_name))
        return super().__new__(cls)

    def __init__(self, **data: Any) -> None:
        data.setdefault("type", _type_default(type(self)) or "__base__")
        super().__init__(**data)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        type_name = _type_default(cls)
        if type_name is not None:
            _SERIALIZER_TYPES[type_name] = cls

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if not name.startswith("_"):
            self.__pydantic_private__["_config_json"] = None

    def dumps(self, obj: Any) -> bytes:
        raise NotImplementedError

    def loads(self, blob: bytes) -> Any:
        raise NotImplementedError

    @property
    def max_decoded_bytes(self) -> int:
        return self.__pydantic_private__["_max_decoded_bytes"]

    def to_config(self) -> dict:
        """The JSON object files record about this serializer."""
        return self.model_dump(mode="json", serialize_as_any=True)

    def config_json(self) -> bytes:
        """``to_config()`` as compact JSON, as Prefect writes it into record metadata."""
        # Read through __pydantic_private__: the attribute path costs microseconds on every record.
        private = self.__pydantic_private__
        config = private["_config_json"]
        if config is None:
            config = private["_config_json"] = self.model_dump_json(serialize_as_any=True).encode()
        return config

    @classmethod
    def from_config(cls, config: dict) -> Serializer:
        try:
            return cls.model_validate(config)
        except ValidationError as exc:
            raise SerializerConfigError(
                f"invalid config for serializer {config.get('type')!r}: {exc}"
            ) from None

    def dump_to(self, obj: Any, fp: BinaryIO) -> None:
        """Write exactly ``dumps(obj)`` to a binary file-like."""
        fp.write(self.dumps(obj))

    def load_from(self, fp: BinaryIO) -> Any:
        """Read this serializer's output from a binary file-like and return the value."""
        return self.loads(read_bounded(fp, limit=self.max_decoded_bytes * 2, what=f"{self.type} payload"))

    def with_max_decoded_bytes(self, limit: int) -> Serializer:
        """A copy that refuses to decode more than ``limit`` bytes."""
        clone = self.model_copy()
        clone._max_decoded_bytes = limit
        return clone

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Serializer):
            return NotImplemented
        return type(self) is type(other) and self.to_config() == other.to_config()

    def __hash__(self) -> int:
        return hash(self.config_json())


class UnknownSerializer(Serializer):
    """A config whose ``type`` nobody registered: kept verbatim, cannot encode or decode.

    Built with ``UnknownSerializer.model_construct(**config)``, as Prefect builds its own.
    """

    model_config = ConfigDict(extra="allow")

    type: str

    def _refuse(self):
        raise UnknownSerializerError(
            f"unknown serializer type {self.type!r}; register it with register_serializer"
        )

    def dumps(self, obj: Any) -> bytes:
        self._refuse()

    def loads(self, blob: bytes) -> Any:
        self._refuse()

    def to_config(self) -> dict:
        return self.model_dump(mode="json")

    def config_json(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_config(cls, config: dict) -> Serializer:
        return cls.model_construct(**config)


_DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def _check_dotted_name(value: Any, *, field: str) -> str:
    if not isinstance(value, str) or not _DOTTED_NAME.fullmatch(value):
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


class PickleSerializer(Serializer):
    """Pickles with ``picklelib`` (cloudpickle by default), wrapped in base64."""

    type: str = Field(default="pickle", frozen=True)
    picklelib: str = "cloudpickle"
    picklelib_version: str | None = None

    reads_in_chunks: ClassVar[bool] = True

    @field_validator("picklelib")
    @classmethod
    def _picklelib_check(cls, value: str) -> str:
        _check_dotted_name(value, field="picklelib")
        if decode_trust() is DecodeTrust.CODE:
            # As in Prefect, a library that cannot pickle is refused when the serializer is built.
            try:
                pickle_library(value)
            except SerializationError as exc:
                raise ValueError(str(exc)) from None
        return value

    def _library(self):
        return pickle_library(self.picklelib)

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


def pickle_library(name: str) -> Any:
    """The pickle library ``name`` names, imported once and checked for dumps/loads."""
    lib = _PICKLE_LIBRARIES.get(name)
    if lib is not None:
        return lib
    try:
        lib = qualified_name_import(name)
    except (ImportError, AttributeError):
        raise MissingObjectError(f"Failed to import requested pickle library: {name!r}.") from None
    if not (callable(getattr(lib, "dumps", None)) and callable(getattr(lib, "loads", None))):
        raise SerializerConfigError(f"Pickle library at {name!r} does not have 'dumps' and 'loads' methods.")
    _PICKLE_LIBRARIES[name] = lib
    return lib


# ---------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------
class _HookFailure(Exception):
    """Carries what an object hook raised past the handler that reports invalid JSON."""

    def __init__(self, error: BaseException):
        super().__init__(error)
        self.error = error


def _hook_guarded(decoder):
    def guarded(value: dict) -> Any:
        try:
            return decoder(value)
        except Exception as exc:
            raise _HookFailure(exc) from exc

    return guarded


class JSONSerializer(Serializer):
    """JSON through ``jsonlib``, with Prefect's object hooks by default."""

    type: str = Field(default="json", frozen=True)
    jsonlib: str = "json"
    object_encoder: str | None = PREFECT_JSON_OBJECT_ENCODER
    object_decoder: str | None = PREFECT_JSON_OBJECT_DECODER
    dumps_kwargs: dict[str, Any] = Field(default_factory=dict)
    loads_kwargs: dict[str, Any] = Field(default_factory=dict)

    @field_validator("jsonlib")
    @classmethod
    def _jsonlib_check(cls, value: str) -> str:
        return _check_dotted_name(value, field="jsonlib")

    @field_validator("object_encoder", "object_decoder")
    @classmethod
    def _hook_check(cls, value: str | None) -> str | None:
        return value if value is None else _check_dotted_name(value, field="object hook")

    @field_validator("dumps_kwargs")
    @classmethod
    def _dumps_kwargs_check(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "default" in value:
            raise ValueError("`default` cannot be provided. Use `object_encoder` instead.")
        return value

    @field_validator("loads_kwargs")
    @classmethod
    def _loads_kwargs_check(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "object_hook" in value:
            raise ValueError("`object_hook` cannot be provided. Use `object_decoder` instead.")
        return value

    def _library(self):
        if self.jsonlib not in JSON_LIBRARIES and decode_trust() is not DecodeTrust.CODE:
            raise SerializerConfigError(
                f"jsonlib {self.jsonlib!r} is not an allowed JSON library (allowed: {sorted(JSON_LIBRARIES)})"
            )
        try:
            return qualified_name_import(self.jsonlib)
        except (ImportError, AttributeError):
            raise MissingObjectError(f"jsonlib {self.jsonlib!r} is not installed") from None

    def dumps(self, obj: Any) -> bytes:
        lib = self._library()
        kwargs = dict(self.dumps_kwargs)
        encoder = json_hook_resolve(self.object_encoder, kind="encoder")
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
        decoder = json_hook_resolve(self.object_decoder, kind="decoder")
        lib = self._library()
        try:
            text = bytes(blob).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SerializationError(f"JSON payload is not valid UTF-8: {exc}") from None
        guarded = None if decoder is None else _hook_guarded(decoder)
        try:
            if self.jsonlib == "orjson" and not self.loads_kwargs:
                return self._loads_orjson(lib, text, guarded)
            if self.jsonlib in ("json", "orjson", "simplejson"):
                return json.loads(text, object_hook=guarded, **self.loads_kwargs)
            parsed = lib.loads(text, **self.loads_kwargs)
            return json_hook_apply(parsed, guarded) if guarded else parsed
        except _HookFailure as failure:
            # What the object hook raised is the caller's to see, as in Prefect.
            raise failure.error from None
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
def _serializer_cast(value: Any) -> Any:
    # Prefect casts type names; a config dict is dispatched by its type the same way.
    if isinstance(value, str):
        return Serializer(type=value)
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        return Serializer(**value)
    return value


class CompressedSerializer(Serializer):
    """Another serializer's output, compressed, then base64 encoded.

    ``level`` only tunes speed (it is not part of the config: decompression needs none).
    With lzma and ``level=None`` the fast mode of ``CompressingWriter`` is used.
    """

    type: str = Field(default="compressed", frozen=True)
    serializer: Serializer
    compressionlib: str = "lzma"
    level: int | None = Field(default=None, exclude=True, repr=False)

    reads_in_chunks: ClassVar[bool] = True

    @field_validator("serializer", mode="before")
    @classmethod
    def _serializer_cast(cls, value: Any) -> Any:
        return _serializer_cast(value)

    @field_validator("compressionlib")
    @classmethod
    def _compressionlib_check(cls, value: str) -> str:
        if value not in COMPRESSION_LIBRARIES:
            raise ValueError(
                f"compressionlib {value!r} is not supported (supported: {', '.join(COMPRESSION_LIBRARIES)})"
            )
        return value

    def config_json(self) -> bytes:
        # Not kept: the inner serializer may change behind this one's back.
        return self.model_dump_json(serialize_as_any=True).encode()

    def with_max_decoded_bytes(self, limit: int) -> Serializer:
        clone = super().with_max_decoded_bytes(limit)
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


class CompressedPickleSerializer(CompressedSerializer):
    type: str = Field(default="compressed/pickle", frozen=True)
    serializer: Serializer = Field(default_factory=PickleSerializer)


class CompressedJSONSerializer(CompressedSerializer):
    type: str = Field(default="compressed/json", frozen=True)
    serializer: Serializer = Field(default_factory=JSONSerializer)


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
            return UnknownSerializer.from_config(value)
        return cls.from_config(value)
    raise SerializerConfigError(f"cannot make a serializer from {type(value).__name__} {value!r}")


__all__ = [
    "JSON_LIBRARIES",
    "CompressedJSONSerializer",
    "CompressedPickleSerializer",
    "CompressedSerializer",
    "JSONSerializer",
    "PickleSerializer",
    "Serializer",
    "UnknownSerializer",
    "pickle_library",
    "register_serializer",
    "registered_serializer_types",
    "serializer_from",
]
