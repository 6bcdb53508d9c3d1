"""Write the Prefect 2 part of the corpus with real Prefect 2.20.27 (run inside its venv).

    PYTHONPATH=ROOT PREFECT_HOME=... python gen_v2.py --root ROOT

Writes ROOT/v2 by running tasks and a flow, reads every file back with Prefect 2's own
``PersistedResult.get`` (a fresh reference, so nothing comes from the in-memory cache), and
writes the manifest lines to ROOT/manifest-v2.jsonl and the refused writes to
ROOT/unwritable-v2.jsonl. Where Prefect 2 cannot read its own file, ``expected`` is left empty
for gen_v3.py, which reads the same files with Prefect 3. No PREFECT_API_URL: Prefect 2 runs its
in-process ephemeral API.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import cases
import prefect
from prefect import flow, serializers, task
from prefect.filesystems import LocalFileSystem
from prefect.results import LITERAL_TYPES, PersistedResult
from prefect.states import Completed

LITERAL_WRITER = "PersistedResult.create (2.x tasks keep None/bool/UUID as LiteralResult, no file)"
LITERAL_NOTE = "Prefect 2 tasks/flows never write None/True/False/UUID results to storage"
CACHE_NOTE = (
    "Prefect 2 keeps cache_key/cache_expiration on the task-run state in the API; the file has no expiration"
)


@task(name="corpus-value")
def produce(value_id: str):
    return cases.task_return(value_id, completed=Completed)


def prefect_read(reference: PersistedResult) -> dict:
    """The value Prefect 2 reads from the file behind ``reference``, or its error."""
    fresh = PersistedResult(
        serializer_type=reference.serializer_type,
        storage_block_id=reference.storage_block_id,
        storage_key=reference.storage_key,
    )
    try:
        return {"value": fresh.get()}
    except Exception as exc:  # what Prefect raised is the finding
        return {"error": cases.error_text(exc), "expected": None}


class Generator:
    def __init__(self, *, root: Path) -> None:
        self.root, self.folder = root, root / "v2"
        self.storage = LocalFileSystem(basepath=str(self.folder))
        self.storage_block_id = self.storage.save("resultdeck-corpus-v2", overwrite=True)
        self.entries: list[dict] = []
        self.unwritable: list[dict] = []

    def entry_add(self, *, path: Path, reference: PersistedResult, **fields) -> None:
        self.entries.append(
            cases.manifest_entry(
                root=self.root,
                path=str(path.relative_to(self.root)),
                prefect_version=prefect.__version__,
                read=prefect_read(reference),
                storage_key=reference.storage_key,
                **fields,
            )
        )

    def tasks_run(self) -> None:
        """Every serializer and value through a task with ``result_storage_key=<serializer>/<value>``."""

        @flow(name="corpus-tasks")
        def corpus_tasks() -> None:
            for serializer_id, value_id in cases.task_cases():
                before = cases.files_under(self.folder)
                serializer = cases.serializer_build(serializer_id, serializers=serializers)
                state = produce.with_options(
                    persist_result=True,
                    result_storage=self.storage,
                    result_serializer=serializer,
                    result_storage_key=f"{serializer_id}/{value_id}",
                )(value_id, return_state=True)
                outcome = {
                    "serializer_id": serializer_id,
                    "value_id": value_id,
                    "task_state": state.type.value,
                }
                written = cases.new_files(self.folder, before)
                if written:
                    (path,) = written
                    failed = value_id == "exception"
                    self.entry_add(
                        path=path,
                        reference=state.data,
                        writer="failed task (exception persisted)" if failed else "task",
                        notes=(cases.COMPLETED_STATE_NOTE,) if value_id == "completed_state" else (),
                        **outcome,
                    )
                elif type(cases.value_build(value_id)) in LITERAL_TYPES:
                    self.literal_write(serializer=serializer, **outcome)
                else:
                    self.unwritable.append(
                        cases.unwritable_entry(
                            prefect_version=prefect.__version__,
                            behaviour=f"task {state.type.value}: {state.message}",
                            **outcome,
                        )
                    )

        corpus_tasks(return_state=True)  # some tasks fail on purpose

    def literal_write(self, *, serializer, serializer_id: str, value_id: str, task_state: str) -> None:
        """What a task would write for None/bool/UUID if it wrote them: its code path, called directly."""
        key = f"{serializer_id}/{value_id}"
        reference = PersistedResult.create(
            cases.value_build(value_id),
            storage_block=self.storage,
            storage_block_id=self.storage_block_id,
            storage_key_fn=lambda: key,
            serializer=serializer,
        )
        self.entry_add(
            path=self.folder / key,
            reference=reference,
            writer=LITERAL_WRITER,
            serializer_id=serializer_id,
            value_id=value_id,
            task_state=task_state,
            notes=(LITERAL_NOTE,),
        )

    def flow_and_cache_run(self) -> None:
        """A flow's return value, and a task with a cache key function and a long expiration."""

        @flow(
            **cases.flow_result_options(
                storage=LocalFileSystem(basepath=str(self.folder / "flows")),
                serializer=cases.serializer_build("pickle", serializers=serializers),
            )
        )
        def flow_result() -> dict:
            before = cases.files_under(self.folder)
            options = cases.cached_task_options(key="v2-long-nested", storage=self.storage)
            states["cache"] = produce.with_options(**options)("nested", return_state=True)
            (states["cache-file"],) = cases.new_files(self.folder, before)
            return cases.value_build("nested")

        states: dict = {}
        states["flow"] = flow_result(return_state=True)
        (states["flow-file"],) = cases.new_files(self.folder / "flows", set())
        for name, writer, notes in (
            ("cache", "task cache_key_fn+cache_expiration=3650d (default uuid key)", (CACHE_NOTE,)),
            ("flow", "flow return value", ()),
        ):
            self.entry_add(
                path=states[f"{name}-file"],
                reference=states[name].data,
                writer=writer,
                serializer_id="pickle",
                value_id="nested",
                task_state=states[name].type.value,
                notes=notes,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="the corpus folder being written")
    root = parser.parse_args().root.resolve()
    shutil.rmtree(root / "v2", ignore_errors=True)
    generator = Generator(root=root)
    generator.tasks_run()
    generator.flow_and_cache_run()
    entries = sorted(generator.entries, key=lambda entry: entry["path"])
    cases.jsonl_write(root / "manifest-v2.jsonl", entries)
    cases.jsonl_write(root / "unwritable-v2.jsonl", generator.unwritable)
    print(f"prefect {prefect.__version__}: {len(entries)} files, {len(generator.unwritable)} refused")


if __name__ == "__main__":
    main()
