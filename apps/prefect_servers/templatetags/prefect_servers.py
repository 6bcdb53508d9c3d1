from django import template

from apps.core.roles import Role, user_has_role

register = template.Library()


@register.filter
def may_manage_prefect(user) -> bool:
    """Connections are for admins: the menu shows them only to those who may open them."""
    return user_has_role(user, Role.ADMIN)
