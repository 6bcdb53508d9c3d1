"""Connections to Prefect servers, how their storage maps onto Resultdeck blocks, and sync state."""

import uuid

from django.conf import settings as django_settings
from django.db import models

DEFAULT_SYNC_INTERVAL_SECONDS = 300


class AuthKind(models.TextChoices):
    NONE = "none", "None"
    # A self-hosted server's PREFECT_SERVER_API_AUTH_STRING ("user:password"), sent as basic auth.
    BASIC = "basic", "Basic auth string (self-hosted)"
    # A Prefect Cloud API key, sent as a bearer token to the workspace's API URL.
    API_KEY = "api-key", "Prefect Cloud API key"


class SyncStatus(models.TextChoices):
    NEVER = "never", "Never synced"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    OK = "ok", "Synced"
    FAILED = "failed", "Failed"


class PrefectConnection(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    api_url = models.URLField(max_length=500, help_text="e.g. http://127.0.0.1:4200/api")
    ui_url = models.URLField(max_length=500, blank=True, default="", help_text="for links back to Prefect")
    auth_kind = models.CharField(max_length=10, choices=AuthKind.choices, default=AuthKind.NONE)
    # {"credential": "..."} as one Fernet token (apps.blocks.secrets); never rendered back.
    encrypted_credential = models.TextField(blank=True, default="", editable=False)
    sync_enabled = models.BooleanField(default=True)
    sync_interval_seconds = models.PositiveIntegerField(default=DEFAULT_SYNC_INTERVAL_SECONDS)
    server_version = models.CharField(max_length=64, blank=True, default="")
    # Incremental sync: the largest `updated` seen per kind ({"flow_runs": "...", "task_runs": "..."}).
    sync_cursor = models.JSONField(default=dict, blank=True)
    sync_status = models.CharField(max_length=10, choices=SyncStatus.choices, default=SyncStatus.NEVER)
    sync_message = models.TextField(blank=True, default="")
    # {"flows": n, "deployments": n, "flow_runs": n, "task_runs": n, "results": n, "requests": n}
    sync_progress = models.JSONField(default=dict, blank=True)
    sync_started_at = models.DateTimeField(null=True, blank=True)
    sync_finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_credential(self) -> bool:
        return bool(self.encrypted_credential)

    def run_url(self, *, kind: str, prefect_id: str) -> str:
        """The run's page in the Prefect UI (``kind``: flow-run or task-run), or "" without a UI URL."""
        if not self.ui_url:
            return ""
        return f"{self.ui_url.rstrip('/')}/runs/{kind}/{prefect_id}"


class PathMapping(models.Model):
    """Results in Prefect's default storage carry absolute keys; a prefix maps them onto a block."""

    connection = models.ForeignKey(PrefectConnection, on_delete=models.CASCADE, related_name="path_mappings")
    path_prefix = models.CharField(max_length=1024, help_text="e.g. /home/ada/.prefect/storage")
    block = models.ForeignKey("blocks.StorageBlock", on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["connection", "path_prefix"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "path_prefix"], name="pathmapping_prefix_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.path_prefix} -> {self.block.slug}"


class StorageBlockLink(models.Model):
    """A Prefect block document, read once, and the Resultdeck block it became (or was mapped to)."""

    connection = models.ForeignKey(PrefectConnection, on_delete=models.CASCADE, related_name="block_links")
    block_document_id = models.UUIDField()
    block_type_slug = models.CharField(max_length=64, blank=True, default="")
    # Null when the document could not be read or is of a kind Resultdeck cannot open.
    block = models.ForeignKey(
        "blocks.StorageBlock", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    problem = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "block_document_id"], name="blocklink_connection_document_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.connection.name}:{self.block_document_id}"
