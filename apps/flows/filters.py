"""Filters of the runs list, shared by the page and the API."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from apps.blocks.models import StorageBlock
from apps.results.filters import DATE_INPUT, SERIALIZER_CHOICES, YesNoFilter, created_range_filter

from .models import FlowRun, StateType


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

    class Meta:
        model = FlowRun
        fields: list[str] = []

    def filter_search(self, queryset, name, value):
        return queryset.annotate(_parameters_text=Cast("parameters", TextField())).filter(
            Q(name__icontains=value) | Q(_parameters_text__icontains=value)
        )

    def filter_has_result(self, queryset, name, value):
        return queryset.filter(result__isnull=value != "yes")

    def filter_expired(self, queryset, name, value):
        expired = Q(result__expiration__isnull=False, result__expiration__lte=timezone.now())
        if value == "yes":
            return queryset.filter(expired)
        return queryset.filter(result__isnull=False).exclude(expired)
