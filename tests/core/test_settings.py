"""Production settings are strict: secrets come from the environment and the deploy checks pass."""

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "RESULTDECK_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True
    )


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env={
            "DJANGO_DEBUG": "off",
            "DJANGO_SECRET_KEY": "x" * 20 + "production-secret-key-with-enough-entropy-1234567890",
            "RESULTDECK_SECRETS_KEY": Fernet.generate_key().decode(),
            "DJANGO_ALLOWED_HOSTS": "resultdeck.example.com",
            "RESULTDECK_VAR_DIR": str(tmp_path),
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_secrets(tmp_path):
    result = _manage("check", env={"DJANGO_DEBUG": "off", "RESULTDECK_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "set DJANGO_SECRET_KEY and RESULTDECK_SECRETS_KEY" in result.stderr
    # Nothing was generated for production: secrets are never defaulted.
    assert not (tmp_path / ".secret_key").exists()


def test_embedded_default_generates_its_secrets_once(tmp_path):
    env = {"DJANGO_DEBUG": "on", "RESULTDECK_VAR_DIR": str(tmp_path)}
    assert _manage("check", env=env).returncode == 0
    first = (tmp_path / ".secret_key").read_text()
    assert _manage("check", env=env).returncode == 0
    assert (tmp_path / ".secret_key").read_text() == first
    assert oct((tmp_path / ".secrets_key").stat().st_mode & 0o777) == "0o600"


def test_empty_secrets_copied_from_the_example_count_as_missing(tmp_path):
    result = _manage(
        "check",
        env={
            "DJANGO_DEBUG": "off",
            "DJANGO_SECRET_KEY": "",
            "RESULTDECK_SECRETS_KEY": "",
            "RESULTDECK_VAR_DIR": str(tmp_path),
        },
    )
    assert result.returncode != 0
    assert "set DJANGO_SECRET_KEY and RESULTDECK_SECRETS_KEY" in result.stderr


def test_the_example_env_file_runs_the_embedded_default(tmp_path):
    env_file = ROOT / ".env.example"
    values = {}
    for line in env_file.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value.strip('"')
    result = _manage("check", env={**values, "RESULTDECK_VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
