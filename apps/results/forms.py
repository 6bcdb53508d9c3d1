"""Forms of the results pages that validate more than a filter does."""

from __future__ import annotations

import datetime as dt

from django import forms

from apps.blocks.models import StorageBlock
from apps.core.formatting import DurationInvalidError, duration_parse


class RetentionPolicyForm(forms.Form):
    """A retention policy's scope and duration. The flow is one of ``flow_names`` (the caller knows
    which flows exist), so a typo cannot make a policy that never applies."""

    block = forms.ModelChoiceField(
        queryset=StorageBlock.objects.all(), required=False, empty_label="any", label="Storage block"
    )
    flow_name = forms.ChoiceField(
        required=False,
        label="Flow",
        error_messages={"invalid_choice": "no flow named %(value)s is registered or has run"},
    )
    expire_after = forms.CharField(
        initial="30d",
        label="Expire after",
        max_length=40,
        help_text="e.g. 12h, 30d, 8w",
        widget=forms.TextInput(attrs={"size": 6}),
    )

    def __init__(self, *args, flow_names: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["flow_name"].choices = [("", "any"), *((name, name) for name in flow_names)]

    def clean_expire_after(self) -> dt.timedelta:
        try:
            value = duration_parse(self.cleaned_data["expire_after"])
        except DurationInvalidError as exc:
            raise forms.ValidationError(str(exc)) from None
        if value <= dt.timedelta(0):
            raise forms.ValidationError("results must expire a positive time after creation")
        return value

    def clean(self) -> dict:
        cleaned = super().clean()
        if not self.errors and cleaned.get("block") is None and not cleaned.get("flow_name"):
            raise forms.ValidationError("a retention policy needs a storage block, a flow, or both")
        return cleaned
