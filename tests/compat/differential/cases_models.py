"""Result records, the result store and storage blocks as Prefect's pydantic models."""

from tests.compat.differential.case import Case

META = """\
from prefect.results import ResultRecordMetadata, ResultRecord
from prefect.serializers import JSONSerializer, PickleSerializer
"""

STORE = """\
from prefect.results import ResultStore
from prefect.filesystems import LocalFileSystem
from prefect.serializers import JSONSerializer, PickleSerializer
"""

BLOCK = """\
from prefect.filesystems import LocalFileSystem, RemoteFileSystem
"""

CASES = [
    Case(
        id="metadata-defaults",
        code=META
        + """
def case():
    m = ResultRecordMetadata()
    found = {"key": m.storage_key, "expiration": m.expiration, "block": m.storage_block_id}
    return found | {"serializer": type(m.serializer).__name__, "fields": sorted(m.model_dump())}
""",
    ),
    Case(
        id="metadata-validate-dispatches-serializer",
        code=META
        + """
def case():
    m = ResultRecordMetadata.model_validate({"storage_key": "k", "serializer": {"type": "json"}})
    return [type(m.serializer).__name__, m.storage_key]
""",
    ),
    Case(
        id="metadata-unknown-serializer-tolerated",
        code=META
        + """
def case():
    m = ResultRecordMetadata.model_validate({"serializer": {"type": "my-msgpack", "level": 3}})
    return [type(m.serializer).__name__, m.serializer.type]
""",
    ),
    Case(
        id="metadata-invalid-storage-key",
        code=META
        + """
def case():
    return raises(ResultRecordMetadata, storage_key=["not", "a", "string"])
""",
    ),
    Case(
        id="metadata-invalid-expiration",
        code=META
        + """
def case():
    return raises(ResultRecordMetadata, expiration="not a date")
""",
    ),
    Case(
        id="metadata-expiration-from-text",
        code=META
        + """
def case():
    m = ResultRecordMetadata(expiration="2030-01-02T03:04:05Z")
    return [m.expiration.isoformat(), m.model_dump_json()[:60]]
""",
    ),
    Case(
        id="metadata-dump-bytes",
        code=META
        + """
import datetime, json, uuid
def case():
    when = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    m = ResultRecordMetadata(storage_key="/x/y", serializer=JSONSerializer(), expiration=when)
    m.storage_block_id = uuid.UUID(int=5)
    data = json.loads(m.dump_bytes())
    data.pop("prefect_version")
    return data
""",
    ),
    Case(
        id="metadata-dump-bytes-key-order",
        code=META
        + """
import json
def case():
    return list(json.loads(ResultRecordMetadata(storage_key="k").dump_bytes()))
""",
    ),
    Case(
        id="metadata-load-bytes-round-trip",
        code=META
        + """
def case():
    m = ResultRecordMetadata(storage_key="k", serializer=PickleSerializer(picklelib="pickle"))
    again = ResultRecordMetadata.load_bytes(m.dump_bytes())
    return [again == m, type(again.serializer).__name__, again.serializer.picklelib]
""",
    ),
    Case(
        id="metadata-model-dump-serializer-as-any",
        code=META
        + """
def case():
    m = ResultRecordMetadata(storage_key="k", serializer=JSONSerializer())
    return [m.model_dump()["serializer"], m.model_dump(serialize_as_any=True)["serializer"]["jsonlib"]]
""",
    ),
    Case(
        id="metadata-block-id-must-be-a-uuid",
        code=META
        + """
def case():
    made = lambda: ResultRecordMetadata(storage_block_id="not-a-uuid")  # noqa: E731
    return raises(lambda: str(made().storage_block_id))
""",
        differs="another writer's storage_block_id that is not a UUID is kept as text, not refused",
        resultdeck={"value": "not-a-uuid"},
    ),
    Case(
        id="record-model-dump",
        code=META
        + """
def case():
    metadata = ResultRecordMetadata(storage_key="k", serializer=JSONSerializer())
    r = ResultRecord(metadata=metadata, result=[1, 2])
    data = r.model_dump()
    data["metadata"].pop("prefect_version")
    return data
""",
    ),
    Case(
        id="record-metadata-from-dict",
        code=META
        + """
def case():
    r = ResultRecord(metadata={"storage_key": "k", "serializer": {"type": "json"}}, result={"a": 1})
    return [type(r.metadata).__name__, type(r.serializer).__name__, r.result]
""",
    ),
    Case(
        id="record-needs-metadata",
        code=META
        + """
def case():
    return raises(ResultRecord, result=1)
""",
    ),
    Case(
        id="record-serialize-deserialize",
        code=META
        + """
import json
def case():
    metadata = ResultRecordMetadata(storage_key="k", serializer=JSONSerializer())
    r = ResultRecord(metadata=metadata, result={"a": [1]})
    blob = r.serialize()
    document = json.loads(blob)
    back = ResultRecord.deserialize(blob)
    return [sorted(document), document["result"], back.result, back.metadata.storage_key]
""",
    ),
    Case(
        id="record-serialize-pickle-round-trip",
        code=META
        + """
def case():
    r = ResultRecord(metadata=ResultRecordMetadata(storage_key="k"), result={"when": 1})
    return ResultRecord.deserialize(r.serialize()).result
""",
    ),
    Case(
        id="record-serialize-metadata",
        code=META
        + """
import json
def case():
    r = ResultRecord(metadata=ResultRecordMetadata(storage_key="k"), result=1)
    return json.loads(r.serialize_metadata())["storage_key"]
""",
    ),
    Case(
        id="record-deserialize-raw-payload-with-backup",
        code=META
        + """
def case():
    s = JSONSerializer()
    back = ResultRecord.deserialize(s.dumps({"raw": True}), backup_serializer=s)
    return [back.result, type(back.serializer).__name__]
""",
    ),
    Case(
        id="record-deserialize-from-result-and-metadata",
        code=META
        + """
def case():
    metadata = ResultRecordMetadata(storage_key="k", serializer=JSONSerializer())
    payload = JSONSerializer().dumps([3])
    back = ResultRecord.deserialize_from_result_and_metadata(payload, metadata.dump_bytes())
    return [back.result, back.metadata.storage_key]
""",
    ),
    Case(
        id="record-validate-prefect2-blob",
        code=META
        + """
def case():
    blob = {"serializer": {"type": "json"}, "data": "[1, 2]", "prefect_version": "2.20.0"}
    r = ResultRecord.model_validate(blob)
    return [type(r.serializer).__name__, r.result, r.metadata.prefect_version]
""",
    ),
    Case(
        id="record-deserialize-prefect2-blob",
        code=META
        + """
import json
def case():
    blob = {"serializer": {"type": "json"}, "data": "[1, 2]", "prefect_version": "2.20.0"}
    blob = json.dumps(blob).encode()
    return ResultRecord.deserialize(blob).result
""",
    ),
    Case(
        id="record-model-validate-json-keeps-result-text",
        code=META
        + """
def case():
    metadata = ResultRecordMetadata(storage_key="k", serializer=JSONSerializer())
    r = ResultRecord(metadata=metadata, result=[1])
    again = ResultRecord.model_validate_json(r.serialize())
    return [again.result, type(again.serializer).__name__]
""",
    ),
    Case(
        id="record-as-pydantic-field",
        code=META
        + """
from pydantic import BaseModel
class Holder(BaseModel):
    record: ResultRecord
Holder.model_rebuild()
def case():
    h = Holder(record={"metadata": {"storage_key": "k", "serializer": {"type": "json"}}, "result": 5})
    return [type(h.record.serializer).__name__, h.record.result]
""",
    ),
    Case(
        id="record-properties",
        code=META
        + """
import datetime
def case():
    when = datetime.datetime(2031, 1, 1, tzinfo=datetime.timezone.utc)
    r = ResultRecord(metadata=ResultRecordMetadata(storage_key="k", expiration=when), result=1)
    return [r.expiration.year, r.serializer.type]
""",
    ),
    Case(
        id="store-write-read-exists",
        code=STORE
        + """
def case():
    store = ResultStore(result_storage=LocalFileSystem(basepath=STORAGE_PATH), serializer=JSONSerializer())
    store.write({"a": 1}, key="first")
    found = [store.exists("first"), store.exists("missing")]
    return [store.read("first").result, found, type(store.serializer).__name__]
""",
    ),
    Case(
        id="store-shorthand-serializers",
        code=STORE
        + """
def case():
    names = ("pickle", "json", "compressed/pickle", "compressed/json")
    return raises(lambda: [type(ResultStore(serializer=name).serializer).__name__ for name in names])
""",
        differs="the store takes the shorthand serializer names, as result_serializer= does",
        resultdeck={
            "value": [
                "PickleSerializer",
                "JSONSerializer",
                "CompressedPickleSerializer",
                "CompressedJSONSerializer",
            ]
        },
    ),
    Case(
        id="store-serializer-instance",
        code=STORE
        + """
from prefect.serializers import CompressedSerializer
def case():
    serializer = CompressedSerializer(serializer="json", compressionlib="zlib")
    store = ResultStore(result_storage=LocalFileSystem(basepath=STORAGE_PATH), serializer=serializer)
    store.write([1, 2, 3], key="compressed")
    return store.read("compressed").result
""",
    ),
    Case(
        id="store-create-and-persist-record",
        code=STORE
        + """
def case():
    store = ResultStore(result_storage=LocalFileSystem(basepath=STORAGE_PATH), serializer=JSONSerializer())
    record = store.create_result_record({"b": 2}, key="made")
    before = store.exists("made")
    store.persist_result_record(record)
    after = store.exists("made")
    return [before, after, store.read("made").result, record.metadata.storage_key.endswith("made")]
""",
    ),
    Case(
        id="store-expired-record-does-not-exist",
        code=STORE
        + """
import datetime
def case():
    store = ResultStore(result_storage=LocalFileSystem(basepath=STORAGE_PATH), serializer=JSONSerializer())
    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    store.write(1, key="old", expiration=past)
    return store.exists("old")
""",
    ),
    Case(
        id="store-async-write-read-exists",
        code=STORE
        + """
async def case():
    store = ResultStore(result_storage=LocalFileSystem(basepath=STORAGE_PATH), serializer=JSONSerializer())
    await store.awrite({"async": True}, key="a1")
    record = await store.aread("a1")
    return [record.result, await store.aexists("a1"), await store.aexists("nope")]
""",
    ),
    Case(
        id="store-async-persist-record",
        code=STORE
        + """
async def case():
    store = ResultStore(result_storage=LocalFileSystem(basepath=STORAGE_PATH), serializer=PickleSerializer())
    record = store.create_result_record([9], key="a2")
    await store.apersist_result_record(record)
    return (await store.aread("a2")).result
""",
    ),
    Case(
        id="store-read-missing-raises",
        code=STORE
        + """
def case():
    store = ResultStore(result_storage=LocalFileSystem(basepath=STORAGE_PATH), serializer=JSONSerializer())
    return raises(store.read, "never-written")
""",
        differs="a missing record is ResultNotFoundError (a LookupError naming the key and storage)",
        resultdeck={"raises": "ResultNotFoundError"},
    ),
    Case(
        id="block-type-slugs",
        code=BLOCK
        + """
def case():
    return [LocalFileSystem.get_block_type_slug(), RemoteFileSystem.get_block_type_slug()]
""",
    ),
    Case(
        id="local-block-model-dump",
        code=BLOCK
        + """
def case():
    return LocalFileSystem(basepath="/srv/results").model_dump()
""",
    ),
    Case(
        id="local-block-pathlib-basepath",
        code=BLOCK
        + """
import pathlib
def case():
    return LocalFileSystem(basepath=pathlib.Path("/srv/results")).basepath
""",
    ),
    Case(
        id="local-block-model-validate-round-trip",
        code=BLOCK
        + """
def case():
    block = LocalFileSystem(basepath="/srv/results")
    again = LocalFileSystem.model_validate(block.model_dump())
    return [type(again).__name__, again.basepath]
""",
    ),
    Case(
        id="local-block-model-dump-json",
        code=BLOCK
        + """
import json
def case():
    return json.loads(LocalFileSystem(basepath="/srv/results").model_dump_json())
""",
    ),
    Case(
        id="local-block-extra-field",
        code=BLOCK
        + """
def case():
    return raises(lambda: LocalFileSystem(basepath="/srv/results", basepaht="typo").basepath)
""",
        differs="an unknown setting (a typo) is refused instead of kept as an extra field",
        resultdeck={"raises": "ValidationError"},
    ),
    Case(
        id="local-block-invalid-basepath-type",
        code=BLOCK
        + """
def case():
    return raises(LocalFileSystem, basepath=["not", "a", "path"])
""",
        differs="a basepath that is not a path is a ValidationError",
        resultdeck={"raises": "ValidationError"},
    ),
    Case(
        id="local-block-write-read",
        code=BLOCK
        + """
def case():
    block = LocalFileSystem(basepath=STORAGE_PATH)
    block.write_path("dir/file.bin", b"bytes")
    return block.read_path("dir/file.bin").decode()
""",
    ),
    Case(
        id="remote-block-model-dump",
        code=BLOCK
        + """
def case():
    return RemoteFileSystem(basepath="memory://models-dump/base", settings={}).model_dump()
""",
    ),
    Case(
        id="remote-block-settings-field",
        code=BLOCK
        + """
def case():
    block = RemoteFileSystem(basepath="memory://models-settings/base", settings={"skip_instance_cache": True})
    return block.settings
""",
    ),
    Case(
        id="remote-block-needs-basepath",
        code=BLOCK
        + """
def case():
    return raises(RemoteFileSystem)
""",
    ),
    Case(
        id="remote-block-write-read",
        code=BLOCK
        + """
def case():
    block = RemoteFileSystem(basepath="memory://models-rw/base")
    block.write_path("k/v", b"remote")
    return block.read_path("k/v").decode()
""",
    ),
    Case(
        id="block-as-pydantic-field",
        code=BLOCK
        + """
from pydantic import BaseModel
class Config(BaseModel):
    storage: LocalFileSystem
Config.model_rebuild()
def case():
    c = Config(storage={"basepath": "/srv/x"})
    return [type(c.storage).__name__, c.storage.basepath]
""",
    ),
    Case(
        id="flow-result-serializer-shorthand-compressed-json",
        code="""
from prefect import flow, task
from prefect.filesystems import LocalFileSystem

LocalFileSystem(basepath=STORAGE_PATH).save("models-cj", overwrite=True)

@task(persist_result=True, result_storage="local-file-system/models-cj", result_serializer="compressed/json")
def make():
    return {"rows": [1, 2]}

@flow
def pipeline():
    return make()

def case():
    return raises(pipeline)
""",
    ),
    Case(
        id="flow-result-serializer-instance",
        code="""
from prefect import flow, task
from prefect.filesystems import LocalFileSystem
from prefect.serializers import JSONSerializer

LocalFileSystem(basepath=STORAGE_PATH).save("models-js", overwrite=True)

@task(persist_result=True, result_storage="local-file-system/models-js",
      result_serializer=JSONSerializer(dumps_kwargs={"sort_keys": True}))
def make():
    return {"b": 1, "a": 2}

@flow
def pipeline():
    return make()

def case():
    return raises(pipeline)
""",
    ),
]
