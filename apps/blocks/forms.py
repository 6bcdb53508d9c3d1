"""Block forms: one per block type, sharing the name field and the validation in services.

Secret fields are write-only: they never render a value, and on edit a blank one keeps the
stored secret ("set; leave blank to keep").
"""

from __future__ import annotations

import json
from typing import Any

from django import forms

from .filesystems import SECRET_MASK
from .models import BlockType, StorageBlock
from .secrets import SecretsKeyError
from .services import (
    BlockValidationError,
    block_name_taken,
    block_name_validate,
    block_secret_paths,
    block_settings_prepare,
)

SECRET_KEPT_HELP = "Set; leave blank to keep."  # noqa: S105 - a help text, not a secret


class BlockTypeChoiceForm(forms.Form):
    block_type = forms.ChoiceField(label="Type", choices=BlockType.choices, initial=BlockType.S3)


class BlockFormBase(forms.Form):
    block_type: str = ""
    # Form field that shows an error services report for a setting, when the names differ.
    error_fields: dict[str, str] = {}

    name = forms.CharField(
        max_length=100,
        help_text="Lowercase letters, digits and dashes. Code refers to the block as TYPE/NAME.",
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "placeholder": "prod-results"}
        ),
    )

    def __init__(self, *args: Any, block: StorageBlock | None = None, **kwargs: Any) -> None:
        self.block = block
        if block is not None and not kwargs.get("initial"):
            kwargs["initial"] = {"name": block.name, **self.initial_from_block(block)}
        super().__init__(*args, **kwargs)
        self.filesystem = None
        self.stored_secrets: list[str] = []
        if block is not None:
            try:
                self.stored_secrets = block_secret_paths(block)
            except SecretsKeyError:
                self.stored_secrets = []
        self.secrets_prepare()

    # -- per type --
    def initial_from_block(self, block: StorageBlock) -> dict[str, Any]:
        return dict(block.settings)

    def settings_submitted(self) -> dict[str, Any]:
        raise NotImplementedError

    def secrets_prepare(self) -> None:
        """Mark secret fields that hold a stored value."""

    # -- validation --
    def clean_name(self) -> str:
        try:
            name = block_name_validate(self.cleaned_data.get("name", ""))
        except BlockValidationError as exc:
            raise forms.ValidationError(exc.message) from None
        exclude = self.block.pk if self.block is not None else None
        if block_name_taken(block_type=self.block_type, name=name, exclude=exclude):
            raise forms.ValidationError(
                f"A {self.block_type} block named {name!r} already exists: choose another name."
            )
        return name

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if any(name != "name" for name in self.errors):
            return cleaned
        try:
            self.filesystem = block_settings_prepare(
                block_type=self.block_type, settings=self.settings_submitted(), block=self.block
            )
        except BlockValidationError as exc:
            self.add_error(self.error_field(exc.field), _sentence(exc.message))
        except SecretsKeyError as exc:
            self.add_error(None, str(exc))
        return cleaned

    def error_field(self, name: str | None) -> str | None:
        """The form field that shows an error services report for setting ``name`` (None: the form)."""
        name = self.error_fields.get(name or "", name)
        return name if name in self.fields else None


def _sentence(message: str) -> str:
    message = message.strip()
    message = message[:1].upper() + message[1:]
    return message if message.endswith((".", ")")) else message + "."


class LocalBlockForm(BlockFormBase):
    block_type = BlockType.LOCAL

    basepath = forms.CharField(
        label="Base path",
        max_length=1024,
        help_text="An absolute folder on the server and workers, e.g. /srv/results. It must be writable.",
        widget=forms.TextInput(attrs={"placeholder": "/srv/results", "spellcheck": "false"}),
    )

    def settings_submitted(self) -> dict[str, Any]:
        return {"basepath": self.cleaned_data.get("basepath", "").strip()}


