import os
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the first admin login if there is none. The username and password come from "
        "RESULTDECK_ADMIN_USER / RESULTDECK_ADMIN_PASSWORD, or a password is generated and printed once."
    )

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        username = os.environ.get("RESULTDECK_ADMIN_USER", "admin")
        password = os.environ.get("RESULTDECK_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        user = User.objects.create_superuser(username=username, email="", password=password)
        admin_group = Group.objects.filter(name="admin").first()
        if admin_group:
            user.groups.add(admin_group)
        shown = "(from RESULTDECK_ADMIN_PASSWORD)" if "RESULTDECK_ADMIN_PASSWORD" in os.environ else password
        self.stdout.write(
            self.style.SUCCESS(
                f"\n  Admin login created. Username: {username}   Password: {shown}\n"
                "  This password is shown only once; change it under Admin > Users.\n"
            )
        )
