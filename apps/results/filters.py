"""Filters of the results list, shared by the page, the API and bulk selections (``results_matching``)."""

from __future__ import annotations

import datetime as dt

import django_filters
from django import forms
from django.apps import apps
from django.db.models import Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Concat
from django.utils import timezone

from apps.blocks.models import StorageBlock

from .models import ResultReference

SERIALIZER_CHOICES = [
    ("pickle", "pickle"),
    ("json", "json"),
    ("compressed/pickle", "compressed/pickle"),
    ("compressed/json", "compressed/json"),
]
STATE_CHOICES = [
    ("SCHEDULED", "Scheduled"),
    ("PENDING", "Pending"),
    ("RUNNING", "Running"),
    ("COMPLETED", "Completed"),
    ("CACHED", "Cached"),
    ("FAILED", "Failed"),
    ("CRASHED", "Crashed"),
    ("CANCELLED", "Cancelled"),
]
YES_NO_CHOICES = [("yes", "Yes"), ("no", "No")]
DATE_INPUT = forms.DateInput(attrs={"type": "date"})


def day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def created_range_filter(queryset: QuerySet, name: str, value: dt.date) -> QuerySet:
    """``created_after`` includes its day; ``created_before`` includes its day too (up to its end)."""
    if name.endswith("after"):
        return queryset.filter(created__gte=day_start(value))
    return queryset.filter(created__lt=day_start(value + dt.timedelta(days=1)))


class YesNoFilter(django_filters.ChoiceFilter):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("choices", YES_NO_CHOICES)
        kwargs.setdefault("empty_label", "Any")
        super().__init__(*args, **kwargs)


def _run_models():
    # Looked up lazily: the flows app depends on results, not the other way round.
    return apps.get_model("flows", "FlowRun"), apps.get_model("flows", "TaskRun")


class ResultFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="filter_search",
        label="Search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "key or value type"}),
    )
    uri = django_filters.CharFilter(
        method="filter_uri",
        label="Storage URI prefix",
        widget=forms.TextInput(attrs={"placeholder": "s3://bucket/results/"}),
    )
    flow = django_filters.CharFilter(
        method="filter_flow", label="Flow", widget=forms.TextInput(attrs={"list": "flow-names"})
    )
    task = django_filters.CharFilter(
        method="filter_task", label="Task", widget=forms.TextInput(attrs={"placeholder": "task name"})
    )
    state = django_filters.ChoiceFilter(
        method="filter_state", choices=STATE_CHOICES, label="Run state", empty_label="Any"
    )
    created_after = django_filters.DateFilter(method=created_range_filter, label="From", widget=DATE_INPUT)
    created_before = django_filters.DateFilter(method=created_range_filter, label="To", widget=DATE_INPUT)
    block = django_filters.ModelChoiceFilter(
        field_name="block", queryset=StorageBlock.objects.all(), label="Storage block", empty_label="Any"
    )
    serializer = django_filters.ChoiceFilter(
        field_name="serializer_type", choices=SERIALIZER_CHOICES, label="Serializer", empty_label="Any"
    )
    has_run = YesNoFilter(method="filter_has_run", label="Has a run")
    expired = YesNoFilter(method="filter_expired", label="Expired")

    class Meta:
        model = ResultReference
        fields: list[str] = []

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(key__icontains=value) | Q(value_type__icontains=value))

    def filter_uri(self, queryset, name, value):
        # The URI is location + "/" + key; a prefix inside the location alone needs no concatenation.
        return queryset.annotate(
            _uri=Concat("storage_location", Value("/"), "key"), _uri_bare=Concat("storage_location", "key")
        ).filter(
            Q(storage_location__startswith=value)
            | Q(_uri__startswith=value)
            | Q(storage_location__endswith="/", _uri_bare__startswith=value)
        )

    def filter_flow(self, queryset, name, value):
        flow_run, task_run = _run_models()
        return queryset.filter(
            Exists(flow_run.objects.filter(result=OuterRef("pk"), flow_name=value))
            | Exists(task_run.objects.filter(result=OuterRef("pk"), flow_run__flow_name=value))
        )

    def filter_task(self, queryset, name, value):
        _, task_run = _run_models()
        return queryset.filter(Exists(task_run.objects.filter(result=OuterRef("pk"), task_name=value)))

    def filter_state(self, queryset, name, value):
        flow_run, task_run = _run_models()
        return queryset.filter(
            Exists(flow_run.objects.filter(result=OuterRef("pk"), state=value))
            | Exists(task_run.objects.filter(result=OuterRef("pk"), state=value))
        )

    def filter_has_run(self, queryset, name, value):
        flow_run, task_run = _run_models()
        used = Exists(flow_run.objects.filter(result=OuterRef("pk"))) | Exists(
            task_run.objects.filter(result=OuterRef("pk"))
        )
        return queryset.filter(used) if value == "yes" else queryset.exclude(used)

    def filter_expired(self, queryset, name, value):
        expired = Q(expiration__isnull=False, expiration__lte=timezone.now())
        return queryset.filter(expired) if value == "yes" else queryset.exclude(expired)
