"""Run records: every flow run and task run, its state history and a link to its result, and the
log lines of runs."""

import logging
import uuid
from typing import Any

from django.db import models
from django.utils import timezone


class StateType(models.TextChoices):
    SCHEDULED = "SCHEDULED", "Scheduled"
    PENDING = "PENDING", "Pending"
    RUNNING = "RUNNING", "Running"
    COMPLETED = "COMPLETED", "Completed"
    CACHED = "CACHED", "Cached"
    FAILED = "FAILED", "Failed"
    CRASHED = "CRASHED", "Crashed"
    CANCELLED = "CANCELLED", "Cancelled"


class RunSource(models.TextChoices):
    RESULTDECK = "", "Resultdeck"
    PREFECT = "prefect", "Prefect"


FINAL_STATES = {
    StateType.COMPLETED,
    StateType.CACHED,
    StateType.FAILED,
    StateType.CRASHED,
    StateType.CANCELLED,
}


class RunBase(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    parameters = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=StateType.choices, default=StateType.PENDING)
    state_message = models.TextField(blank=True, default="")
    # [{"state": "RUNNING", "message": "", "timestamp": "..."}], appended in order.
    state_history = models.JSONField(default=list, blank=True)
    created = models.DateTimeField(default=timezone.now)
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    run_count = models.PositiveIntegerField(default=0)
    result = models.ForeignKey(
        "results.ResultReference", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Where the run happened: Resultdeck's own engine, or a Prefect server it was synced from.
    source = models.CharField(max_length=16, choices=RunSource.choices, blank=True, default="")
    # The synced run's Prefect server connection and id there. Not a foreign key: connections
    # live in an app above this one.
    source_connection_id = models.UUIDField(null=True, blank=True)
    external_id = models.UUIDField(null=True, blank=True)
    external_url = models.URLField(max_length=1000, blank=True, default="")
    tags = models.JSONField(default=list, blank=True)
    # A synced run's result as its server described it ({"kind": "record" | "reference" |
    # "literal" | "unpersisted", ...}); the `result` reference is what Resultdeck reads.
    external_result = models.JSONField(null=True, blank=True)
    # When a sync found the run gone from its Prefect server: kept, and marked, never dropped.
    external_deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def duration(self):
        if self.start_time and self.end_time:
            return self.end_time - self.start_time
        return None

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    def state_record(self, state: Any) -> None:
        """Make ``state`` (an ``apps.flows.states.State``) the run's state, appended to its history.

        Nothing is saved: the engine writes run records in bulk.
        """
        # A cached run is Completed named Cached in the SDK, as in Prefect; its record says CACHED.
        value = state.type.value
        if value == "COMPLETED" and state.name == "Cached":
            value = StateType.CACHED.value
        message = state.message or ""
        self.state_history.append(
            {"state": value, "name": state.name, "message": message, "timestamp": state.timestamp.isoformat()}
        )
        self.state = value
        self.state_message = message


class FlowRun(RunBase):
    flow_name = models.CharField(max_length=200)
    parent_flow_run = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="subflow_runs"
    )
    parent_task_run = models.ForeignKey(
        "flows.TaskRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="subflow_runs"
    )
    worker_host = models.CharField(max_length=200, blank=True, default="")
    celery_task_id = models.CharField(max_length=64, blank=True, default="")
    deployment = models.CharField(max_length=200, blank=True, default="")
    work_pool = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_connection_id", "external_id"],
                condition=models.Q(external_id__isnull=False),
                name="flowrun_external_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["-created", "-id"], name="flowrun_created_idx"),
            models.Index(fields=["flow_name", "-created", "-id"], name="flowrun_flow_created_idx"),
            models.Index(fields=["state", "-created", "-id"], name="flowrun_state_created_idx"),
            models.Index(fields=["parent_flow_run"], name="flowrun_parent_idx"),
            models.Index(fields=["result"], name="flowrun_result_idx"),
            # The runs list's filters of synced runs, in the list's order (tags: a GIN index on
            # PostgreSQL, migration 0005).
            models.Index(fields=["source_connection_id", "-created", "-id"], name="flowrun_connection_idx"),
            models.Index(fields=["deployment", "-created", "-id"], name="flowrun_deployment_idx"),
            models.Index(fields=["work_pool", "-created", "-id"], name="flowrun_work_pool_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.flow_name}/{self.name}"


class TaskRun(RunBase):
    flow_run = models.ForeignKey(
        FlowRun, null=True, blank=True, on_delete=models.CASCADE, related_name="task_runs"
    )
    task_name = models.CharField(max_length=200)
    # Stable identity of the task call inside its flow (name + call order), used to reuse a
    # completed task's result when the flow is retried.
    task_key = models.CharField(max_length=300, blank=True, default="")
    cache_key = models.CharField(max_length=256, blank=True, default="")

    class Meta:
        ordering = ["created", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_connection_id", "external_id"],
                condition=models.Q(external_id__isnull=False),
                name="taskrun_external_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["flow_run", "created"], name="taskrun_flow_created_idx"),
            models.Index(fields=["task_name", "-created"], name="taskrun_task_created_idx"),
            models.Index(fields=["state", "-created"], name="taskrun_state_created_idx"),
            models.Index(fields=["cache_key"], name="taskrun_cache_key_idx"),
            models.Index(fields=["result"], name="taskrun_result_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.task_name}/{self.name}"


class RunLog(models.Model):
    """One log line of a flow run, and of the task run that emitted it, if any.

    ``dropped`` is non-zero only on the marker line that ends a run whose logs were cut at the
    volume limit: it says how many lines were not kept.
    """

    id = models.BigAutoField(primary_key=True)
    flow_run = models.ForeignKey(FlowRun, on_delete=models.CASCADE, related_name="logs", db_index=False)
    # No database constraint: a running task's lines are written before its task run row, which the
    # engine inserts in bulk when the task ends. Deleting a task run still deletes its lines.
    task_run = models.ForeignKey(
        TaskRun,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="logs",
        db_constraint=False,
        db_index=False,
    )
    level = models.PositiveSmallIntegerField()
    timestamp = models.DateTimeField()
    logger = models.CharField(max_length=200)
    message = models.TextField()
    dropped = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["flow_run", "id"], name="runlog_run_idx"),
            models.Index(fields=["flow_run", "level", "id"], name="runlog_run_level_idx"),
            models.Index(fields=["task_run", "id"], name="runlog_task_idx"),
            models.Index(fields=["flow_run"], condition=models.Q(dropped__gt=0), name="runlog_dropped_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.logger}: {self.message[:80]}"

    @property
    def level_name(self) -> str:
        """DEBUG, INFO, ... (a custom level reads "Level 25")."""
        return logging.getLevelName(self.level)
