from django import forms
from django.contrib import admin, messages

from apps.core.admin import RoleModelAdmin
from apps.core.roles import Role

from .models import CleanupJob, PurgeAuditEntry, ResultReference, RetentionPolicy, SerializerConfig
from .serializer_configs import SerializerConfigInvalidError, serializer_config_normalize


class SerializerConfigAdminForm(forms.ModelForm):
    class Meta:
        model = SerializerConfig
        fields = ["name", "description", "config"]

    def clean_config(self):
        try:
            return serializer_config_normalize(self.cleaned_data["config"])
        except SerializerConfigInvalidError as exc:
            raise forms.ValidationError(exc.message) from None


@admin.register(SerializerConfig)
class SerializerConfigAdmin(RoleModelAdmin):
    form = SerializerConfigAdminForm
    list_display = ["name", "builtin", "description", "updated_at"]
    list_filter = ["builtin"]
    search_fields = ["name"]
    readonly_fields = ["builtin", "created_at", "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.builtin:
            return ["name", "config", "description", "builtin", "created_at", "updated_at"]
        return self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not (obj is not None and obj.builtin)


# --------------------------------------------------------------------------------------------------
# Results, with the purge actions; retention policies; jobs and the purge audit (read only)


class AdminRoleModelAdmin(RoleModelAdmin):
    """Results are added by the engine and removed by purges, not by hand."""

    add_role = None
    delete_role = None


class ExpiredListFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("expired", "Expired (not purged)"), ("live", "Live"), ("purged", "Purged")]

    def queryset(self, request, queryset):
        from django.utils import timezone

        if self.value() == "expired":
            return queryset.filter(purged_at__isnull=True, expiration__lte=timezone.now())
        if self.value() == "live":
            return queryset.filter(purged_at__isnull=True)
        if self.value() == "purged":
            return queryset.filter(purged_at__isnull=False)
        return queryset


def _job_for_selection(modeladmin, request, queryset, *, kind: str):
    """Show the counts on a confirmation page, as Django's delete action does; run on ``post=yes``."""
    from django.conf import settings
    from django.shortcuts import redirect

    from .tasks import job_create, job_run, job_start

    ids = list(queryset.filter(purged_at__isnull=True).values_list("pk", flat=True))
    if not ids:
        modeladmin.message_user(
            request, "None of the selected results is live: nothing to purge.", messages.WARNING
        )
        return None
    if request.POST.get("post") != "yes":
        return _confirmation_page(modeladmin, request, queryset, kind=kind, live=len(ids))
    job = job_create(kind=kind, params={"ids": ids}, user=request.user, source="admin")
    if len(ids) <= settings.RESULTS_PURGE_INLINE_LIMIT:
        job = job_run(job_id=job.pk)
    else:
        job_start(job)
        modeladmin.message_user(
            request, f"{len(ids):,} results: the purge runs in the background.", messages.INFO
        )
    return redirect("results:cleanup-job", pk=job.pk)


def _confirmation_page(modeladmin, request, queryset, *, kind: str, live: int):
    from django.contrib.admin import helpers
    from django.template.response import TemplateResponse

    expired = queryset.expired().count() if kind == CleanupJob.Kind.PURGE_EXPIRED else live
    selected = queryset.count()
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Are you sure?",
        "opts": modeladmin.model._meta,
        "action_name": request.POST.get("action", ""),
        "action_label": CleanupJob.Kind(kind).label,
        "kind": kind,
        "selected": selected,
        "live": live,
        "to_purge": expired,
        "to_keep": live - expired,
        "already_purged": selected - live,
        # Posted back as it came: "all matching" stays a flag rather than every id, which may be millions.
        "select_across": request.POST.get("select_across") == "1",
        "pks": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/results/purge_confirmation.html", context)


class ResultReferenceAdmin(AdminRoleModelAdmin):
    list_display = [
        "id",
        "__str__",
        "block",
        "serializer_type",
        "size_bytes",
        "created",
        "expiration",
        "purged_at",
    ]
    list_filter = [ExpiredListFilter, "block", "layout", "serializer_type"]
    search_fields = ["key", "storage_location", "cache_key"]
    date_hierarchy = "created"
    list_select_related = ["block"]
    show_full_result_count = False
    actions = ["clear_expired_results", "delete_results_and_objects"]
    readonly_fields = [field.name for field in ResultReference._meta.fields]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Clear expired results")
    def clear_expired_results(self, request, queryset):
        """Purge the selected results that have expired; the others stay."""
        return _job_for_selection(self, request, queryset, kind=CleanupJob.Kind.PURGE_EXPIRED)

    @admin.action(description="Delete selected results and their stored objects")
    def delete_results_and_objects(self, request, queryset):
        """Purge the selected results now, except cache entries that are still valid."""
        return _job_for_selection(self, request, queryset, kind=CleanupJob.Kind.PURGE_SELECTED)


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(AdminRoleModelAdmin):
    list_display = ["__str__", "block", "flow_name", "expire_after", "enabled", "created_at"]
    list_filter = ["enabled", "block"]
    add_role = Role.ADMIN
    delete_role = Role.ADMIN


@admin.register(CleanupJob)
class CleanupJobAdmin(AdminRoleModelAdmin):
    list_display = [
        "id",
        "kind",
        "status",
        "source",
        "processed",
        "total",
        "deleted",
        "missing",
        "bytes_freed",
        "created_at",
    ]
    list_filter = ["kind", "status", "source"]
    readonly_fields = [field.name for field in CleanupJob._meta.fields]
    change_role = None


@admin.register(PurgeAuditEntry)
class PurgeAuditEntryAdmin(AdminRoleModelAdmin):
    list_display = [
        "started_at",
        "username",
        "source",
        "reason",
        "purged",
        "deleted",
        "missing",
        "bytes_freed",
        "error_count",
    ]
    list_filter = ["source", "reason"]
    readonly_fields = [field.name for field in PurgeAuditEntry._meta.fields]
    change_role = None


admin.site.register(ResultReference, ResultReferenceAdmin)
