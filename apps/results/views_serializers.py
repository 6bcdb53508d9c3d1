"""Pages for named serializer configs: a list for everyone, forms for admins."""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from apps.core.permissions import role_required
from apps.core.roles import Role, user_has_role

from .models import SerializerConfig
from .serializer_configs import (
    INNER_SERIALIZER_TYPES,
    JSON_LIBRARIES,
    PICKLE_LIBRARIES,
    SERIALIZER_TYPES,
    SerializerConfigInvalidError,
    serializer_config_build,
    serializer_config_choices,
    serializer_config_delete,
    serializer_config_describe,
    serializer_config_save,
)
from .serializers import COMPRESSION_LIBRARIES


def _choices(values) -> list[tuple[str, str]]:
    return [(value, value) for value in values]


class SerializerConfigForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="Code uses the config by this name.",
        widget=forms.TextInput(attrs={"placeholder": "fast-json", "autocomplete": "off"}),
    )
    description = forms.CharField(max_length=300, required=False)
    type = forms.ChoiceField(
        choices=_choices(SERIALIZER_TYPES),
        initial="pickle",
        help_text="compressed wraps an inner pickle or JSON serializer.",
    )
    inner = forms.ChoiceField(
        label="Inner serializer",
        choices=_choices(INNER_SERIALIZER_TYPES),
        initial="pickle",
        help_text="Only for compressed.",
    )
    compressionlib = forms.ChoiceField(
        label="Compression",
        choices=_choices(COMPRESSION_LIBRARIES),
        initial="lzma",
        help_text="Only for compressed.",
    )
    picklelib = forms.ChoiceField(
        label="Pickle library",
        choices=_choices(PICKLE_LIBRARIES),
        initial="cloudpickle",
        help_text="For pickle, or compressed pickle.",
    )
    jsonlib = forms.ChoiceField(
        label="JSON library",
        choices=_choices(JSON_LIBRARIES),
        initial="json",
        help_text="For JSON, or compressed JSON.",
    )

    def __init__(self, *args, instance: SerializerConfig | None = None, **kwargs):
        self.instance = instance
        if instance is not None and not kwargs.get("initial"):
            kwargs["initial"] = {
                "name": instance.name,
                "description": instance.description,
                **serializer_config_choices(instance.config),
            }
        super().__init__(*args, **kwargs)
        self.config: dict | None = None

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            self.config = serializer_config_build(
                type=cleaned["type"],
                picklelib=cleaned["picklelib"],
                jsonlib=cleaned["jsonlib"],
                compressionlib=cleaned["compressionlib"],
                inner=cleaned["inner"],
            )
        except SerializerConfigInvalidError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return cleaned


@role_required(Role.VIEWER)
@require_safe
def serializer_list(request):
    configs = [
        (config, serializer_config_describe(config.config), json.dumps(config.config, indent=2))
        for config in SerializerConfig.objects.all()
    ]
    return render(
        request,
        "results/serializers/list.html",
        {"configs": configs, "can_manage": user_has_role(request.user, Role.ADMIN)},
    )


def _form_page(request, form, instance=None, status=200):
    return render(
        request,
        "results/serializers/form.html",
        {
            "form": form,
            "instance": instance,
            "config_preview": json.dumps(form.config, indent=2) if form.config else "",
        },
        status=status,
    )


def _save(request, form, instance=None):
    if not form.is_valid():
        return None
    try:
        return serializer_config_save(
            name=form.cleaned_data["name"],
            config=form.config,
            description=form.cleaned_data["description"],
            instance=instance,
        )
    except SerializerConfigInvalidError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return None


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def serializer_create(request):
    form = SerializerConfigForm(request.POST or None)
    if request.method == "POST":
        saved = _save(request, form)
        if saved is not None:
            messages.success(request, f"Serializer config {saved.name} saved.")
            return redirect("results:serializer-list")
        return _form_page(request, form, status=400)
    return _form_page(request, form)


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def serializer_update(request, pk: int):
    instance = get_object_or_404(SerializerConfig, pk=pk)
    if instance.builtin:
        messages.info(
            request, f"{instance.name} is built in and cannot be changed; create a new config instead."
        )
        return redirect("results:serializer-list")
    form = SerializerConfigForm(request.POST or None, instance=instance)
    if request.method == "POST":
        saved = _save(request, form, instance)
        if saved is not None:
            messages.success(request, f"Serializer config {saved.name} saved.")
            return redirect("results:serializer-list")
        return _form_page(request, form, instance, status=400)
    return _form_page(request, form, instance)


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def serializer_delete(request, pk: int):
    instance = get_object_or_404(SerializerConfig, pk=pk)
    error = ""
    if request.method == "POST":
        try:
            serializer_config_delete(config=instance)
        except SerializerConfigInvalidError as exc:
            error = exc.message
        else:
            messages.success(request, f"Serializer config {instance.name} deleted.")
            return redirect("results:serializer-list")
    return render(
        request,
        "results/serializers/confirm_delete.html",
        {"instance": instance, "error": error},
        status=400 if error else 200,
    )