class S3BlockForm(BlockFormBase):
    block_type = BlockType.S3

    CREDENTIALS_KEYS = "keys"
    CREDENTIALS_ENVIRONMENT = "environment"

    bucket_path = forms.CharField(
        label="Bucket path",
        max_length=1024,
        help_text="The bucket, optionally followed by a prefix: my-bucket/results.",
        widget=forms.TextInput(attrs={"placeholder": "my-bucket/results", "spellcheck": "false"}),
    )
    region_name = forms.CharField(
        label="Region",
        required=False,
        max_length=64,
        help_text="e.g. eu-west-1. Required for AWS; S3-compatible servers may leave it blank.",
        widget=forms.TextInput(attrs={"placeholder": "us-east-1", "spellcheck": "false"}),
    )
    endpoint_url = forms.CharField(
        label="Endpoint URL",
        required=False,
        max_length=1024,
        help_text="Only for S3-compatible servers (MinIO, SeaweedFS, Ceph): https://s3.example.com.",
        widget=forms.TextInput(attrs={"placeholder": "https://s3.example.com", "spellcheck": "false"}),
    )
    credentials = forms.ChoiceField(
        label="Credentials",
        choices=[
            (CREDENTIALS_KEYS, "Access key and secret"),
            (CREDENTIALS_ENVIRONMENT, "The server's environment / instance credentials"),
        ],
        initial=CREDENTIALS_KEYS,
        widget=forms.RadioSelect,
    )
    aws_access_key_id = forms.CharField(
        label="Access key ID",
        required=False,
        max_length=256,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    aws_secret_access_key = forms.CharField(
        label="Secret access key",
        required=False,
        max_length=1024,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    aws_session_token = forms.CharField(
        label="Session token",
        required=False,
        max_length=4096,
        strip=False,
        help_text="Only for temporary credentials.",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    aws_session_token_clear = forms.BooleanField(label="Remove the stored session token", required=False)

    def initial_from_block(self, block: StorageBlock) -> dict[str, Any]:
        settings = block.settings
        return {
            "bucket_path": settings.get("bucket_path", ""),
            "region_name": settings.get("region_name") or "",
            "endpoint_url": settings.get("endpoint_url") or "",
            "aws_access_key_id": settings.get("aws_access_key_id") or "",
            "credentials": self.CREDENTIALS_KEYS
            if settings.get("aws_access_key_id")
            else self.CREDENTIALS_ENVIRONMENT,
        }

    def secrets_prepare(self) -> None:
        for name in ("aws_secret_access_key", "aws_session_token"):
            if name in self.stored_secrets:
                self.fields[name].help_text = SECRET_KEPT_HELP
                self.fields[name].widget.attrs["placeholder"] = "•••••••• (set)"
        if "aws_session_token" not in self.stored_secrets:
            del self.fields["aws_session_token_clear"]

    def settings_submitted(self) -> dict[str, Any]:
        data = self.cleaned_data
        use_keys = data.get("credentials") != self.CREDENTIALS_ENVIRONMENT
        settings: dict[str, Any] = {
            "bucket_path": data.get("bucket_path", "").strip(),
            "region_name": data.get("region_name", "").strip() or None,
            "endpoint_url": data.get("endpoint_url", "").strip() or None,
            "use_environment_credentials": not use_keys,
            "aws_access_key_id": (data.get("aws_access_key_id") or "").strip() if use_keys else None,
        }
        if use_keys:
            # Blank means "keep the stored one" (services.settings_for_update), so blanks are left out.
            if data.get("aws_secret_access_key"):
                settings["aws_secret_access_key"] = data["aws_secret_access_key"]
            if data.get("aws_session_token"):
                settings["aws_session_token"] = data["aws_session_token"]
            elif data.get("aws_session_token_clear"):
                settings["aws_session_token"] = None
        return settings


class RemoteBlockForm(BlockFormBase):
    block_type = BlockType.REMOTE
    error_fields = {"settings": "options"}

    basepath = forms.CharField(
        label="fsspec URL",
        max_length=1024,
        help_text="Where results go, as an fsspec URL: s3://bucket/dir, gcs://bucket/dir, memory://area.",
        widget=forms.TextInput(attrs={"placeholder": "gcs://my-bucket/results", "spellcheck": "false"}),
    )
    options = forms.CharField(
        label="Options (JSON)",
        required=False,
        help_text='Keyword arguments for the fsspec filesystem, e.g. {"anon": false}. They are encrypted '
        "and never shown again.",
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false", "class": "mono"}),
    )
    options_clear = forms.BooleanField(label="Remove the stored options", required=False)

    def initial_from_block(self, block: StorageBlock) -> dict[str, Any]:
        return {"basepath": block.settings.get("basepath", "")}

    def secrets_prepare(self) -> None:
        stored = [
            path.removeprefix("settings.") for path in self.stored_secrets if path.startswith("settings.")
        ]
        if not stored:
            del self.fields["options_clear"]
            return
        # Options may hold credentials under any name: say which are set, never their values.
        self.fields["options"].help_text = (
            f"Set: {', '.join(stored)}; leave blank to keep. New JSON replaces them all "
            f"({SECRET_MASK} as a value keeps that one)."
        )
        self.fields["options"].widget.attrs["placeholder"] = "•••••••• (set)"

    def clean_options(self) -> dict[str, Any] | None:
        text = (self.cleaned_data.get("options") or "").strip()
        if not text:
            return None
        try:
            options = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"The options are not valid JSON: {exc.msg} (line {exc.lineno})."
            ) from None
        if not isinstance(options, dict):
            raise forms.ValidationError('The options must be a JSON object, e.g. {"anon": false}.')
        return options

    def settings_submitted(self) -> dict[str, Any]:
        settings: dict[str, Any] = {"basepath": self.cleaned_data.get("basepath", "").strip()}
        options = self.cleaned_data.get("options")
        # Left out means "keep the stored options" (services.settings_for_update); None clears them.
        if options is not None:
            settings["settings"] = options
        elif self.cleaned_data.get("options_clear"):
            settings["settings"] = None
        return settings


BLOCK_FORMS: dict[str, type[BlockFormBase]] = {
    BlockType.S3: S3BlockForm,
    BlockType.LOCAL: LocalBlockForm,
    BlockType.REMOTE: RemoteBlockForm,
}


def block_form_class(block_type: str | None) -> type[BlockFormBase]:
    return BLOCK_FORMS.get(block_type or "", S3BlockForm)


class BlockDeleteForm(forms.Form):
    references = forms.ChoiceField(
        choices=[
            ("detach", "Keep the results: detach them from the block (they stay browsable)"),
            ("purge", "Purge the results: delete their stored objects"),
        ],
        initial="detach",
        widget=forms.RadioSelect,
        required=False,
    )
