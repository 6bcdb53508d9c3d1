"""Django, set up on first use: scripts call the SDK without knowing about Django.

Importing this module is light (no Django); ``django_ensure`` sets Django up once.
"""

from __future__ import annotations

import os


def django_ensure() -> None:
    """Set Django up (the project's settings unless DJANGO_SETTINGS_MODULE names others), once."""
    from django.apps import apps

    if apps.ready:
        return
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    django.setup()
