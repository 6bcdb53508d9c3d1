"""The three roles, as Django groups, and the permission checks pages and the API share.

Roles are cumulative: an operator can do what a viewer can, an admin what an operator can.
Superusers pass every check.
"""

from enum import StrEnum

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"


ROLE_ORDER = [Role.VIEWER, Role.OPERATOR, Role.ADMIN]

ROLE_DESCRIPTIONS = {
    Role.VIEWER: "Browse runs, results and blocks; see static previews.",
    Role.OPERATOR: "Run flows, manage expiration, decode results in the sandbox.",
    Role.ADMIN: "Manage storage blocks and serializers, purge results.",
}


def user_roles(user: AbstractBaseUser | AnonymousUser) -> set[Role]:
    if not user.is_authenticated:
        return set()
    if user.is_superuser:
        return set(ROLE_ORDER)
    cached = getattr(user, "_resultdeck_roles", None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        highest = max((ROLE_ORDER.index(Role(n)) for n in names if n in Role._value2member_map_), default=-1)
        cached = set(ROLE_ORDER[: highest + 1])
        user._resultdeck_roles = cached
    return cached


def user_has_role(user: AbstractBaseUser | AnonymousUser, role: Role) -> bool:
    return role in user_roles(user)


def roles_ensure_groups() -> None:
    from django.contrib.auth.models import Group

    for role in ROLE_ORDER:
        Group.objects.get_or_create(name=role.value)
