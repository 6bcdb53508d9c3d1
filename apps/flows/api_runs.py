"""API of runs: flow runs with cursor pages and the runs page's filters, a run's task runs, and its
log lines (cursor pages, by minimum level, text and task run)."""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action

from apps.core.api import KeysetPagination
from apps.core.permissions import HasRole
from apps.core.roles import Role
from apps.results.api_results import ResultReferenceSerializer

from .filters import FlowRunFilter
from .logs.browse import run_logs_filterset
from .models import FlowRun, RunLog, TaskRun


class RunFieldsMixin(serializers.Serializer):
    duration_seconds = serializers.SerializerMethodField()
    parameters = serializers.JSONField(read_only=True)
    state_history = serializers.JSONField(read_only=True)
    result = ResultReferenceSerializer(read_only=True)

    def get_duration_seconds(self, run) -> float | None:
        return run.duration.total_seconds() if run.duration is not None else None


class FlowRunSerializer(RunFieldsMixin, serializers.ModelSerializer):
    connection = serializers.UUIDField(
        source="source_connection_id", read_only=True, help_text="the Prefect connection of a synced run"
    )
    tags = serializers.JSONField(read_only=True)

    class Meta:
        model = FlowRun
        fields = [
            "id", "name", "flow_name", "state", "state_message", "parameters", "created", "start_time",
            "end_time", "duration_seconds", "run_count", "parent_flow_run", "worker_host", "result",
            "source", "connection", "external_id", "external_url", "deployment", "work_pool", "tags",
        ]  # fmt: skip
        read_only_fields = fields


class FlowRunDetailSerializer(FlowRunSerializer):
    class Meta(FlowRunSerializer.Meta):
        fields = [*FlowRunSerializer.Meta.fields, "state_history"]
        read_only_fields = fields


class TaskRunSerializer(RunFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = TaskRun
        fields = [
            "id", "name", "task_name", "task_key", "flow_run", "state", "state_message", "parameters",
            "created", "start_time", "end_time", "duration_seconds", "run_count", "cache_key", "result",
            "state_history",
        ]  # fmt: skip
        read_only_fields = fields


class TaskRunPagination(KeysetPagination):
    ordering = ("created", "id")


class RunLogSerializer(serializers.ModelSerializer):
    level_name = serializers.CharField(read_only=True)

    class Meta:
        model = RunLog
        fields = [
            "id",
            "flow_run",
            "task_run",
            "level",
            "level_name",
            "timestamp",
            "logger",
            "message",
            "dropped",
        ]
        read_only_fields = fields


class RunLogPagination(KeysetPagination):
    page_size = 200
    max_page_size = 1000
    ordering = ("id",)


class RunsPermission(HasRole):
    read_role = Role.VIEWER
    write_role = Role.OPERATOR


@extend_schema(tags=["runs"])
class FlowRunViewSet(viewsets.ReadOnlyModelViewSet):
    """Flow runs, newest first, in cursor pages (no counts); filters as on the runs page."""

    queryset = FlowRun.objects.select_related("result", "result__block")
    permission_classes = [RunsPermission]
    pagination_class = KeysetPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = FlowRunFilter

    def get_serializer_class(self):
        return FlowRunDetailSerializer if self.action == "retrieve" else FlowRunSerializer

    @extend_schema(responses=TaskRunSerializer(many=True), filters=False)
    @action(
        detail=True,
        methods=["get"],
        url_path="task-runs",
        filter_backends=[],
        pagination_class=TaskRunPagination,
    )
    def task_runs(self, request, pk=None):
        run = self.get_object()
        queryset = TaskRun.objects.filter(flow_run=run).select_related("result", "result__block")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(TaskRunSerializer(page, many=True).data)

    @extend_schema(
        responses=RunLogSerializer(many=True),
        filters=False,
        parameters=[
            OpenApiParameter("level", str, description="minimum level: a number (30) or a name (warning)"),
            OpenApiParameter("q", str, description="text in the message (case-insensitive)"),
            OpenApiParameter("task_run", OpenApiTypes.UUID, description="only this task run's lines"),
        ],
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="logs",
        filter_backends=[],
        pagination_class=RunLogPagination,
    )
    def logs(self, request, pk=None):
        """The run's log lines, oldest first; ``level`` (a minimum: 30 or warning), ``q``, ``task_run``."""
        run = self.get_object()
        filterset = run_logs_filterset(run=run, params=request.query_params)
        if filterset.is_bound and not filterset.is_valid():
            raise serializers.ValidationError(filterset.errors)
        page = self.paginate_queryset(filterset.qs)
        return self.get_paginated_response(RunLogSerializer(page, many=True).data)
