"""GET /api/workers/: the live workers and the queues' lengths, as on the Workers page."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.permissions import HasRole
from apps.core.roles import Role

from .workers import workers_overview


class ActiveTaskSerializer(serializers.Serializer):
    task_id = serializers.CharField()
    task_name = serializers.CharField()
    run_ids = serializers.ListField(child=serializers.UUIDField())
    started = serializers.DateTimeField(allow_null=True)


class WorkerSerializer(serializers.Serializer):
    name = serializers.CharField()
    host = serializers.CharField()
    online = serializers.BooleanField()
    last_seen = serializers.DateTimeField(allow_null=True)
    concurrency = serializers.IntegerField(allow_null=True)
    pid = serializers.IntegerField(allow_null=True)
    queues = serializers.ListField(child=serializers.CharField())
    active = ActiveTaskSerializer(many=True)


class QueueSerializer(serializers.Serializer):
    name = serializers.CharField()
    length = serializers.IntegerField(allow_null=True)
    consumers = serializers.IntegerField()
    error = serializers.CharField()


class WorkersSerializer(serializers.Serializer):
    checked = serializers.DateTimeField()
    error = serializers.CharField(help_text="Why the workers could not be asked; empty when they could.")
    workers = WorkerSerializer(many=True)
    queues = QueueSerializer(many=True)


class WorkersView(APIView):
    permission_classes = [HasRole]
    read_role = Role.VIEWER

    @extend_schema(responses=WorkersSerializer, summary="Live workers and queue lengths")
    def get(self, request):
        report, queues = workers_overview(timeout=settings.WORKERS_INSPECT_TIMEOUT_SECONDS)
        data = {"checked": report.checked, "error": report.error, "workers": report.workers, "queues": queues}
        return Response(WorkersSerializer(data).data)
