"""What the database knows about results: named serializers and references to stored results.

Result bytes live in storage, never here, except the literals None, True and False, which are
stored inline (as the seed documents describe) and have no file.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class SerializerConfig(models.Model):
    """A named serializer, usable by name from code and chosen in forms."""

    name = models.CharField(max_length=100, unique=True)
    # The serializer's own JSON config, exactly as it is written into result files.
    config = models.JSONField()
    description = models.CharField(max_length=300, blank=True, default="")
    builtin = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ResultReferenceQuerySet(models.QuerySet):
    def live(self):
        return self.filter(purged_at__isnull=True)

    def expired(self, *, now=None):
        return self.live().filter(expiration__lte=now or timezone.now())


class ResultReference(models.Model):
    """One persisted result: where it is, how it was serialized, when it expires."""

    class Layout(models.TextChoices):
        V3_RECORD = "v3-record", "Prefect 3 record"
        V3_RAW = "v3-raw", "Prefect 3 raw payload"
        V3_METADATA = "v3-metadata", "Prefect 3 metadata only"
        V2_BLOB = "v2-blob", "Prefect 2 blob"
        LITERAL = "literal", "Literal (in the database)"
        UNKNOWN = "unknown", "Unknown"

    block = models.ForeignKey(
        "blocks.StorageBlock", null=True, blank=True, on_delete=models.PROTECT, related_name="results"
    )
    # The storage's base location as a URI (s3://bucket/prefix, /abs/path): results written to an
    # unsaved filesystem have no block, and this still says where they are.
    storage_location = models.CharField(max_length=1024, blank=True, default="")
    key = models.CharField(max_length=1024, blank=True, default="")
    # Where the metadata lives when the store keeps it apart (Prefect 3 metadata_storage).
    metadata_location = models.CharField(max_length=1024, blank=True, default="")
    layout = models.CharField(max_length=16, choices=Layout.choices, default=Layout.V3_RECORD)
    # A short label for lists and filters ("pickle", "compressed/pickle", "json"); the full
    # config is kept beside it.
    serializer_type = models.CharField(max_length=64, blank=True, default="")
    serializer_config = models.JSONField(null=True, blank=True)
    value_type = models.CharField(max_length=200, blank=True, default="")
    size_bytes = models.BigIntegerField(null=True, blank=True)
    is_literal = models.BooleanField(default=False)
    literal_value = models.JSONField(null=True, blank=True)
    prefect_version = models.CharField(max_length=64, blank=True, default="")
    cache_key = models.CharField(max_length=256, blank=True, default="")
    expiration = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)
    purged_at = models.DateTimeField(null=True, blank=True)
    purged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ResultReferenceQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["storage_location", "key"],
                condition=models.Q(is_literal=False),
                name="resultref_location_key_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["-created", "-id"], name="resultref_created_idx"),
            models.Index(fields=["expiration"], name="resultref_expiration_idx"),
            models.Index(fields=["block", "-created"], name="resultref_block_created_idx"),
            models.Index(fields=["serializer_type", "-created"], name="resultref_serializer_idx"),
            models.Index(fields=["cache_key"], name="resultref_cache_key_idx"),
            models.Index(fields=["purged_at"], name="resultref_purged_idx"),
        ]

    def __str__(self) -> str:
        return "literal" if self.is_literal else f"{self.storage_location.rstrip('/')}/{self.key}"

    @property
    def is_expired(self) -> bool:
        return self.expiration is not None and self.expiration <= timezone.now()

    @property
    def is_purged(self) -> bool:
        return self.purged_at is not None
