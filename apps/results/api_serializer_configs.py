"""API of named serializer configs: viewers read them, admins manage them."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.response import Response

from apps.core.permissions import HasRole
from apps.core.roles import Role

from .models import SerializerConfig
from .serializer_configs import (
    SerializerConfigInvalidError,
    serializer_config_delete,
    serializer_config_describe,
    serializer_config_save,
)


@extend_schema_field(OpenApiTypes.OBJECT)
class ConfigField(serializers.JSONField):
    pass


class SerializerConfigSerializer(serializers.ModelSerializer):
    config = ConfigField(
        help_text="The serializer's config as written into result files, e.g. "
        '{"type": "compressed", "serializer": {"type": "json"}, "compressionlib": "gzip"}.'
    )
    summary = serializers.SerializerMethodField()

    class Meta:
        model = SerializerConfig
        fields = ["id", "name", "description", "config", "summary", "builtin", "created_at", "updated_at"]
        read_only_fields = ["id", "builtin", "created_at", "updated_at"]
        validators: list = []
        extra_kwargs = {"name": {"validators": []}}

    def get_summary(self, config: SerializerConfig) -> str:
        return serializer_config_describe(config.config)

    def _save(self, instance, validated_data):
        current = instance or SerializerConfig()
        try:
            return serializer_config_save(
                name=validated_data.get("name", current.name),
                config=validated_data.get("config", current.config),
                description=validated_data.get("description", current.description),
                instance=instance,
            )
        except SerializerConfigInvalidError as exc:
            raise serializers.ValidationError({exc.field or "non_field_errors": [exc.message]}) from None

    def create(self, validated_data):
        return self._save(None, validated_data)

    def update(self, instance, validated_data):
        return self._save(instance, validated_data)


@extend_schema(tags=["serializers"])
class SerializerConfigViewSet(viewsets.ModelViewSet):
    """Named serializer configs: viewers read them; admins manage them. Built-ins cannot change."""

    queryset = SerializerConfig.objects.all()
    serializer_class = SerializerConfigSerializer
    permission_classes = [HasRole]
    read_role = Role.VIEWER
    write_role = Role.ADMIN
    filterset_fields = ["builtin"]

    def destroy(self, request, *args, **kwargs):
        try:
            serializer_config_delete(config=self.get_object())
        except SerializerConfigInvalidError as exc:
            return Response({"detail": exc.message}, status=status.HTTP_400_BAD_REQUEST)
        return Response(status=status.HTTP_204_NO_CONTENT)
