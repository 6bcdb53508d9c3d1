"""The API of Prefect connections, for admins; `register` adds it to the project's single router.

The credential is write-only: responses say whether one is stored (`has_credential`), never what it
is; an update that leaves it out or blank keeps it.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from apps.blocks.models import StorageBlock
from apps.blocks.secrets import SecretsKeyError
from apps.core.permissions import HasRole
from apps.core.roles import Role

from . import services
from .client import ConnectionTestOutcome
from .models import AuthKind, PathMapping, PrefectConnection, SyncStatus


class PrefectConnectionSerializer(serializers.ModelSerializer):
    credential = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        help_text="The auth string or API key; write-only. Left out or blank on update keeps the stored one.",
    )
    has_credential = serializers.BooleanField(read_only=True)

    class Meta:
        model = PrefectConnection
        read_only_fields = [
            "id",
            "server_version",
            "sync_status",
            "sync_message",
            "sync_progress",
            "sync_started_at",
            "sync_finished_at",
            "created_at",
            "updated_at",
        ]
        fields = [
            *read_only_fields[:1],
            "name",
            "api_url",
            "ui_url",
            "auth_kind",
            "credential",
            "has_credential",
            "sync_enabled",
            "sync_interval_seconds",
            *read_only_fields[1:],
        ]
        validators: list = []  # the name's uniqueness is checked in services, with the pages' message

    def save_with(self, *, connection: PrefectConnection | None) -> PrefectConnection:
        data = {**self.validated_data}
        if connection is not None:
            for name in ("name", "api_url", "ui_url", "auth_kind", "sync_enabled", "sync_interval_seconds"):
                data.setdefault(name, getattr(connection, name))
        try:
            return services.connection_save(
                name=data["name"],
                api_url=data["api_url"],
                ui_url=data.get("ui_url", ""),
                auth_kind=data.get("auth_kind", AuthKind.NONE),
                credential=data.get("credential") or None,
                sync_enabled=data.get("sync_enabled", True),
                sync_interval_seconds=data.get("sync_interval_seconds"),
                connection=connection,
                user=self.context["request"].user,
            )
        except services.ConnectionInvalidError as error:
            raise serializers.ValidationError({error.field or "non_field_errors": [str(error)]}) from None

    def create(self, validated_data):
        return self.save_with(connection=None)

    def update(self, instance, validated_data):
        return self.save_with(connection=instance)


class ConnectionTestOutcomeSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    message = serializers.CharField()
    kind = serializers.CharField(
        help_text="unreachable, timeout, unauthorized, not-prefect, unsupported-version"
    )
    version = serializers.CharField()


class SyncRequestSerializer(serializers.Serializer):
    full = serializers.BooleanField(default=False, help_text="read everything again, not only changes")


@extend_schema(tags=["prefect"])
class PrefectConnectionViewSet(viewsets.ModelViewSet):
    """Prefect server connections: admins only, since they hold credentials and reach out to servers."""

    serializer_class = PrefectConnectionSerializer
    permission_classes = [HasRole]
    read_role = Role.ADMIN
    write_role = Role.ADMIN
    queryset = PrefectConnection.objects.all()
    filterset_fields = ["name", "sync_status", "sync_enabled"]

    @extend_schema(
        request=None, responses=ConnectionTestOutcomeSerializer, operation_id="prefect_connections_test"
    )
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Reach the server, check its version and the credentials; names the failure."""
        connection = self.get_object()
        try:
            outcome = services.connection_test_run(connection=connection)
        except SecretsKeyError as error:
            outcome = ConnectionTestOutcome(False, str(error), "credential")
        return Response(ConnectionTestOutcomeSerializer(outcome).data)

    @extend_schema(request=SyncRequestSerializer, responses={202: PrefectConnectionSerializer})
    @action(detail=True, methods=["post"])
    def sync(self, request, pk=None):
        """Queue a sync of this connection; its progress and outcome are on the connection."""
        from .tasks import sync_one

        connection = self.get_object()
        body = SyncRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        PrefectConnection.objects.filter(pk=connection.pk).update(sync_status=SyncStatus.QUEUED)
        sync_one.delay(str(connection.pk), full=body.validated_data["full"])
        connection.refresh_from_db()
        data = PrefectConnectionSerializer(connection, context={"request": request}).data
        return Response(data, status=status.HTTP_202_ACCEPTED)


@extend_schema_field(OpenApiTypes.STR)
class BlockSlugField(serializers.RelatedField):
    """A storage block named by its slug (``local-file-system/prefect-default``)."""

    def get_queryset(self):
        return StorageBlock.objects.all()

    def to_representation(self, value) -> str:
        return value.slug

    def to_internal_value(self, data):
        try:
            return StorageBlock.objects.get_by_slug(str(data))
        except StorageBlock.DoesNotExist as error:
            raise serializers.ValidationError(str(error)) from None


class PathMappingSerializer(serializers.ModelSerializer):
    block = BlockSlugField(help_text="the block's slug, TYPE/NAME")

    class Meta:
        model = PathMapping
        fields = ["id", "connection", "path_prefix", "block"]
        validators: list = []  # the prefix's uniqueness is checked in services, with the pages' message

    def save_with(self, *, mapping: PathMapping | None) -> PathMapping:
        data = self.validated_data
        try:
            return services.path_mapping_save(
                connection=data.get("connection", getattr(mapping, "connection", None)),
                path_prefix=data.get("path_prefix", getattr(mapping, "path_prefix", "")),
                block=data.get("block", getattr(mapping, "block", None)),
                mapping=mapping,
                user=self.context["request"].user,
            )
        except services.PathMappingInvalidError as error:
            raise serializers.ValidationError({error.field or "non_field_errors": [str(error)]}) from None

    def create(self, validated_data):
        return self.save_with(mapping=None)

    def update(self, instance, validated_data):
        if validated_data.get("connection", instance.connection) != instance.connection:
            raise serializers.ValidationError({"connection": ["a mapping stays on its connection"]})
        return self.save_with(mapping=instance)


@extend_schema(tags=["prefect"])
class PathMappingViewSet(viewsets.ModelViewSet):
    """Path mappings of Prefect's default storage onto blocks, per connection: admins only."""

    serializer_class = PathMappingSerializer
    permission_classes = [HasRole]
    read_role = Role.ADMIN
    write_role = Role.ADMIN
    queryset = PathMapping.objects.select_related("connection", "block")
    filterset_fields = ["connection"]

    def perform_destroy(self, instance):
        services.path_mapping_delete(mapping=instance, user=self.request.user)


def register(router: DefaultRouter) -> None:
    router.register("prefect-connections", PrefectConnectionViewSet, basename="prefect-connection")
    router.register("prefect-path-mappings", PathMappingViewSet, basename="prefect-path-mapping")
