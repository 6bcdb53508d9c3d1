"""Serializers as Prefect has them: pydantic models dispatched by type, their bytes, the JSON hooks."""

from tests.compat.differential.case import Case

CASES = [
    Case(
        id="serializer-type-json-dispatches",
        code="""
from prefect.serializers import *
def case():
    s = Serializer(type="json")
    return {"class": type(s).__name__, "dump": s.model_dump()}
""",
    ),
    Case(
        id="serializer-type-pickle-dispatches",
        code="""
from prefect.serializers import *
def case():
    s = Serializer(type="pickle")
    return {"class": type(s).__name__, "dump": s.model_dump()}
""",
    ),
    Case(
        id="serializer-type-compressed-pickle-dispatches",
        code="""
from prefect.serializers import *
def case():
    s = Serializer(type="compressed/pickle")
    return {"class": type(s).__name__, "inner": type(s.serializer).__name__, "lib": s.compressionlib}
""",
    ),
    Case(
        id="serializer-type-compressed-json-dispatches",
        code="""
from prefect.serializers import *
def case():
    s = Serializer(type="compressed/json")
    return {"class": type(s).__name__, "inner": type(s.serializer).__name__}
""",
    ),
    Case(
        id="serializer-config-dict-dispatches",
        code="""
from prefect.serializers import *
def case():
    s = Serializer(**{"type": "compressed", "serializer": "json", "compressionlib": "zlib"})
    return {"class": type(s).__name__, "inner": type(s.serializer).__name__, "lib": s.compressionlib}
""",
    ),
    Case(
        id="serializer-nested-config-dict",
        code="""
from prefect.serializers import *
def case():
    inner = {"type": "pickle", "picklelib": "pickle", "picklelib_version": None}
    s = Serializer(**{"type": "compressed", "serializer": inner, "compressionlib": "bz2"})
    round_trip = s.loads(s.dumps([1, 2]))
    return {"inner": type(s.serializer).__name__, "picklelib": s.serializer.picklelib, "round": round_trip}
""",
    ),
    Case(
        id="serializer-unknown-type-is-a-validation-error",
        code="""
from prefect.serializers import *
def case():
    return raises(Serializer, type="no-such-serializer")
""",
    ),
    Case(
        id="serializer-base-without-type",
        code="""
from prefect.serializers import *
def case():
    s = Serializer()
    return {"type": s.type, "dumps": raises(s.dumps, 1), "loads": raises(s.loads, b"1")}
""",
    ),
    Case(
        id="pickle-extra-field-refused",
        code="""
from prefect.serializers import *
def case():
    return raises(PickleSerializer, pickle_lib="pickle")
""",
    ),
    Case(
        id="json-extra-field-refused",
        code="""
from prefect.serializers import *
def case():
    return raises(JSONSerializer, jsonlibrary="json")
""",
    ),
    Case(
        id="compressed-extra-field-refused",
        code="""
from prefect.serializers import *
def case():
    return raises(CompressedSerializer, serializer="json", compression="zlib")
""",
    ),
    Case(
        id="compressed-needs-a-serializer",
        code="""
from prefect.serializers import *
def case():
    return raises(CompressedSerializer)
""",
    ),
    Case(
        id="compressed-unknown-library-refused",
        code="""
from prefect.serializers import *
def case():
    return raises(CompressedSerializer, serializer="pickle", compressionlib="not_a_compression_module_xyz")
""",
    ),
    Case(
        id="compressed-unknown-inner-type-refused",
        code="""
from prefect.serializers import *
def case():
    return raises(CompressedSerializer, serializer="no-such-inner")
""",
    ),
    Case(
        id="json-dumps-kwargs-default-refused",
        code="""
from prefect.serializers import *
def case():
    return raises(JSONSerializer, dumps_kwargs={"default": "str"})
""",
    ),
    Case(
        id="json-loads-kwargs-object-hook-refused",
        code="""
from prefect.serializers import *
def case():
    return raises(JSONSerializer, loads_kwargs={"object_hook": "dict"})
""",
    ),
    Case(
        id="pickle-missing-picklelib-refused-when-built",
        code="""
from prefect.serializers import *
def case():
    return raises(PickleSerializer, picklelib="no_such_pickle_library_xyz")
""",
    ),
    Case(
        id="pickle-picklelib-without-dumps-refused-when-built",
        code="""
from prefect.serializers import *
def case():
    return raises(PickleSerializer, picklelib="math")
""",
    ),
    Case(
        id="pickle-picklelib-pickle",
        code="""
from prefect.serializers import *
import base64, pickle
def case():
    s = PickleSerializer(picklelib="pickle")
    blob = s.dumps({"a": [1, 2]})
    same = blob == base64.encodebytes(pickle.dumps({"a": [1, 2]}))
    return {"same": same, "round": s.loads(blob), "dump": s.model_dump()}
""",
    ),
    Case(
        id="pickle-picklelib-version-kept",
        code="""
from prefect.serializers import *
def case():
    s = PickleSerializer(picklelib_version="3.0")
    return s.model_dump()
""",
    ),
    Case(
        id="pickle-type-is-frozen",
        code="""
from prefect.serializers import *
def case():
    s = PickleSerializer()
    def change():
        s.type = "json"
    return raises(change)
""",
    ),
    Case(
        id="pickle-model-dump-json",
        code="""
from prefect.serializers import *
def case():
    return PickleSerializer().model_dump_json()
""",
    ),
    Case(
        id="json-model-dump-json",
        code="""
from prefect.serializers import *
def case():
    return JSONSerializer().model_dump_json()
""",
    ),
    Case(
        id="compressed-model-dump-plain-and-as-any",
        code="""
from prefect.serializers import *
def case():
    s = CompressedSerializer(serializer=JSONSerializer(jsonlib="json"), compressionlib="zlib")
    return {"plain": s.model_dump(), "as_any": s.model_dump(serialize_as_any=True)}
""",
    ),
    Case(
        id="compressed-pickle-defaults",
        code="""
from prefect.serializers import *
def case():
    s = CompressedPickleSerializer()
    return s.model_dump(serialize_as_any=True)
""",
    ),
    Case(
        id="compressed-json-bz2-round-trip",
        code="""
from prefect.serializers import *
def case():
    s = CompressedJSONSerializer(compressionlib="bz2")
    value = {"rows": [1, 2, 3], "name": "x"}
    return {"round": s.loads(s.dumps(value)), "lib": s.compressionlib}
""",
    ),
    Case(
        id="compressed-zlib-output-is-base64-of-zlib",
        code="""
from prefect.serializers import *
import base64, zlib
def case():
    inner = JSONSerializer()
    s = CompressedSerializer(serializer=inner, compressionlib="zlib")
    blob = s.dumps([1, "two"])
    return zlib.decompress(base64.decodebytes(blob)) == inner.dumps([1, "two"])
""",
    ),
    Case(
        id="serializer-model-validate-dispatches",
        code="""
from prefect.serializers import *
def case():
    s = Serializer.model_validate({"type": "json", "jsonlib": "json"})
    return type(s).__name__
""",
    ),
    Case(
        id="pickle-model-validate-round-trip",
        code="""
from prefect.serializers import *
def case():
    s = PickleSerializer(picklelib="pickle")
    again = PickleSerializer.model_validate(s.model_dump())
    return {"equal": again == s, "picklelib": again.picklelib}
""",
    ),
    Case(
        id="json-model-validate-json",
        code="""
from prefect.serializers import *
def case():
    s = JSONSerializer.model_validate_json('{"type": "json", "dumps_kwargs": {"sort_keys": true}}')
    return {"kwargs": s.dumps_kwargs, "text": s.dumps({"b": 1, "a": 2}).decode()}
""",
    ),
    Case(
        id="serializer-equality",
        code="""
from prefect.serializers import *
def case():
    return {
        "same": PickleSerializer() == Serializer(type="pickle"),
        "different_lib": JSONSerializer() == JSONSerializer(jsonlib="orjson"),
        "different_type": JSONSerializer() == PickleSerializer(),
    }
""",
    ),
    Case(
        id="serializer-model-copy-update",
        code="""
from prefect.serializers import *
def case():
    s = JSONSerializer().model_copy(update={"dumps_kwargs": {"indent": 2}})
    return s.dumps({"a": 1}).decode()
""",
    ),
    Case(
        id="serializer-as-pydantic-field-from-dict",
        code="""
from prefect.serializers import *
from pydantic import BaseModel
class Settings(BaseModel):
    serializer: Serializer
Settings.model_rebuild()
def case():
    m = Settings(serializer={"type": "json"})
    as_any = m.model_dump(serialize_as_any=True)
    return {"class": type(m.serializer).__name__, "dump": m.model_dump(), "as_any": as_any}
""",
    ),
    Case(
        id="serializer-as-pydantic-field-instance",
        code="""
from prefect.serializers import *
from pydantic import BaseModel
class Settings(BaseModel):
    serializer: Serializer
Settings.model_rebuild()
def case():
    m = Settings(serializer=CompressedJSONSerializer())
    return {"class": type(m.serializer).__name__, "json": m.model_dump_json()}
""",
    ),
    Case(
        id="serializer-as-pydantic-field-bad-type",
        code="""
from prefect.serializers import *
from pydantic import BaseModel
class Settings(BaseModel):
    serializer: Serializer
Settings.model_rebuild()
def case():
    return raises(Settings, serializer={"type": "no-such-type"})
""",
    ),
    Case(
        id="serializer-as-pydantic-field-string",
        code="""
from prefect.serializers import *
from pydantic import BaseModel
class Settings(BaseModel):
    serializer: Serializer
Settings.model_rebuild()
def case():
    return raises(lambda: type(Settings(serializer="json").serializer).__name__)
""",
    ),
    Case(
        id="serializer-as-optional-field-default",
        code="""
from prefect.serializers import *
from typing import Optional
from pydantic import BaseModel
class Settings(BaseModel):
    serializer: Optional[Serializer] = None
Settings.model_rebuild()
def case():
    chosen = Settings(serializer={"type": "pickle"}).serializer
    return {"none": Settings().model_dump(), "set": type(chosen).__name__}
""",
    ),
    Case(
        id="serializer-subclass-with-literal-registers",
        code="""
from prefect.serializers import *
from typing import Literal
class UpperSerializer(Serializer):
    type: Literal["upper-text"] = "upper-text"
    def dumps(self, obj):
        return obj.upper().encode()
    def loads(self, blob):
        return blob.decode()
UpperSerializer.model_rebuild()
def case():
    s = Serializer(type="upper-text")
    return {"class": type(s).__name__, "round": s.loads(s.dumps("abc")), "dump": s.model_dump()}
""",
    ),
    Case(
        id="serializer-subclass-with-field-default-registers",
        code="""
from prefect.serializers import *
from pydantic import Field
class ReverseSerializer(Serializer):
    type: str = Field(default="reverse-text", frozen=True)
    def dumps(self, obj):
        return obj[::-1].encode()
    def loads(self, blob):
        return blob.decode()[::-1]
def case():
    s = Serializer(**{"type": "reverse-text"})
    return {"class": type(s).__name__, "round": s.loads(s.dumps("abc"))}
""",
    ),
    Case(
        id="serializer-subclass-usable-inside-compressed",
        code="""
from prefect.serializers import *
from typing import Literal
class UpperSerializer2(Serializer):
    type: Literal["upper-text-2"] = "upper-text-2"
    def dumps(self, obj):
        return obj.upper().encode()
    def loads(self, blob):
        return blob.decode()
UpperSerializer2.model_rebuild()
def case():
    s = CompressedSerializer(serializer="upper-text-2", compressionlib="zlib")
    return {"inner": type(s.serializer).__name__, "round": s.loads(s.dumps("abc"))}
""",
    ),
    Case(
        id="json-default-encoding-of-standard-types",
        code="""
from prefect.serializers import *
import datetime, decimal, uuid
def case():
    when = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc)
    value = {"when": when, "id": uuid.UUID(int=7), "price": decimal.Decimal("1.50"), "tags": {"a"}}
    value |= {"raw": b"xy", "day": datetime.date(2024, 5, 1)}
    return JSONSerializer().dumps(value).decode()
""",
    ),
    Case(
        id="json-default-round-trip-of-standard-types",
        code="""
from prefect.serializers import *
import datetime, decimal, uuid
def case():
    when = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc)
    value = {"when": when, "id": uuid.UUID(int=7), "price": decimal.Decimal("1.50")}
    value |= {"tags": {"a"}, "raw": b"xy"}
    s = JSONSerializer()
    back = s.loads(s.dumps(value))
    return {key: [type(item).__name__, str(item)] for key, item in sorted(back.items())}
""",
    ),
    Case(
        id="json-exception-encoded",
        code="""
from prefect.serializers import *
def case():
    return JSONSerializer().dumps({"error": ValueError("bad value")}).decode()
""",
    ),
    Case(
        id="json-exception-round-trip",
        code="""
from prefect.serializers import *
def case():
    s = JSONSerializer()
    back = s.loads(s.dumps(KeyError("k")))
    return [type(back).__name__, list(back.args)]
""",
    ),
    Case(
        id="json-bad-exc-type-not-importable-raises",
        code="""
from prefect.serializers import *
def case():
    return raises(JSONSerializer().loads, b'{"__exc_type__": "no_such_module_xyz.Boom", "message": "m"}')
""",
    ),
    Case(
        id="json-bad-exc-type-not-an-exception-raises",
        code="""
from prefect.serializers import *
def case():
    return raises(JSONSerializer().loads, b'{"__exc_type__": "builtins.int", "message": "m"}')
""",
    ),
    Case(
        id="json-bad-exc-type-missing-attribute-raises",
        code="""
from prefect.serializers import *
def case():
    return raises(JSONSerializer().loads, b'{"__exc_type__": "builtins.NoSuchError", "message": "m"}')
""",
    ),
    Case(
        id="json-exc-type-imported-on-demand",
        code="""
from prefect.serializers import *
def case():
    blob = b'{"__exc_type__": "xml.etree.ElementTree.ParseError", "message": "m"}'
    return raises(lambda: type(JSONSerializer().loads(blob)).__name__)
""",
    ),
    Case(
        id="json-class-not-importable-stays-a-dict",
        code="""
from prefect.serializers import *
def case():
    return JSONSerializer().loads(b'{"__class__": "no_such_module_xyz.Thing", "data": {"a": 1}}')
""",
    ),
    Case(
        id="json-class-imported-on-demand",
        code="""
from prefect.serializers import *
def case():
    back = JSONSerializer().loads(b'{"__class__": "fractions.Fraction", "data": "3/4"}')
    return [type(back).__name__, str(back)]
""",
    ),
    Case(
        id="json-class-with-invalid-data-raises",
        code="""
from prefect.serializers import *
def case():
    return raises(JSONSerializer().loads, b'{"__class__": "uuid.UUID", "data": "not-a-uuid"}')
""",
    ),
    Case(
        id="json-pydantic-model-encoded",
        code="""
from prefect.serializers import *
from pydantic import BaseModel
class Point(BaseModel):
    x: int
    y: int
Point.model_rebuild()
def case():
    return JSONSerializer().dumps(Point(x=1, y=2)).decode().replace(__name__, "MODULE")
""",
    ),
    Case(
        id="json-generic-pydantic-model-encoded-by-origin",
        code="""
from prefect.serializers import *
from typing import Generic, TypeVar
from pydantic import BaseModel
T = TypeVar("T")
class Page(BaseModel, Generic[T]):
    items: list[T]
Page.model_rebuild()
def case():
    return JSONSerializer().dumps(Page[int](items=[1, 2])).decode().replace(__name__, "MODULE")
""",
    ),
    Case(
        id="json-dataclass-encoded",
        code="""
from prefect.serializers import *
import dataclasses, sys, types
sys.modules.setdefault(__name__, types.ModuleType(__name__))
@dataclasses.dataclass
class Pair:
    left: int
    right: str
def case():
    return JSONSerializer().dumps([Pair(1, "r")]).decode().replace(__name__, "MODULE")
""",
    ),
    Case(
        id="json-object-encoder-by-dotted-path",
        code="""
from prefect.serializers import *
def case():
    s = JSONSerializer(object_encoder="builtins.repr")
    return s.dumps({"a": {1, 2}}).decode()
""",
    ),
    Case(
        id="json-object-decoder-by-dotted-path",
        code="""
from prefect.serializers import *
def case():
    s = JSONSerializer(object_decoder="collections.OrderedDict")
    back = s.loads(b'{"b": {"c": 1}, "a": 2}')
    return [type(back).__name__, type(back["b"]).__name__, list(back)]
""",
    ),
    Case(
        id="json-object-decoder-of-the-case-module",
        code="""
from prefect.serializers import *
import sys, types
module = types.ModuleType("differential_hooks_xyz")
def tag(value):
    return {"tagged": value}
module.tag = tag
sys.modules["differential_hooks_xyz"] = module
def case():
    s = JSONSerializer(object_decoder="differential_hooks_xyz.tag")
    return s.loads(b'{"a": {"b": 1}}')
""",
    ),
    Case(
        id="json-object-encoder-none",
        code="""
from prefect.serializers import *
def case():
    s = JSONSerializer(object_encoder=None, object_decoder=None)
    return {"plain": s.loads(s.dumps({"a": [1]})), "dump": s.model_dump()}
""",
    ),
    Case(
        id="json-object-encoder-none-refuses-a-set",
        code="""
from prefect.serializers import *
def case():
    return raises(JSONSerializer(object_encoder=None).dumps, {1, 2})
""",
        differs="what the JSON library raises while encoding becomes a SerializationError naming the type",
        resultdeck={"raises": "SerializationError"},
    ),
    Case(
        id="json-invalid-payload",
        code="""
from prefect.serializers import *
def case():
    return raises(JSONSerializer().loads, b'{"a": ')
""",
        differs="invalid JSON is a SerializationError carrying the parser's message",
        resultdeck={"raises": "SerializationError"},
    ),
    Case(
        id="json-dumps-kwargs-sort-keys",
        code="""
from prefect.serializers import *
def case():
    return JSONSerializer(dumps_kwargs={"sort_keys": True}).dumps({"b": 1, "a": 2}).decode()
""",
    ),
    Case(
        id="json-loads-kwargs-parse-float",
        code="""
from prefect.serializers import *
def case():
    back = JSONSerializer(loads_kwargs={"parse_float": str}).loads(b'{"a": 1.5}')
    return back
""",
    ),
    Case(
        id="json-nan-round-trip",
        code="""
from prefect.serializers import *
import math
def case():
    s = JSONSerializer()
    blob = s.dumps([float("nan"), 1.0])
    return {"text": blob.decode(), "nan": math.isnan(s.loads(blob)[0])}
""",
    ),
    Case(
        id="pickle-round-trip-of-a-local-class",
        code="""
from prefect.serializers import *
class Local:
    def __init__(self, value):
        self.value = value
def case():
    s = PickleSerializer()
    return s.loads(s.dumps(Local(5))).value
""",
    ),
    Case(
        id="pickle-round-trip-lambda",
        code="""
from prefect.serializers import *
def case():
    s = PickleSerializer()
    return s.loads(s.dumps(lambda x: x * 3))(4)
""",
    ),
    Case(
        id="pickle-invalid-base64",
        code="""
from prefect.serializers import *
def case():
    return raises(PickleSerializer().loads, b"not base64 at all !!!")
""",
        differs="an undecodable payload is a SerializationError saying what is wrong",
        resultdeck={"raises": "SerializationError"},
    ),
    Case(
        id="unknown-serializer-refuses-to-encode",
        code="""
from prefect.serializers import *
def case():
    s = UnknownSerializer.model_construct(type="msgpack-x", level=3)
    return {"dump": s.model_dump(), "dumps": raises(s.dumps, 1)}
""",
        differs="an unregistered serializer type raises UnknownSerializerError, a SerializationError",
        resultdeck={"dump": {"type": "msgpack-x", "level": 3}, "dumps": {"raises": "UnknownSerializerError"}},
    ),
    Case(
        id="prefect-json-hooks-importable",
        code="""
from prefect.serializers import prefect_json_object_encoder, prefect_json_object_decoder
import json
def case():
    text = json.dumps({"s": {1}}, default=prefect_json_object_encoder)
    return {"text": text, "back": sorted(json.loads(text, object_hook=prefect_json_object_decoder)["s"])}
""",
    ),
]
