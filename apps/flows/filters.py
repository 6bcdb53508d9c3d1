"""Filters of the runs list, shared by the page and the API."""

from __future__ import annotations

import json

import django_filters
from django import forms
from django.apps import apps
from django.db import connections
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from apps.blocks.models import StorageBlock
from apps.results.filters import DATE_INPUT, SERIALIZER_CHOICES, YesNoFilter, created_range_filter

from .models import FlowRun, StateType

# The filters of runs synced from Prefect servers: left off the form while there is no server.
PREFECT_FILTERS = ("connection", "deployment", "work_pool", "tag")


def connection_choices() -> list[tuple[str, str]]:
    """The Prefect connections runs are synced from. Looked up lazily, as the results filters look up
    runs: connections live in an app above this one."""
    if not apps.is_installed("apps.prefect_servers"):
        return []
    model = apps.get_model("prefect_servers", "PrefectConnection")
    return [(str(pk), name) for pk, name in model.objects.order_by("name").values_list("pk", "name")]


class FlowRunFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="filter_search",
        label="Search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "run name or parameters"}),
    )
    flow = django_filters.CharFilter(
        field_name="flow_name", label="Flow", widget=forms.TextInput(attrs={"list": "flow-names"})
    )
    state = django_filters.ChoiceFilter(choices=StateType.choices, label="State", empty_label="Any")
    created_after = django_filters.DateFilter(method=created_range_filter, label="From", widget=DATE_INPUT)
    created_before = django_filters.DateFilter(method=created_range_filter, label="To", widget=DATE_INPUT)
    block = django_filters.ModelChoiceFilter(
        field_name="result__block",
        queryset=StorageBlock.objects.all(),
        label="Storage block",
        empty_label="Any",
    )
    serializer = django_filters.ChoiceFilter(
        field_name="result__serializer_type",
        choices=SERIALIZER_CHOICES,
        label="Serializer",
        empty_label="Any",
    )
    has_result = YesNoFilter(method="filter_has_result", label="Has a result")
    expired = YesNoFilter(method="filter_expired", label="Result expired")
    # Runs synced from Prefect servers: each filter has an index that also keeps the list's order.
    connection = django_filters.ChoiceFilter(
        field_name="source_connection_id",
        choices=connection_choices,
        label="Prefect server",
        empty_label="Any",
    )
    deployment = django_filters.CharFilter(field_name="deployment", label="Deployment")
    work_pool = django_filters.CharFilter(field_name="work_pool", label="Work pool")
    tag = django_filters.CharFilter(method="filter_tag", label="Tag")

    class Meta:
        model = FlowRun
        fields: list[str] = []

    @property
    def form(self):
        if not hasattr(self, "_form"):
            form = super().form
            if not connection_choices() and not any(self.data.get(name) for name in PREFECT_FILTERS):
                for name in PREFECT_FILTERS:
                    del form.fields[name]
        return self._form

    def filter_search(self, queryset, name, value):
        return queryset.annotate(_parameters_text=Cast("parameters", TextField())).filter(
            Q(name__icontains=value) | Q(_parameters_text__icontains=value)
        )

    def filter_tag(self, queryset, name, value):
        if connections[queryset.db].vendor == "postgresql":
            return queryset.filter(tags__contains=[value])  # jsonb @>, served by a GIN index
        # SQLite has no JSON containment: the tag as a JSON string inside the list's JSON text.
        return queryset.annotate(_tags_text=Cast("tags", TextField())).filter(
            _tags_text__contains=json.dumps(value)
        )

    def filter_has_result(self, queryset, name, value):
        return queryset.filter(result__isnull=value != "yes")

    def filter_expired(self, queryset, name, value):
        expired = Q(result__expiration__isnull=False, result__expiration__lte=timezone.now())
        if value == "yes":
            return queryset.filter(expired)
        return queryset.filter(result__isnull=False).exclude(expired)
