"""API of registered flows.

GET /api/flows/ lists the registered flows with their parameters; POST /api/flows/<name>/runs/
with a JSON object of parameters (validated against the flow's signature) queues a run on a worker.
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from apps.core.permissions import HasRole
from apps.core.roles import Role

from .models import FlowRun
from .parameters import parameters_validate, signature_parameters
from .registry import FlowNotFoundError, flow_get, flow_registry
from .submission import flow_run_submit


class FlowParameterSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    required = serializers.BooleanField()
    default = serializers.JSONField(allow_null=True)


class FlowSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    retries = serializers.IntegerField()
    parameters = FlowParameterSerializer(many=True)


class FlowRunCreatedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    flow_name = serializers.CharField()
    state = serializers.CharField()
    parameters = serializers.JSONField()
    url = serializers.CharField()


def _flow_data(name: str, flow) -> dict:
    return {
        "name": name,
        "description": flow.description,
        "retries": flow.retries,
        "parameters": signature_parameters(flow.signature),
    }


class FlowRunsPermission(HasRole):
    read_role = Role.VIEWER
    write_role = Role.OPERATOR


class FlowViewSet(viewsets.ViewSet):
    permission_classes = [FlowRunsPermission]
    lookup_field = "name"
    lookup_value_regex = "[^/]+"

    @extend_schema(responses=FlowSerializer(many=True))
    def list(self, request):
        return Response([_flow_data(name, flow) for name, flow in flow_registry().items()])

    @extend_schema(responses=FlowSerializer)
    def retrieve(self, request, name=None):
        return Response(_flow_data(name, self._flow(name)))

    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: FlowRunCreatedSerializer})
    @action(detail=True, methods=["post"], url_path="runs")
    def runs(self, request, name=None):
        flow = self._flow(name)
        body = request.data
        if isinstance(body, dict) and set(body) == {"parameters"} and isinstance(body["parameters"], dict):
            body = body["parameters"]
        try:
            parameters = parameters_validate(flow, dict(body) if hasattr(body, "keys") else body)
        except ValueError as exc:
            return Response({"parameters": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        handle = flow_run_submit(flow_name=name, parameters=parameters)
        run = FlowRun.objects.get(pk=handle.id)
        return Response(
            {
                "id": str(run.pk),
                "flow_name": run.flow_name,
                "state": run.state,
                "parameters": run.parameters,
                "url": reverse("flows:run-detail", kwargs={"pk": run.pk}),
            },
            status=status.HTTP_201_CREATED,
        )

    def _flow(self, name: str):
        try:
            return flow_get(name)
        except FlowNotFoundError as exc:
            raise NotFound(str(exc)) from None
