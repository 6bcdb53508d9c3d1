"""The admin site follows the same roles as the pages.

Django's model permissions are not consulted: a staff viewer given "Can change storage block" gets
nothing. Every ModelAdmin of the project derives from `RoleModelAdmin`, which says which role may
view, add, change and delete: the admin role by default, as the admin is where blocks, serializers
and results are managed (viewers and operators browse the pages). Accounts, groups and tokens, who
holds which role, are for superusers.
Sign-ins are throttled like the login page.
"""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from .login import ThrottledAdminAuthenticationForm
from .roles import Role, user_has_role

admin.site.login_form = ThrottledAdminAuthenticationForm


class RoleAdminMixin:
    """Permissions by role. A role of None: nobody may (superusers neither)."""

    view_role: Role | None = Role.ADMIN
    add_role: Role | None = Role.ADMIN
    change_role: Role | None = Role.ADMIN
    delete_role: Role | None = Role.ADMIN

    def role_permits(self, request, role: Role | None) -> bool:
        user = request.user
        return role is not None and user.is_active and user.is_staff and user_has_role(user, role)

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_view_permission(self, request, obj=None):
        return self.role_permits(request, self.view_role)

    def has_add_permission(self, request, obj=None):
        return self.role_permits(request, self.add_role)

    def has_change_permission(self, request, obj=None):
        return self.role_permits(request, self.change_role)

    def has_delete_permission(self, request, obj=None):
        return self.role_permits(request, self.delete_role)

    def get_actions(self, request):
        # An action acts on the objects: unless it names the permissions it needs, it needs the
        # change role (whoever may only look at cleanup jobs runs no action on them).
        actions = super().get_actions(request)
        if self.has_change_permission(request):
            return actions
        return {name: action for name, action in actions.items() if hasattr(action[0], "allowed_permissions")}


class RoleModelAdmin(RoleAdminMixin, admin.ModelAdmin):
    pass


class SuperuserAdminMixin(RoleAdminMixin):
    """Whoever may edit accounts may give themselves any role: only superusers may."""

    def role_permits(self, request, role: Role | None) -> bool:
        return role is not None and request.user.is_active and request.user.is_superuser


for model, model_admin in ((get_user_model(), UserAdmin), (Group, GroupAdmin), (TokenProxy, TokenAdmin)):
    admin.site.unregister(model)
    admin.site.register(model, type(model_admin.__name__, (SuperuserAdminMixin, model_admin), {}))
