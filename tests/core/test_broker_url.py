"""The embedded filesystem broker connects without Kombu's "No hostname was supplied" warning,
whether the broker URL is left to its default or given as ``filesystem://``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONNECT = (
    "import django, logging; logging.basicConfig(); django.setup();"
    "from project.celery import app; connection = app.connection_for_write(); connection._info();"
    "print(connection.as_uri())"
)


@pytest.mark.parametrize("given", [None, "filesystem://", "filesystem:///"])
def test_the_filesystem_broker_connects_without_a_hostname_warning(given, tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "CELERY_BROKER_URL"}
    env.update(DJANGO_SETTINGS_MODULE="project.settings", RESULTDECK_VAR_DIR=str(tmp_path))
    if given is not None:
        env["CELERY_BROKER_URL"] = given
    done = subprocess.run(
        [sys.executable, "-c", CONNECT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("filesystem://")
    assert "No hostname was supplied" not in done.stderr
