from django import template

from apps.core.roles import Role, user_has_role
from apps.prefect_servers.history import history_complete

register = template.Library()


@register.filter
def may_manage_prefect(user) -> bool:
    """Connections are for admins: the menu shows them only to those who may open them."""
    return user_has_role(user, Role.ADMIN)


@register.filter
def prefect_history_complete(run) -> bool:
    """A finished synced run whose state history was read from its server."""
    return history_complete(run)
