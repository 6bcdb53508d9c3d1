"""What the database knows about results: named serializers and references to stored results.

Result bytes live in storage, never here, except the literals None, True and False, which are
stored inline (as the seed documents describe) and have no file.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.formatting import duration_format


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
    # Where the expiration came from (ExpirationSource); empty when it never expires or is unknown.
    expiration_source = models.CharField(max_length=10, blank=True, default="")
    retention_policy = models.ForeignKey(
        "results.RetentionPolicy", null=True, blank=True, on_delete=models.SET_NULL, related_name="results"
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
            # The expiring and expired counts and the bytes expiring read this index alone (an
            # index-only scan), never the table's pages, which are one a row when a million results
            # expire on the same day.
            models.Index(
                fields=["expiration", "id"],
                include=["size_bytes", "is_literal"],
                condition=models.Q(purged_at__isnull=True, expiration__isnull=False),
                name="resultref_live_expiration_idx",
            ),
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


# --------------------------------------------------------------------------------------------------
# Expiration, retention and cleanup


class ExpirationSource(models.TextChoices):
    RECORD = "record", "From the result file"
    CACHE = "cache", "From cache_expiration"
    POLICY = "policy", "From a retention policy"
    MANUAL = "manual", "Set by an operator"


class RetentionPolicy(models.Model):
    """ "Expire N after creation" for the results of one storage block, one flow, or both.

    The most specific policy wins: block and flow, then flow, then block.
    """

    block = models.ForeignKey(
        "blocks.StorageBlock",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="retention_policies",
    )
    flow_name = models.CharField(max_length=200, blank=True, default="")
    expire_after = models.DurationField()
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["block_id", "flow_name"]
        constraints = [
            models.UniqueConstraint(fields=["block", "flow_name"], name="retention_block_flow_unique"),
            models.CheckConstraint(
                condition=models.Q(block__isnull=False) | ~models.Q(flow_name=""), name="retention_has_scope"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope_label}: expire {self.expire_after} after creation"

    @property
    def expire_after_text(self) -> str:
        return duration_format(self.expire_after)

    @property
    def scope_label(self) -> str:
        parts = []
        if self.block_id:
            parts.append(f"block {self.block.slug}")
        if self.flow_name:
            parts.append(f"flow {self.flow_name}")
        return " and ".join(parts)


class CleanupJob(models.Model):
    """A background job over results (purge, expiration change, index, orphan scan), with progress."""

    class Kind(models.TextChoices):
        PURGE_EXPIRED = "purge-expired", "Clear expired results"
        PURGE_SELECTED = "purge-selected", "Delete results and their stored objects"
        EXPIRATION = "expiration", "Change expiration"
        INDEX = "index", "Index a storage block"
        ORPHAN_SCAN = "orphan-scan", "Scan for orphans"
        ORPHAN_CLEAN = "orphan-clean", "Clean up orphans"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    # What to work on: {"ids": [...]}, {"filters": "querystring"}, {"block": "s3/x"}, {"older_than_s": ...}
    params = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=20, default="page")  # page, admin, beat, command, api
    total = models.IntegerField(null=True, blank=True)
    processed = models.IntegerField(default=0)
    deleted = models.IntegerField(default=0)
    missing = models.IntegerField(default=0)
    skipped = models.IntegerField(default=0)
    bytes_freed = models.BigIntegerField(default=0)
    error_count = models.IntegerField(default=0)
    # A few error messages and, for scans and indexing, what was found.
    outcome = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["kind", "-created_at"], name="cleanupjob_kind_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def elapsed_text(self) -> str:
        if not (self.started_at and self.finished_at):
            return ""
        seconds = (self.finished_at - self.started_at).total_seconds()
        return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.0f} min"

    @property
    def percent(self) -> int:
        if self.is_finished:
            return 100
        if not self.total:
            return 0
        return min(100, int(100 * self.processed / self.total))


class PurgeAuditEntry(models.Model):
    """One purge pass (committed batch by batch): who, when, what it deleted. Never edited by hand."""

    job = models.ForeignKey(
        CleanupJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit"
    )
    source = models.CharField(max_length=20, default="page")
    reason = models.CharField(max_length=40, default="expired")  # expired, selected, block-delete, orphan
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(max_length=150, blank=True, default="")
    started_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    batches = models.IntegerField(default=0)
    purged = models.IntegerField(default=0)
    deleted = models.IntegerField(default=0)
    missing = models.IntegerField(default=0)
    bytes_freed = models.BigIntegerField(default=0)
    error_count = models.IntegerField(default=0)
    block_slugs = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name_plural = "purge audit entries"

    def __str__(self) -> str:
        who = self.username or self.source
        return f"purge {self.started_at:%Y-%m-%d %H:%M} by {who}: {self.purged} result(s)"
