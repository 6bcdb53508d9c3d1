from django import forms
from django.contrib import admin

from .models import SerializerConfig
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
class SerializerConfigAdmin(admin.ModelAdmin):
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
