"""Role checks for pages (a mixin and a decorator) and for the API (DRF permission classes)."""

from functools import wraps

from django.contrib.auth.mixins import AccessMixin
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission

from .roles import Role, user_has_role


class RoleRequiredMixin(AccessMixin):
    required_role: Role = Role.VIEWER

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not user_has_role(request.user, self.required_role):
            raise PermissionDenied(f"This needs the {self.required_role} role.")
        return super().dispatch(request, *args, **kwargs)


def role_required(role: Role):
    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not user_has_role(request.user, role):
                raise PermissionDenied(f"This needs the {role} role.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


class HasRole(BasePermission):
    """API access by role: `read_role` for safe methods, `write_role` for the rest."""

    read_role = Role.VIEWER
    write_role = Role.ADMIN

    def has_permission(self, request, view):
        role = getattr(view, "read_role", self.read_role)
        if request.method not in SAFE_METHODS:
            role = getattr(view, "write_role", self.write_role)
        return bool(request.user and request.user.is_authenticated and user_has_role(request.user, role))
