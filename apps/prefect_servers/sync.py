"""Sync a Prefect server's flow runs and task runs, with their result references, into Resultdeck.

Incremental: Prefect's run filters have no `updated` filter, so a sync reads runs that ended after
the cursor (the latest end time seen, less an overlap for runs that end out of order), runs that
are not final yet, and again every run Resultdeck still holds as not final. Each page is written in
its own transaction, keyed by (connection, Prefect id), so an interrupted sync run again changes
nothing twice and loses nothing; the cursor moves only when a sync finishes.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.core.bulk import rows_insert
from apps.flows.models import FINAL_STATES, FlowRun, RunSource, StateType, TaskRun
from apps.results.references import PendingReference, references_save

from .client import PrefectApiError, PrefectClient
from .models import PrefectConnection, SyncStatus
from .services import connection_client
from .storage import ResultMapper

logger = logging.getLogger(__name__)

# Runs whose reported end time lags the last one seen (a client clock behind the server, a slow
# report) are still read; the cost is reading the flow runs of that window again, not their task runs.
CURSOR_OVERLAP = dt.timedelta(seconds=30)
FLOW_RUN_PAGE = 200  # flow runs written per transaction, with their task runs
ID_CHUNK = 100  # ids per `any_` filter: keeps request bodies bounded
# Prefect's own non-final types, PAUSED and CANCELLING included (kept here as PENDING and RUNNING).
NON_FINAL_TYPES = ["CANCELLING", "PAUSED", "PENDING", "RUNNING", "SCHEDULED"]
PREFECT_TYPES = {"PAUSED": StateType.PENDING, "CANCELLING": StateType.RUNNING}
# What a sync writes on a run row that is already there.
RUN_FIELDS = (
    "name",
    "tags",
    "state",
    "state_message",
    "state_history",
    "created",
    "start_time",
    "end_time",
    "run_count",
    "external_url",
    "external_result",
    "external_deleted_at",
    "result",
)
FLOW_RUN_FIELDS = (*RUN_FIELDS, "flow_name", "parameters", "deployment", "work_pool")
TASK_RUN_FIELDS = (*RUN_FIELDS, "task_name", "task_key", "cache_key", "flow_run")


@dataclass
class SyncReport:
    connection: str
    ok: bool = True
    message: str = ""
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, number: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + number


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def when(value: Any) -> dt.datetime | None:
    return parse_datetime(value) if isinstance(value, str) else None


def state_fields(state: dict[str, Any] | None) -> dict[str, Any]:
    state = state or {}
    state_type = state.get("type") or StateType.PENDING
    state_type = PREFECT_TYPES.get(state_type, state_type)
    if state_type not in StateType.values:
        state_type = StateType.PENDING
    return {
        "state": state_type,
        "state_message": state.get("message") or "",
        "history_entry": {
            "state": state.get("type") or "",
            "name": state.get("name") or "",
            "message": state.get("message") or "",
            "timestamp": state.get("timestamp") or "",
        },
    }


def reference_is_known(*, row: Any, reference: Any) -> bool:
    """The run already points at this result: the same literal, or the same stored object."""
    known = row.result if row.result_id else None
    if known is None or known.is_literal != reference.is_literal:
        return False
    if known.is_literal:
        return known.literal_value == reference.literal_value
    return (known.storage_location, known.key) == (reference.storage_location, reference.key)


def task_name_of(item: dict[str, Any]) -> str:
    """The task's name: 3.x task keys are `name-<hash>`, 2.x ones `module.qualname`."""
    key = item.get("task_key") or item.get("name") or ""
    key = re.sub(r"-[0-9a-f]{6,}$", "", key)
    return key.rsplit(".", 1)[-1][:200]


def history_merge(history: list[dict], entry: dict) -> list[dict]:
    """The state history as syncs saw it: a state is appended once, whichever sync saw it."""
    if (
        history
        and history[-1].get("timestamp") == entry["timestamp"]
        and history[-1].get("state") == entry["state"]
    ):
        return history
    return [*history, entry]


