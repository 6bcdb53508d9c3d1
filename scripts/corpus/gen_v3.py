"""Write the Prefect 3 part of the corpus with real Prefect 3.9.1 (run inside its venv).

    PYTHONPATH=ROOT PREFECT_HOME=... PREFECT_LOCAL_STORAGE_PATH=ROOT/v3-default-storage \
        python gen_v3.py --root ROOT

ROOT is the corpus folder being made; it already holds ``corpus_types.py`` and ``verify.py``
(whose ``canon`` gives the manifest's canonical values), hence PYTHONPATH.

Writes ROOT/v3, ROOT/v3-block and ROOT/v3-default-storage by running tasks and flows (and
``ResultStore.write``), reads every file back with Prefect's own ``ResultStore``, and writes the
manifest lines to ROOT/manifest-v3.jsonl and the refused writes to ROOT/unwritable-v3.jsonl.
It also reads the 2.x files (ROOT/manifest-v2.jsonl, when present) with Prefect 3 and adds
``prefect3_load`` / ``prefect3_matches_expected`` to them. No PREFECT_API_URL: Prefect starts its
temporary local server.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import prefect
from cases import (
    COMPLETED_STATE_NOTE,
    FLOW_RAW_NOTE,
    cached_task_options,
    error_text,
    file_describe,
    files_under,
    flow_result_options,
    json_fallback_decode,
    jsonl_write,
    manifest_entry,
    new_files,
    serializer_build,
    task_cases,
    task_return,
    unwritable_entry,
    value_build,
)
from prefect import flow, serializers, task
from prefect.filesystems import LocalFileSystem
from prefect.results import ResultStore
from prefect.serializers import prefect_json_object_decoder
from prefect.states import Completed
from verify import canon

FOLDERS = ("v3", "v3-block", "v3-default-storage")
BLOCK_NAME = "resultdeck-corpus"
DIRECT_CASES = (("pickle", "nested"), ("json", "pydantic"), ("compressed-pickle", "dataframe"))
SPLIT_CASES = (("pickle", "nested"), ("json", "pydantic"))
BLOCK_CASES = (("pickle", "int"), ("json", "pydantic"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="the corpus folder being written")
    parser.add_argument(
        "--split-metadata",
        action="store_true",
        help="also write ResultStore.write with a metadata_storage (v3/split/results and v3/split/metadata)",
    )
    arguments = parser.parse_args()
    root = arguments.root.resolve()
    for folder in FOLDERS:
        shutil.rmtree(root / folder, ignore_errors=True)
    if Path(os.environ.get("PREFECT_LOCAL_STORAGE_PATH", "")) != root / "v3-default-storage":
        raise SystemExit("PREFECT_LOCAL_STORAGE_PATH must be ROOT/v3-default-storage")

    generator = Generator(root=root, version=prefect.__version__)
    generator.tasks_run()
    generator.store_writes(split=False)
    if arguments.split_metadata:
        generator.store_writes(split=True)
    generator.flows_run()
    generator.saved_block_run()
    generator.default_storage_run()
    entries = sorted(generator.entries, key=lambda entry: entry["path"])
    jsonl_write(root / "manifest-v3.jsonl", entries)
    jsonl_write(root / "unwritable-v3.jsonl", generator.unwritable)
    v2_manifest = root / "manifest-v2.jsonl"
    if v2_manifest.exists():
        rows = [json.loads(line) for line in v2_manifest.read_text().splitlines() if line.strip()]
        jsonl_write(v2_manifest, [generator.v2_entry_crosscheck(entry) for entry in rows])
    print(f"prefect {generator.version}: {len(entries)} files, {len(generator.unwritable)} refused")


class Generator:
    def __init__(self, *, root: Path, version: str) -> None:
        self.root, self.version, self.serializers = root, version, serializers
        self.entries: list[dict] = []
        self.unwritable: list[dict] = []

    # -- reading back ----------------------------------------------------------------------------

    def store(
        self, *, basepath: Path | None = None, block=None, metadata: Path | None = None, serializer=None
    ):
        options = {"cache_result_in_memory": False}
        if metadata is not None:
            options["metadata_storage"] = LocalFileSystem(basepath=str(metadata))
        if serializer is not None:
            options["serializer"] = serializer
        storage = block if block is not None else LocalFileSystem(basepath=str(basepath))
        return ResultStore(result_storage=storage, **options)

    def read_back(
        self, *, store, key: str, path: str, metadata_path: str | None = None
    ) -> tuple[dict, bool | None]:
        """({"value": ...} or the error and a fallback decoding, exists()) as Prefect 3 reads the file."""
        try:
            exists = store.exists(key)
        except Exception:  # the manifest records that exists() itself failed
            exists = None
        try:
            return {"value": store.read(key).result}, exists
        except Exception as exc:  # what Prefect raised is the finding
            described = file_describe(root=self.root, path=path, metadata_path=metadata_path)
            expected = json_fallback_decode(
                described["serializer"], described["payload"], object_hook=prefect_json_object_decoder
            )
            return {
                "error": error_text(exc),
                "expected": canon(expected),
                "expected_source": "stdlib json + prefect_json_object_decoder (Prefect's own loader fails)",
            }, exists

    def entry_add(self, *, path: Path, store, key: str, metadata_path: Path | None = None, **fields) -> None:
        relative = str(path.relative_to(self.root))
        metadata_relative = str(metadata_path.relative_to(self.root)) if metadata_path else None
        read, exists = self.read_back(store=store, key=key, path=relative, metadata_path=metadata_relative)
        self.entries.append(
            manifest_entry(
                root=self.root,
                path=relative,
                metadata_path=metadata_relative,
                prefect_version=self.version,
                read=read,
                prefect_exists=exists,
                **fields,
            )
        )

    # -- writers ---------------------------------------------------------------------------------

    def tasks_run(self) -> None:
        """Every serializer and value through a task with ``result_storage_key=<serializer>/<value>``."""
        basepath = self.root / "v3"
        storage = basepath  # a Path: Prefect makes an unsaved LocalFileSystem of it

        @flow(name="corpus-tasks")
        def corpus_tasks() -> None:
            for serializer_id, value_id in task_cases():
                before = files_under(basepath)
                state = produce.with_options(
                    persist_result=True,
                    result_storage=storage,
                    result_serializer=serializer_build(serializer_id, serializers=self.serializers),
                    result_storage_key=f"{serializer_id}/{value_id}",
                )(value_id, return_state=True)
                written = new_files(basepath, before)
                self.task_outcome_add(
                    serializer_id=serializer_id,
                    value_id=value_id,
                    state=state,
                    written=written,
                    basepath=basepath,
                )

        corpus_tasks(return_state=True)  # some tasks fail on purpose

    def task_outcome_add(
        self, *, serializer_id: str, value_id: str, state, written: list[Path], basepath: Path
    ):
        task_state = state.type.value
        if not written:
            behaviour = (
                "task Completed, result NOT persisted (warning logged)"
                if state.is_completed()
                else f"task {task_state}: {state.message}"
            )
            self.unwritable.append(
                unwritable_entry(
                    prefect_version=self.version,
                    serializer_id=serializer_id,
                    value_id=value_id,
                    behaviour=behaviour,
                    task_state=task_state,
                )
            )
            return
        (path,) = written
        failed = value_id == "exception"
        self.entry_add(
            path=path,
            store=self.store(basepath=basepath),
            key=str(path.relative_to(basepath)),
            writer="failed task (exception persisted)" if failed else "task",
            serializer_id=serializer_id,
            value_id=value_id,
            task_state=task_state,
            notes=(COMPLETED_STATE_NOTE,) if value_id == "completed_state" else (),
        )

    def store_writes(self, *, split: bool) -> None:
        """``ResultStore.write``: a record per key, or (``split``) the bare payload and a metadata file."""
        folder = self.root / "v3" / ("split" if split else "direct")
        results, metadata = (folder / "results", folder / "metadata") if split else (folder, None)
        for serializer_id, value_id in SPLIT_CASES if split else DIRECT_CASES:
            key = f"{serializer_id}-{value_id}"
            serializer = serializer_build(serializer_id, serializers=self.serializers)
            store = self.store(basepath=results, metadata=metadata, serializer=serializer)
            store.write(value_build(value_id), key=key)
            self.entry_add(
                path=results / key,
                metadata_path=metadata / key if metadata else None,
                store=store,
                key=key,
                writer="ResultStore.write, metadata_storage" if split else "ResultStore.write",
                serializer_id=serializer_id,
                value_id=value_id,
                task_state="n/a",
            )

    def flows_run(self) -> None:
        """A flow's return value, a cache-key task with a long expiration and a default-key task."""
        flows, cache, default_key = (self.root / "v3" / name for name in ("flows", "cache", "default-key"))
        pickle = serializer_build("pickle", serializers=self.serializers)

        @flow(**flow_result_options(storage=flows, serializer=pickle))
        def flow_result() -> dict:
            options = cached_task_options(key="long-nested", storage=cache)
            states["cache"] = produce.with_options(**options)("nested", return_state=True)
            states["default-key"] = produce.with_options(
                persist_result=True,
                result_storage=default_key,
                result_serializer=pickle,
            )("str_unicode", return_state=True)
            return value_build("nested")

        states: dict = {}
        state = flow_result(return_state=True)
        (flow_file,) = new_files(flows, set())
        self.entry_add(
            path=flow_file,
            store=self.store(basepath=flows, serializer=pickle),
            key=flow_file.name,
            writer="flow return value",
            serializer_id="pickle",
            value_id="nested",
            task_state=state.type.value,
            serializer=pickle.model_dump(mode="json"),
            storage_key=state.data.metadata.storage_key,
            notes=(FLOW_RAW_NOTE,),
        )
        for folder, writer, value_id in (
            (cache, "task cache_key_fn+cache_expiration=3650d", "nested"),
            (default_key, "task default key (cache key hash)", "str_unicode"),
        ):
            (path,) = new_files(folder, set())
            self.entry_add(
                path=path,
                store=self.store(basepath=folder),
                key=path.name,
                writer=writer,
                serializer_id="pickle",
                value_id=value_id,
                task_state=states[folder.name].type.value,
            )

    def saved_block_run(self) -> None:
        """Tasks whose storage is a saved block: relative keys and ``storage_block_id`` in the records."""
        basepath = self.root / "v3-block"
        LocalFileSystem(basepath=str(basepath)).save(BLOCK_NAME, overwrite=True)
        block = LocalFileSystem.load(BLOCK_NAME)
        states = {}

        @flow(name="corpus-saved-block")
        def saved_block() -> None:
            for serializer_id, value_id in BLOCK_CASES:
                states[serializer_id] = produce.with_options(
                    persist_result=True,
                    result_storage=block,
                    result_serializer=serializer_build(serializer_id, serializers=self.serializers),
                    result_storage_key=f"{serializer_id}-{value_id}",
                )(value_id, return_state=True)

        saved_block(return_state=True)
        for serializer_id, value_id in BLOCK_CASES:
            key = f"{serializer_id}-{value_id}"
            self.entry_add(
                path=basepath / key,
                store=self.store(block=LocalFileSystem.load(BLOCK_NAME)),
                key=key,
                writer="task, saved LocalFileSystem block",
                serializer_id=serializer_id,
                value_id=value_id,
                task_state=states[serializer_id].type.value,
            )

    def default_storage_run(self) -> None:
        """No storage on the task nor its flow: both go to PREFECT_LOCAL_STORAGE_PATH."""
        basepath = self.root / "v3-default-storage"
        states = {}

        @flow(name="corpus-default-storage", persist_result=True)
        def default_storage() -> int:
            states["task"] = produce.with_options(persist_result=True)("nested", return_state=True)
            return value_build("int")

        states["flow"] = default_storage(return_state=True)
        pickle = serializer_build("pickle", serializers=self.serializers)
        for path in new_files(basepath, set()):
            raw = file_describe(root=self.root, path=str(path.relative_to(self.root)))["layout"] == "v3-raw"
            value_id = "int" if raw else "nested"
            self.entry_add(
                path=path,
                store=self.store(basepath=basepath, serializer=pickle if raw else None),
                key=path.name,
                writer=(
                    "flow return value, default storage PREFECT_LOCAL_STORAGE_PATH"
                    if raw
                    else "task, default storage PREFECT_LOCAL_STORAGE_PATH (cache-key hash name)"
                ),
                serializer_id="pickle",
                value_id=value_id,
                task_state=states["flow" if raw else "task"].type.value,
                serializer=pickle.model_dump(mode="json") if raw else None,
                storage_key=states["flow"].data.metadata.storage_key if raw else None,
                notes=(FLOW_RAW_NOTE,) if raw else (),
            )

    # -- Prefect 3 reading the 2.x files --------------------------------------------------------

    def v2_entry_crosscheck(self, entry: dict) -> dict:
        """Add what Prefect 3 reads from a 2.x file; it decides ``expected`` where Prefect 2 failed."""
        folder = self.root / "v2"
        key = str((self.root / entry["path"]).relative_to(folder))
        read, _ = self.read_back(store=self.store(basepath=folder), key=key, path=entry["path"])
        if "value" in read:
            entry["prefect3_load"] = f"ok ({self.version})"
            got = canon(read["value"])
        else:
            entry["prefect3_load"] = f"error ({self.version}): {read['error']}"
            got = None
        if entry["expected"] is None:
            if got is not None:
                entry["expected"] = got
                entry["expected_source"] = (
                    f"Prefect {self.version} ResultStore.read (Prefect 2's own loader fails)"
                )
            else:
                entry["expected"] = read["expected"]
                entry["expected_source"] = (
                    f"stdlib json + Prefect {self.version} prefect_json_object_decoder "
                    "(Prefect 2's and 3's own loaders fail)"
                )
            entry["lossless"] = entry["expected"] == entry["original"]
        entry["prefect3_matches_expected"] = got == entry["expected"]
        return entry


@task(name="corpus-value")
def produce(value_id: str):
    return task_return(value_id, completed=Completed)


if __name__ == "__main__":
    main()
