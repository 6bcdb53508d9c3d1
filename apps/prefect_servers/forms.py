"""The connection form: the credential is write-only ("leave blank to keep"), as block secrets are."""

from __future__ import annotations

from django import forms

from apps.blocks.models import StorageBlock

from .models import AuthKind, PathMapping, PrefectConnection


class ConnectionForm(forms.Form):
    name = forms.CharField(max_length=100)
    api_url = forms.URLField(
        label="API URL",
        max_length=500,
        help_text="e.g. http://127.0.0.1:4200/api, or a Cloud workspace's API URL",
    )
    ui_url = forms.URLField(
        label="UI URL", max_length=500, required=False, help_text="for links back to Prefect"
    )
    auth_kind = forms.ChoiceField(label="Authentication", choices=AuthKind.choices, initial=AuthKind.NONE)
    credential = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="the auth string (user:password) or the API key; never shown again",
    )
    sync_enabled = forms.BooleanField(label="Sync on schedule", required=False, initial=True)
    sync_interval_seconds = forms.IntegerField(label="Sync interval (seconds)", min_value=30, initial=300)

    def __init__(self, *args, connection: PrefectConnection | None = None, **kwargs) -> None:
        self.connection = connection
        if connection is not None and not args and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": connection.name,
                "api_url": connection.api_url,
                "ui_url": connection.ui_url,
                "auth_kind": connection.auth_kind,
                "sync_enabled": connection.sync_enabled,
                "sync_interval_seconds": connection.sync_interval_seconds,
            }
        super().__init__(*args, **kwargs)
        if connection is not None and connection.has_credential:
            self.fields["credential"].help_text = "a credential is stored: leave blank to keep it"

    def clean(self):
        data = super().clean()
        stored = self.connection is not None and self.connection.has_credential
        if (
            data.get("auth_kind", AuthKind.NONE) != AuthKind.NONE
            and not data.get("credential")
            and not stored
        ):
            self.add_error("credential", "this authentication needs a credential")
        return data

    def connection_unsaved(self) -> PrefectConnection:
        """A connection with the typed values (and the stored credential when none is typed), for a test."""
        from apps.blocks.secrets import secrets_encrypt

        data = self.cleaned_data
        connection = PrefectConnection(
            name=data["name"],
            api_url=data["api_url"],
            ui_url=data.get("ui_url") or "",
            auth_kind=data["auth_kind"],
        )
        if data.get("credential"):
            connection.encrypted_credential = secrets_encrypt({"credential": data["credential"]})
        elif self.connection is not None:
            connection.encrypted_credential = self.connection.encrypted_credential
        return connection


class PathMappingForm(forms.Form):
    path_prefix = forms.CharField(
        label="Path prefix",
        max_length=1024,
        help_text="where Prefect's default storage writes, e.g. /home/ada/.prefect/storage",
    )
    block = forms.ModelChoiceField(
        label="Storage block",
        queryset=StorageBlock.objects.order_by("block_type", "name"),
        empty_label=None,
        help_text="the block whose basepath holds the same files",
    )

    def __init__(self, *args, mapping: PathMapping | None = None, **kwargs) -> None:
        if mapping is not None and not args and "initial" not in kwargs:
            kwargs["initial"] = {"path_prefix": mapping.path_prefix, "block": mapping.block_id}
        super().__init__(*args, **kwargs)
        self.fields["block"].label_from_instance = lambda block: block.slug
