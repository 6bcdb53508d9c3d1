"""Blocks in the Django admin: settings as JSON with every stored secret masked.

A masked value (or a secret left out) keeps the stored secret, as in the pages and the API.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages

from apps.core.admin import RoleModelAdmin
from apps.results.block_removal import block_delete_with_results

from . import services
from .filesystems import SECRET_MASK
from .models import BlockType, StorageBlock
from .secrets import SecretsKeyError


class StorageBlockAdminForm(forms.ModelForm):
    settings_json = forms.CharField(
        label="Settings (JSON)",
        widget=forms.Textarea(attrs={"rows": 10, "cols": 80, "style": "font-family: monospace"}),
        help_text=f"Constructor arguments of the filesystem. A stored secret shows as {SECRET_MASK}: "
        "leave it (or leave it out) to keep it; null clears it.",
    )

    class Meta:
        model = StorageBlock
        fields = ["block_type", "name"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.filesystem = None
        if not self.instance._state.adding:
            self.fields["block_type"].disabled = True
            try:
                shown = services.block_settings_masked(self.instance)
            except SecretsKeyError:
                shown = self.instance.settings
            self.initial["settings_json"] = json.dumps(shown, indent=2, sort_keys=True)
        else:
            self.initial.setdefault("settings_json", json.dumps({"basepath": "/srv/results"}, indent=2))

    def clean_settings_json(self):
        try:
            value = json.loads(self.cleaned_data["settings_json"])
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}).") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("The settings must be a JSON object.")
        return value

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        block = None if self.instance._state.adding else self.instance
        block_type = block.block_type if block else cleaned.get("block_type")
        try:
            self.filesystem = services.block_settings_prepare(
                block_type=block_type, settings=cleaned["settings_json"], block=block
            )
        except services.BlockValidationError as exc:
            self.add_error("settings_json", exc.message)
        except SecretsKeyError as exc:
            self.add_error(None, str(exc))
        return cleaned

    def validate_unique(self):
        # Uniqueness is checked (with a clearer message) by services on save.
        pass


@admin.register(StorageBlock)
class StorageBlockAdmin(RoleModelAdmin):
    form = StorageBlockAdminForm
    list_display = ["slug", "block_type", "points_to", "created_by", "updated_at", "last_used_at"]
    list_filter = ["block_type"]
    search_fields = ["name"]
    readonly_fields = ["id", "created_at", "updated_at", "created_by", "last_used_at"]
    fields = [
        "block_type",
        "name",
        "settings_json",
        "id",
        "created_at",
        "updated_at",
        "created_by",
        "last_used_at",
    ]
    actions = ["test_connection"]

    def save_model(self, request, obj, form, change):
        try:
            if change:
                block = StorageBlock.objects.get(pk=obj.pk)
                saved = services.block_update(
                    block=block,
                    name=form.cleaned_data["name"],
                    settings=form.cleaned_data["settings_json"],
                    user=request.user,
                )
            else:
                saved = services.block_create(
                    block_type=form.cleaned_data["block_type"],
                    name=form.cleaned_data["name"],
                    settings=form.cleaned_data["settings_json"],
                    user=request.user,
                )
        except services.BlockValidationError as exc:
            # Reached only on a race (a name taken meanwhile): the form validated everything else.
            messages.error(request, exc.message)
            raise
        obj.pk = saved.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        block_delete_with_results(block=obj, references="refuse", user=request.user)

    @admin.action(description="Test the connection of the selected blocks")
    def test_connection(self, request, queryset):
        for block in queryset:
            result = services.block_test_connection(block=block)
            level = messages.SUCCESS if result.ok else messages.ERROR
            self.message_user(request, f"{block.slug}: {result.message}", level=level)


__all__ = ["BlockType", "StorageBlockAdmin"]
