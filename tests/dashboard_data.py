"""Builders of runs, results and result files for the dashboard tests (pages, API, browsing, e2e)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.utils import timezone

from apps.blocks.filesystems import LocalFileSystem
from apps.flows.models import FlowRun, StateType, TaskRun
from apps.results.models import ResultReference
from apps.results.references import reference_from_record, reference_literal
from apps.results.store import ResultStore

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


def stored_result(
    folder: Path,
    value: Any,
    *,
    serializer: str = "json",
    expiration: dt.datetime | None = None,
    created: dt.datetime | None = None,
    key: str | None = None,
) -> ResultReference:
    """Write ``value`` as a Prefect 3 record under ``folder`` and save its reference."""
    storage = LocalFileSystem(basepath=folder)
    store = ResultStore(result_storage=storage, serializer=serializer, cache_result_in_memory=False)
    record = store.write(value, key=key, expiration=expiration)
    reference = reference_from_record(record=record, storage=storage, value=value)
    reference.size_bytes = storage.size(reference.key)
    if created is not None:
        reference.created = created
    reference.save()
    return reference


def raw_file_result(
    folder: Path, content: bytes, *, key: str = "corrupt", layout: str = "v3-record"
) -> ResultReference:
    """A reference to a file with arbitrary bytes (corrupt, truncated, unknown format)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / key).write_bytes(content)
    return ResultReference.objects.create(
        storage_location=str(LocalFileSystem(basepath=folder).root),
        key=key,
        layout=layout,
        serializer_type="pickle",
        value_type="unknown",
        size_bytes=len(content),
    )


def literal_result(value: Any) -> ResultReference:
    return reference_literal(value, save=True)


def flow_run(
    *,
    flow_name: str = "etl",
    name: str = "brave-otter",
    state: str = StateType.COMPLETED,
    created: dt.datetime | None = None,
    duration: dt.timedelta | None = dt.timedelta(seconds=12),
    parameters: dict | None = None,
    result: ResultReference | None = None,
) -> FlowRun:
    created = created or T0
    final = state in (
        StateType.COMPLETED,
        StateType.FAILED,
        StateType.CRASHED,
        StateType.CANCELLED,
        StateType.CACHED,
    )
    history = [
        {"state": "PENDING", "name": "Pending", "message": "", "timestamp": created.isoformat()},
        {"state": "RUNNING", "name": "Running", "message": "", "timestamp": created.isoformat()},
    ]
    if final:
        history.append(
            {
                "state": state,
                "name": state.title(),
                "message": "",
                "timestamp": (created + duration).isoformat(),
            }
        )
    return FlowRun.objects.create(
        flow_name=flow_name,
        name=name,
        state=state,
        created=created,
        start_time=created,
        end_time=created + duration if final and duration is not None else None,
        parameters=parameters or {},
        state_history=history,
        run_count=1,
        result=result,
    )


def task_run(
    run: FlowRun,
    *,
    task_name: str,
    offset: dt.timedelta = dt.timedelta(0),
    duration: dt.timedelta | None = dt.timedelta(seconds=2),
    state: str = StateType.COMPLETED,
    result: ResultReference | None = None,
    cache_key: str = "",
) -> TaskRun:
    start = run.start_time + offset
    return TaskRun.objects.create(
        flow_run=run,
        task_name=task_name,
        name=f"{task_name}-0",
        state=state,
        created=start,
        start_time=start,
        end_time=start + duration if duration is not None else None,
        run_count=1,
        result=result,
        cache_key=cache_key,
    )


def now() -> dt.datetime:
    return timezone.now()


def references_bulk(count: int, *, same_time: bool = False) -> list[ResultReference]:
    """``count`` bare references, one second apart from T0 (or all at T0), half json, half pickle."""
    start = ResultReference.objects.count()
    rows = [
        ResultReference(
            storage_location="/data/results",
            key=f"k{start + index:04d}",
            serializer_type="pickle" if index % 2 else "json",
            created=T0 if same_time else T0 + dt.timedelta(seconds=index),
        )
        for index in range(count)
    ]
    return ResultReference.objects.bulk_create(rows)
