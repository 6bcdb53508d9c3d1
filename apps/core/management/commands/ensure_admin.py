import os
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.shortcuts import resolve_url


def login_box(*, lines: list[str]) -> str:
    """``lines`` framed in a box, so a password stands out among the servers' start-up logs."""
    width = max(len(line) for line in lines)
    rule = "─" * (width + 2)
    return "\n".join([f"┌{rule}┐", *(f"│ {line.ljust(width)} │" for line in lines), f"└{rule}┘"])


class Command(BaseCommand):
    help = (
        "Create the first admin login if there is none. The username and password come from "
        "RESULTDECK_ADMIN_USER / RESULTDECK_ADMIN_PASSWORD, or a password is generated and printed once."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--base-url", default="", help="The site address (http://127.0.0.1:8000) for the login URL"
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
        lines = ["Admin login created"]
        if options["base_url"]:
            lines.append(f"  Log in at: {options['base_url'].rstrip('/')}{resolve_url('login')}")
        lines += [
            f"  Username:  {username}",
            f"  Password:  {shown}",
            "This password is shown only once; change it under Admin > Users.",
        ]
        self.stdout.write(self.style.SUCCESS(login_box(lines=lines)))
