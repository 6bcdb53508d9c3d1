"""API views of the blocks app; `register` adds them to the project's single router.

Secrets are write-only: responses show which secrets are set (``secrets_set``) and the settings with
each secret replaced by the mask; an update that leaves a secret out, blank or masked keeps it.
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from apps.core.permissions import HasRole
from apps.core.roles import Role
from apps.results import block_removal

from . import services
from .models import BlockType, StorageBlock
from .secrets import SecretsKeyError


@extend_schema_field(OpenApiTypes.OBJECT)
class SettingsField(serializers.JSONField):
    """Settings in, masked settings out."""

    def to_representation(self, block: StorageBlock):
        try:
            return services.block_settings_masked(block)
        except SecretsKeyError:
            return block.settings


class StorageBlockSerializer(serializers.ModelSerializer):
    slug = serializers.CharField(read_only=True)
    settings = SettingsField(
        source="*",
        required=False,
        help_text="Constructor arguments of the filesystem. Secrets are returned masked; on update, a secret "
        "left out, blank or masked keeps the stored value (null clears it).",
    )
    secrets_set = serializers.SerializerMethodField(help_text="Names of the secrets stored for this block.")
    points_to = serializers.CharField(read_only=True)
    created_by = serializers.SlugRelatedField(read_only=True, slug_field="username")
    results_count = serializers.SerializerMethodField()
    results_bytes = serializers.SerializerMethodField()

    class Meta:
        model = StorageBlock
        fields = [
            "id",
            "slug",
            "block_type",
            "name",
            "settings",
            "secrets_set",
            "points_to",
            "results_count",
            "results_bytes",
            "created_at",
            "updated_at",
            "created_by",
            "last_used_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at", "last_used_at"]
        # Name uniqueness per type is checked in services, with the message pages use.
        validators: list = []

    def get_secrets_set(self, block: StorageBlock) -> list[str]:
        try:
            return services.block_secret_paths(block)
        except SecretsKeyError:
            return []

    def _usage(self, block: StorageBlock) -> block_removal.BlockUsage:
        usage = self.context.get("usage")
        if usage is None:
            usage = self.context["usage"] = block_removal.blocks_usage()
        return usage.get(block.pk, block_removal.BlockUsage())

    def get_results_count(self, block: StorageBlock) -> int:
        return self._usage(block).results

    def get_results_bytes(self, block: StorageBlock) -> int:
        return self._usage(block).bytes

    def to_internal_value(self, data):
        # "settings" maps onto the whole object (source="*"); take it apart here.
        settings = data.get("settings") if hasattr(data, "get") else None
        validated = super().to_internal_value(
            {key: value for key, value in data.items() if key != "settings"}
        )
        if settings is not None:
            if not isinstance(settings, dict):
                raise serializers.ValidationError({"settings": ["must be a JSON object"]})
            validated["settings"] = settings
        return validated

    def validate(self, attrs):
        if self.instance is None:
            for required in ("block_type", "name", "settings"):
                if required not in attrs:
                    raise serializers.ValidationError({required: ["This field is required."]})
        elif "block_type" in attrs and attrs["block_type"] != self.instance.block_type:
            raise serializers.ValidationError(
                {"block_type": ["the type of a block cannot change: create a new block instead"]}
            )
        return attrs

    def create(self, validated_data):
        return _validation_errors(
            services.block_create,
            block_type=validated_data["block_type"],
            name=validated_data["name"],
            settings=validated_data["settings"],
            user=self.context["request"].user,
        )

    def update(self, instance, validated_data):
        settings = validated_data.get("settings")
        if settings is None:
            settings = _settings_for_keeping(instance)
        return _validation_errors(
            services.block_update,
            block=instance,
            name=validated_data.get("name", instance.name),
            settings=settings,
            user=self.context["request"].user,
        )


def _settings_for_keeping(block: StorageBlock) -> dict:
    """Submitted settings that change nothing: the public ones, secrets left out (so kept)."""
    return dict(block.settings)


def _validation_errors(function, **kwargs):
    try:
        return function(**kwargs)
    except services.BlockValidationError as exc:
        raise serializers.ValidationError({exc.field or "non_field_errors": [exc.message]}) from None
    except SecretsKeyError as exc:
        raise serializers.ValidationError({"non_field_errors": [str(exc)]}) from None


class ConnectionTestResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    message = serializers.CharField()
    seconds = serializers.FloatField()


class UnsavedBlockTestSerializer(serializers.Serializer):
    block_type = serializers.ChoiceField(choices=BlockType.choices)
    settings = serializers.JSONField()


class DetailTestSerializer(serializers.Serializer):
    settings = serializers.JSONField(
        required=False,
        help_text="Settings to try instead of the stored ones; blank secrets mean the stored ones.",
    )


def _test_response(result: services.ConnectionTestResult) -> Response:
    return Response({"ok": result.ok, "message": result.message, "seconds": result.seconds})


@extend_schema(tags=["blocks"])
class StorageBlockViewSet(viewsets.ModelViewSet):
    """Storage blocks: viewers read them; admins create, change, test and delete them."""

    serializer_class = StorageBlockSerializer
    permission_classes = [HasRole]
    read_role = Role.VIEWER
    write_role = Role.ADMIN
    filterset_fields = ["block_type", "name"]
    ordering_fields = ["block_type", "name", "created_at", "last_used_at"]

    def get_queryset(self) -> QuerySet[StorageBlock]:
        return StorageBlock.objects.select_related("created_by")

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "references",
                str,
                enum=["refuse", "detach", "purge"],
                description="What to do with results stored through the block: refuse (the default: 409 if "
                "there are any), detach (keep them, without a block) or purge (delete their stored objects).",
            )
        ],
        responses={
            204: None,
            409: inline_serializer(
                "BlockInUse", {"detail": serializers.CharField(), "references": serializers.IntegerField()}
            ),
        },
    )
    def destroy(self, request, *args, **kwargs):
        block = self.get_object()
        choice = request.query_params.get("references", "refuse")
        try:
            block_removal.block_delete_with_results(block=block, references=choice, user=request.user)
        except services.BlockInUseError as exc:
            return Response(
                {"detail": str(exc), "references": exc.reference_count}, status=status.HTTP_409_CONFLICT
            )
        except block_removal.BlockPurgeIncompleteError as exc:
            return Response(
                {"detail": str(exc), "references": len(exc.report.errors)}, status=status.HTTP_409_CONFLICT
            )
        except services.BlockValidationError as exc:
            return Response({"detail": exc.message}, status=status.HTTP_400_BAD_REQUEST)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=DetailTestSerializer, responses=ConnectionTestResultSerializer, operation_id="blocks_test"
    )
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Write, read back and delete a probe object (with the stored settings, or the ones sent)."""
        block = self.get_object()
        body = DetailTestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if "settings" not in body.validated_data:
            return _test_response(services.block_test_connection(block=block))
        filesystem = _validation_errors(
            services.block_settings_prepare,
            block_type=block.block_type,
            settings=body.validated_data["settings"],
            block=block,
        )
        return _test_response(services.block_test_connection(filesystem=filesystem))

    @extend_schema(
        request=UnsavedBlockTestSerializer,
        responses=ConnectionTestResultSerializer,
        operation_id="blocks_test_unsaved",
    )
    @action(detail=False, methods=["post"], url_path="test")
    def test_unsaved(self, request):
        """Test settings before saving them as a block."""
        body = UnsavedBlockTestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        filesystem = _validation_errors(
            services.block_settings_validate,
            block_type=body.validated_data["block_type"],
            settings=body.validated_data["settings"],
        )
        return _test_response(services.block_test_connection(filesystem=filesystem))


def register(router: DefaultRouter) -> None:
    router.register("blocks", StorageBlockViewSet, basename="block")
