"""Storage blocks: named, saved filesystems that code refers to by slug (`s3/prod`)."""

import uuid

from django.conf import settings as django_settings
from django.core.validators import RegexValidator
from django.db import models

from .filesystems import WritableFileSystem

block_name_validator = RegexValidator(
    r"^[a-z0-9]+(?:-[a-z0-9]+)*$",
    "Use lowercase letters, digits and single dashes, e.g. prod-results.",
)


class BlockType(models.TextChoices):
    LOCAL = "local-file-system", "Local file system"
    S3 = "s3", "S3 bucket"
    REMOTE = "remote-file-system", "Remote file system (fsspec URL)"


class StorageBlockQuerySet(models.QuerySet):
    def get_by_slug(self, slug: str) -> "StorageBlock":
        block_type, _, name = slug.partition("/")
        if not name:
            raise StorageBlock.DoesNotExist(f"'{slug}' is not a block slug: expected TYPE/NAME, e.g. s3/prod")
        try:
            return self.get(block_type=block_type, name=name)
        except StorageBlock.DoesNotExist:
            raise StorageBlock.DoesNotExist(f"no storage block '{slug}'") from None


class StorageBlock(models.Model):
    # A UUID, because records carry it as `storage_block_id`, as Prefect's do.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    block_type = models.CharField(max_length=32, choices=BlockType.choices)
    name = models.CharField(max_length=100, validators=[block_name_validator])
    # Non-secret settings of the filesystem class (basepath, bucket_path, endpoint_url, ...).
    settings = models.JSONField(default=dict, blank=True)
    # Secret settings as one Fernet token over their JSON; never rendered back to anyone.
    encrypted_secrets = models.TextField(blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = StorageBlockQuerySet.as_manager()

    class Meta:
        ordering = ["block_type", "name"]
        constraints = [
            models.UniqueConstraint(fields=["block_type", "name"], name="storageblock_type_name_unique"),
        ]
        indexes = [models.Index(fields=["last_used_at"], name="storageblock_last_used_idx")]

    def __str__(self) -> str:
        return self.slug

    @property
    def slug(self) -> str:
        return f"{self.block_type}/{self.name}"

    @property
    def points_to(self) -> str:
        """Where results go (a URL or path), safe to show to anyone who may browse blocks."""
        from .services import block_points_to

        return block_points_to(self)

    def filesystem(self) -> WritableFileSystem:
        """The configured filesystem, secrets decrypted; changes nothing in the database."""
        from .services import block_filesystem

        return block_filesystem(self)

    def secret_paths(self) -> list[str]:
        """Names of the secrets stored for this block (never their values)."""
        from .services import block_secret_paths

        return block_secret_paths(self)
