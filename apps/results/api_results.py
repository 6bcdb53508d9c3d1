"""API of result references: the filtered list (cursor pages), metadata, the static preview, the
sandboxed decode (operators) and the raw bytes, with the same permissions as the pages."""

from __future__ import annotations

from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api import KeysetPagination
from apps.core.permissions import HasRole
from apps.core.roles import Role
from apps.flows.browse import result_usage

from .contents import reference_decode, reference_preview
from .filters import ResultFilter
from .models import ResultReference
from .references import reference_uri
from .views import raw_response


class ResultReferenceSerializer(serializers.ModelSerializer):
    block = serializers.SerializerMethodField()
    uri = serializers.SerializerMethodField()
    is_expired = serializers.BooleanField(read_only=True)
    literal_value = serializers.JSONField(read_only=True)
    serializer_config = serializers.JSONField(read_only=True)

    class Meta:
        model = ResultReference
        fields = [
            "id", "uri", "block", "storage_location", "key", "layout", "serializer_type", "serializer_config",
            "value_type", "size_bytes", "is_literal", "literal_value", "prefect_version", "cache_key",
            "expiration", "is_expired", "created", "purged_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_block(self, reference: ResultReference) -> str | None:
        return reference.block.slug if reference.block_id else None

    def get_uri(self, reference: ResultReference) -> str:
        return reference_uri(reference)


class RunLinkSerializer(serializers.Serializer):
    kind = serializers.CharField()
    id = serializers.UUIDField()
    name = serializers.CharField()
    flow_name = serializers.CharField(allow_blank=True)
    task_name = serializers.CharField(allow_blank=True)
    state = serializers.CharField()
    flow_run_id = serializers.UUIDField(allow_null=True)


class ResultDetailSerializer(ResultReferenceSerializer):
    runs = serializers.SerializerMethodField()

    class Meta(ResultReferenceSerializer.Meta):
        fields = [*ResultReferenceSerializer.Meta.fields, "runs"]
        read_only_fields = fields

    @extend_schema(responses=RunLinkSerializer(many=True))
    def get_runs(self, reference: ResultReference) -> list[dict]:
        usage = result_usage(reference=reference)
        links = [
            {"kind": "flow_run", "id": run.pk, "name": run.name, "flow_name": run.flow_name, "task_name": "",
             "state": run.state, "flow_run_id": None}
            for run in usage.flow_runs
        ]  # fmt: skip
        links += [
            {"kind": "task_run", "id": run.pk, "name": run.name,
             "flow_name": run.flow_run.flow_name if run.flow_run_id else "", "task_name": run.task_name,
             "state": run.state, "flow_run_id": run.flow_run_id}
            for run in usage.task_runs
        ]  # fmt: skip
        return links


class ResultPermission(HasRole):
    read_role = Role.VIEWER
    # The only unsafe method here is the sandboxed decode.
    write_role = Role.OPERATOR


@extend_schema(tags=["results"])
class ResultReferenceViewSet(viewsets.ReadOnlyModelViewSet):
    """Every result reference, newest first (cursor pages); filters as on the results page."""

    queryset = ResultReference.objects.select_related("block")
    permission_classes = [ResultPermission]
    pagination_class = KeysetPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = ResultFilter

    def get_serializer_class(self):
        return ResultDetailSerializer if self.action == "retrieve" else ResultReferenceSerializer

    @extend_schema(
        responses={200: OpenApiTypes.OBJECT}, description="The static, safe preview (never unpickles)."
    )
    @action(detail=True, methods=["get"])
    def preview(self, request, pk=None):
        return Response(reference_preview(reference=self.get_object()))

    @extend_schema(
        request=None,
        responses={200: OpenApiTypes.OBJECT},
        description="Decode for real in the sandboxed process (operators). `ok` false when refused.",
    )
    @action(detail=True, methods=["post"])
    def decode(self, request, pk=None):
        return Response(reference_decode(reference=self.get_object()))

    @extend_schema(
        responses={(200, "application/octet-stream"): OpenApiResponse(response=OpenApiTypes.BINARY)}
    )
    @action(detail=True, methods=["get"])
    def raw(self, request, pk=None):
        reference = self.get_object()
        try:
            return raw_response(reference)
        except Http404 as exc:
            return Response({"detail": str(exc)}, status=404)