class Syncer:
    def __init__(self, *, connection: PrefectConnection, client: PrefectClient, report: SyncReport) -> None:
        self.connection = connection
        self.client = client
        self.report = report
        self.flow_names: dict[str, str] = {}
        self.deployment_names: dict[str, str] = {}
        self.mapper: ResultMapper | None = None
        self.version = ""
        self.max_end: dt.datetime | None = None
        self.page_size = FLOW_RUN_PAGE
        self.seen: set[str] = set()
        self.full = False
        self.expected: set[str] = set()
        # Prefect id of a subflow run -> Prefect id of the task run that called it.
        self.parent_of: dict[str, str] = {}

    # --- reading ------------------------------------------------------------------------------

    def catalog_read(self) -> None:
        for item in self.client.flows():
            self.flow_names[item["id"]] = item.get("name") or ""
        self.report.add("flows", len(self.flow_names))
        try:
            for item in self.client.deployments():
                self.deployment_names[item["id"]] = item.get("name") or ""
        except PrefectApiError as error:
            if error.status != 404:
                raise
        self.report.add("deployments", len(self.deployment_names))

    def changed_flow_runs(self, *, full: bool) -> Iterator[dict[str, Any]]:
        cursor = None if full else when((self.connection.sync_cursor or {}).get("flow_runs_end_time"))
        seen = self.seen
        local = FlowRun.objects.filter(source_connection_id=self.connection.pk)
        if cursor is None:
            # Every run held here must be among those read, or it was deleted in Prefect.
            self.expected = {str(i) for i in local.values_list("external_id", flat=True)}
            sources: list[Iterable[dict]] = [self.client.flow_runs(sort="ID_DESC")]
        else:
            after = (cursor - CURSOR_OVERLAP).isoformat()
            pending = [
                str(i)
                for i in local.exclude(state__in=FINAL_STATES)
                .filter(external_deleted_at__isnull=True)
                .values_list("external_id", flat=True)
            ]
            self.expected = set(pending)
            # 2.x servers have no end_time filter (they answer 422): a run that ended after the cursor
            # either started after it or was still running at the last sync, and is held pending.
            since = "end_time" if not self.version.startswith("2.") else "start_time"
            sources = [
                self.client.flow_runs(flow_runs={since: {"after_": after}}, sort="ID_DESC"),
                self.client.flow_runs(
                    flow_runs={"state": {"type": {"any_": NON_FINAL_TYPES}}}, sort="ID_DESC"
                ),
                *(
                    self.client.flow_runs(flow_runs={"id": {"any_": ids}})
                    for ids in chunks(pending, ID_CHUNK)
                ),
            ]
        for source in sources:
            for item in source:
                if item["id"] not in seen:
                    seen.add(item["id"])
                    yield item

    # --- writing ------------------------------------------------------------------------------

    def unchanged_drop(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The items less the runs held final in the same state, run count and end time: an
        incremental sync reads them again (its time filter overlaps the last sync's) but they and
        their task runs have nothing new."""
        held = {
            str(external_id): (state, end_time, run_count)
            for external_id, state, end_time, run_count in FlowRun.objects.filter(
                source_connection_id=self.connection.pk,
                external_id__in=[item["id"] for item in items],
                external_deleted_at__isnull=True,
                state__in=FINAL_STATES,
            ).values_list("external_id", "state", "end_time", "run_count")
        }
        changed = []
        for item in items:
            now = (
                state_fields(item.get("state"))["state"],
                when(item.get("end_time")),
                int(item.get("run_count") or 0),
            )
            if held.get(item["id"]) != now:
                changed.append(item)
        self.report.add("unchanged", len(items) - len(changed))
        return changed

    def page_prepare(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The flow runs of a page read that need writing (an incremental sync skips unchanged ones)."""
        self.track(items)
        return items if self.full else self.unchanged_drop(items)

    def task_runs_read(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The task runs of a page of flow runs. Reads only: it runs beside the writing of the last page."""
        return [
            task
            for chunk in chunks([item["id"] for item in items], ID_CHUNK)
            # A total order, so offset pages neither skip nor repeat task runs of equal start times.
            for task in self.client.task_runs(flow_runs={"id": {"any_": chunk}}, sort="ID_DESC")
        ]

    def page_write(self, items: list[dict[str, Any]], tasks: list[dict[str, Any]]) -> None:
        """Write a page of flow runs and their task runs, in one transaction."""
        with transaction.atomic():
            flow_rows = self.runs_upsert(
                model=FlowRun, items=items, fields=FLOW_RUN_FIELDS, build=self.flow_run_values
            )
            self.runs_upsert(
                model=TaskRun,
                items=tasks,
                fields=TASK_RUN_FIELDS,
                build=self.task_run_values,
                flows=flow_rows,
            )
        self.report.add("flow_runs", len(items))
        self.report.add("task_runs", len(tasks))

    def track(self, items: list[dict[str, Any]]) -> None:
        """The cursor and subflow links of every run read, written or not."""
        for item in items:
            if item.get("parent_task_run_id"):
                self.parent_of[item["id"]] = item["parent_task_run_id"]
            end = when(item.get("end_time"))
            if end and (self.max_end is None or end > self.max_end):
                self.max_end = end

    def runs_upsert(
        self, *, model: Any, items: list[dict], fields: tuple[str, ...], build: Any, flows: Any = None
    ) -> dict[str, Any]:
        existing = {
            str(row.external_id): row
            for row in model.objects.filter(
                source_connection_id=self.connection.pk, external_id__in=[i["id"] for i in items]
            ).select_related("result")
        }
        rows: dict[str, Any] = {}
        pending: list[tuple[Any, PendingReference]] = []
        for item in items:
            row = existing.get(item["id"]) or model(
                source=RunSource.PREFECT, source_connection_id=self.connection.pk, external_id=item["id"]
            )
            values, reference = build(item=item, row=row, flows=flows)
            for name, value in values.items():
                setattr(row, name, value)
            if reference is not None and not reference_is_known(row=row, reference=reference):
                # A reference read before keeps its row and fields (its id, when it was made).
                pending.append((row, PendingReference(reference, reused=True)))
            elif (
                reference is None and row.external_result and row.external_result.get("kind") == "unpersisted"
            ):
                row.result = None
            rows[item["id"]] = row
        references_save(pending=[p for _, p in pending])
        for row, item in pending:
            row.result = item.reference
            self.report.add("results")
        new = [row for key, row in rows.items() if key not in existing]
        rows_insert(model, new)
        model.objects.bulk_update([row for key, row in rows.items() if key in existing], fields=list(fields))
        return rows

    def common_values(self, *, item: dict[str, Any], row: Any, kind: str) -> tuple[dict[str, Any], Any]:
        state = item.get("state") or {}
        fields = state_fields(state)
        values = {
            "name": (item.get("name") or "")[:200],
            "tags": list(item.get("tags") or []),
            "state": fields["state"],
            "state_message": fields["state_message"],
            "state_history": history_merge(list(row.state_history or []), fields["history_entry"]),
            "created": when(item.get("created")) or timezone.now(),
            "start_time": when(item.get("start_time")),
            "end_time": when(item.get("end_time")),
            "run_count": int(item.get("run_count") or 0),
            "external_url": self.connection.run_url(kind=kind, prefect_id=item["id"]),
            "external_deleted_at": None,
        }
        reference = None
        if fields["state"] in FINAL_STATES:
            described = self.mapper.describe(state.get("data"))
            # A task run that stands for a subflow call carries the subflow's (raw) result.
            details = state.get("state_details") or {}
            raw = kind == "flow-run" or bool(details.get("child_flow_run_id"))
            reference = self.mapper.reference(
                described=described, raw_payload=raw and self.version.startswith("3")
            )
            if reference is not None:
                reference.expiration = when(reference.expiration)
                reference.created = when(state.get("timestamp")) or timezone.now()
            values["external_result"] = described
        else:
            values["external_result"] = None
        return values, reference

    def flow_run_values(
        self, *, item: dict[str, Any], row: FlowRun, flows: Any
    ) -> tuple[dict[str, Any], Any]:
        values, reference = self.common_values(item=item, row=row, kind="flow-run")
        values["flow_name"] = self.flow_names.get(item.get("flow_id"), "")[:200] or "unknown"
        values["parameters"] = item.get("parameters") or {}
        values["deployment"] = self.deployment_names.get(item.get("deployment_id") or "", "")[:200]
        values["work_pool"] = (item.get("work_pool_name") or "")[:200]
        return values, reference

    def task_run_values(
        self, *, item: dict[str, Any], row: TaskRun, flows: Any
    ) -> tuple[dict[str, Any], Any]:
        values, reference = self.common_values(item=item, row=row, kind="task-run")
        values["task_name"] = task_name_of(item)
        values["task_key"] = (item.get("task_key") or "")[:300]
        # 2.x keeps a cached task's key on its state's details rather than on the task run.
        details = (item.get("state") or {}).get("state_details") or {}
        values["cache_key"] = (item.get("cache_key") or details.get("cache_key") or "")[:256]
        values["flow_run"] = flows.get(item.get("flow_run_id"))
        return values, reference

    def parents_link(self) -> None:
        """Subflows point at the task run that called them and its flow run (they may be written
        before their parent, so this waits for the end of the sync)."""
        if not self.parent_of:
            return
        tasks = {
            str(task.external_id): task
            for task in TaskRun.objects.filter(
                source_connection_id=self.connection.pk, external_id__in=set(self.parent_of.values())
            )
        }
        for child, parent in self.parent_of.items():
            task = tasks.get(parent)
            if task is not None:
                FlowRun.objects.filter(source_connection_id=self.connection.pk, external_id=child).update(
                    parent_task_run=task, parent_flow_run_id=task.flow_run_id
                )

    def run(self, *, full: bool) -> None:
        self.full = full
        for name in ("flow_runs", "task_runs", "unchanged"):
            self.report.add(name, 0)
        self.version = self.client.version()
        self.mapper = ResultMapper(
            connection=self.connection, client=self.client, server_version=self.version
        )
        self.catalog_read()
        # A pipeline: a page's task runs are read on a thread of their own while this one writes
        # the page before and reads the next page of flow runs, so the sync takes about as long as
        # its requests rather than its requests and its writes added up. Pages are written in order.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefect-sync-read") as reader:
            waiting = None
            for page in self.pages(full=full):
                items = self.page_prepare(page)
                ahead = (items, reader.submit(self.task_runs_read, items)) if items else None
                if waiting is not None:
                    self.page_write(waiting[0], waiting[1].result())
                    self.progress_save()
                waiting = ahead
            if waiting is not None:
                self.page_write(waiting[0], waiting[1].result())
        self.parents_link()
        self.deleted_mark()

    def pages(self, *, full: bool) -> Iterator[list[dict[str, Any]]]:
        page: list[dict[str, Any]] = []
        for item in self.changed_flow_runs(full=full):
            page.append(item)
            if len(page) >= self.page_size:
                yield page
                page = []
        if page:
            yield page

    def deleted_mark(self) -> None:
        """Runs expected but not read are gone from the server: marked, with their task runs."""
        gone = sorted(self.expected - self.seen)
        now = timezone.now()
        for chunk in chunks(gone, ID_CHUNK * 10):
            runs = FlowRun.objects.filter(
                source_connection_id=self.connection.pk,
                external_id__in=chunk,
                external_deleted_at__isnull=True,
            )
            TaskRun.objects.filter(flow_run__in=runs).update(external_deleted_at=now)
            self.report.add("deleted", runs.update(external_deleted_at=now))

    def progress_save(self) -> None:
        self.report.counts["requests"] = self.client.requests_made
        PrefectConnection.objects.filter(pk=self.connection.pk).update(sync_progress=dict(self.report.counts))


def prefect_sync(
    *,
    connection: PrefectConnection,
    full: bool = False,
    client: PrefectClient | None = None,
    page_size: int = FLOW_RUN_PAGE,
) -> SyncReport:
    """Sync one connection; never raises for a server problem (the outcome is on the connection)."""
    report = SyncReport(connection=connection.name)
    PrefectConnection.objects.filter(pk=connection.pk).update(
        sync_status=SyncStatus.RUNNING, sync_started_at=timezone.now(), sync_progress={}
    )
    syncer = None
    try:
        client = client or connection_client(connection)
        syncer = Syncer(connection=connection, client=client, report=report)
        syncer.page_size = page_size
        syncer.run(full=full)
    except Exception as error:
        report.ok = False
        report.message = (
            str(error) if isinstance(error, PrefectApiError) else f"{type(error).__name__}: {error}"
        )
        logger.warning("prefect sync of %s failed: %s", connection.name, report.message)
    if syncer is not None:
        report.counts["requests"] = syncer.client.requests_made
    updates: dict[str, Any] = {
        "sync_status": SyncStatus.OK if report.ok else SyncStatus.FAILED,
        "sync_finished_at": timezone.now(),
        "sync_progress": dict(report.counts),
    }
    if report.ok:
        cursor = dict(connection.sync_cursor or {})
        if syncer.max_end is not None:
            previous = when(cursor.get("flow_runs_end_time"))
            if full or previous is None or syncer.max_end > previous:
                cursor["flow_runs_end_time"] = syncer.max_end.isoformat()
        updates["sync_cursor"] = cursor
        updates["server_version"] = syncer.version
        counts = report.counts
        report.message = (
            f"Synced {counts.get('flow_runs', 0)} flow runs, {counts.get('task_runs', 0)} task runs and "
            f"{counts.get('results', 0)} results in {counts.get('requests', 0)} requests."
        )
    updates["sync_message"] = report.message[:2000]
    PrefectConnection.objects.filter(pk=connection.pk).update(**updates)
    for name, value in updates.items():
        setattr(connection, name, value)
    return report


def prefect_sync_due(*, now: dt.datetime | None = None) -> list[SyncReport]:
    """Sync every enabled connection whose interval has passed; one failing does not stop the others."""
    now = now or timezone.now()
    reports = []
    for connection in PrefectConnection.objects.filter(sync_enabled=True):
        last = connection.sync_started_at
        if last is not None and now - last < dt.timedelta(seconds=connection.sync_interval_seconds):
            continue
        reports.append(prefect_sync(connection=connection))
    return reports
