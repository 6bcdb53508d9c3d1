"""The first admin login is printed once, in a box, with the login URL."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def ensure_admin(**options) -> str:
    out = StringIO()
    call_command("ensure_admin", stdout=out, no_color=True, **options)
    return out.getvalue()


def test_the_password_is_printed_once_in_a_box_with_the_login_url(monkeypatch):
    monkeypatch.delenv("RESULTDECK_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("RESULTDECK_ADMIN_USER", raising=False)
    lines = ensure_admin(base_url="http://127.0.0.1:8000/").strip().splitlines()
    assert lines[0].startswith("┌") and lines[-1].startswith("└")
    assert all(line.startswith("│") and line.endswith("│") for line in lines[1:-1])
    assert len({len(line) for line in lines}) == 1
    text = "\n".join(lines)
    assert "Log in at: http://127.0.0.1:8000/login/" in text
    password = next(line for line in lines if "Password:" in line).split("Password:")[1].strip(" │")
    assert get_user_model().objects.get(username="admin").check_password(password)
    assert ensure_admin(base_url="http://127.0.0.1:8000/") == ""
