"""manage.py run_flow and manage.py config (set/get/unset/view; the environment wins)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from apps.flows.models import FlowRun
from project import profile

ROOT = Path(__file__).resolve().parents[2]


def run_command(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_run_flow_runs_here_with_typed_params():
    output = run_command("run_flow", "orders-etl", "--param", "rows=12")
    assert output.startswith("COMPLETED")
    run = FlowRun.objects.get()
    assert run.parameters == {"rows": 12} and run.state == "COMPLETED"


@pytest.mark.django_db
def test_run_flow_submit_queues_the_run(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        output = run_command("run_flow", "flaky-quote", "-p", "symbol=Q", "--submit")
    run = FlowRun.objects.get()
    assert f"submitted flow run {run.pk}" in output and run.state == "SCHEDULED"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "no flow named 'nope'"),
        (["orders-etl", "--param", "rows"], "expected NAME=VALUE"),
        (["orders-etl", "--param", "rows=x"], "expected a whole number"),
    ],
)
def test_run_flow_reports_bad_input(args, message):
    with pytest.raises(CommandError, match=message):
        run_command("run_flow", *args)


@pytest.fixture
def profile_file(tmp_path, settings, monkeypatch):
    path = tmp_path / "profile.toml"
    settings.RESULTS_PROFILE_PATH = path
    for name in profile.PROFILE_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    return path


def test_config_set_get_view_unset(profile_file):
    output = run_command(
        "config", "set", "PREFECT_RESULTS_PERSIST_BY_DEFAULT=true", "RESULTS_LOCAL_STORAGE_PATH=/data/results"
    )
    assert "Set RESULTS_PERSIST_BY_DEFAULT='true'" in output
    assert profile.profile_read(path=profile_file) == {
        "RESULTS_PERSIST_BY_DEFAULT": "true",
        "RESULTS_LOCAL_STORAGE_PATH": "/data/results",
    }
    assert run_command("config", "get", "RESULTS_LOCAL_STORAGE_PATH").strip() == "/data/results"
    view = run_command("config", "view")
    assert "RESULTS_PERSIST_BY_DEFAULT='true' (from profile)" in view
    assert "RESULTS_DEFAULT_SERIALIZER='pickle' (from default)" in view
    run_command("config", "unset", "RESULTS_PERSIST_BY_DEFAULT")
    assert profile.profile_read(path=profile_file) == {"RESULTS_LOCAL_STORAGE_PATH": "/data/results"}


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("RESULTS_PERSIST_BY_DEFAULT=maybe", "must be true or false"),
        ("NOT_A_SETTING=1", "unknown setting"),
        ("RESULTS_DEFAULT_SERIALIZER", "expected NAME=VALUE"),
    ],
)
def test_config_refuses_bad_input(profile_file, assignment, message):
    with pytest.raises(CommandError, match=message):
        run_command("config", "set", assignment)


def test_settings_read_the_profile_and_the_environment_wins(tmp_path):
    var_dir = tmp_path / "var"
    profile.profile_set(
        path=var_dir / "profile.toml",
        assignments={
            "RESULTS_PERSIST_BY_DEFAULT": "true",
            "RESULTS_DEFAULT_SERIALIZER": "json",
        },
    )
    code = (
        "from django.conf import settings as s; "
        "print(s.RESULTS_PERSIST_BY_DEFAULT, s.RESULTS_DEFAULT_SERIALIZER)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESULTS_") and k != "RESULTDECK_PROFILE"}
    env.update(RESULTDECK_VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="project.settings")
    command = [sys.executable, "-c", "import django; django.setup(); " + code]
    from_profile = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert from_profile.stdout.split() == ["True", "json"]
    env["RESULTS_DEFAULT_SERIALIZER"] = "compressed/json"
    from_environment = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert from_environment.stdout.split() == ["True", "compressed/json"]


def test_the_persist_by_default_setting_from_the_profile_changes_what_a_script_persists(tmp_path):
    var_dir = tmp_path / "var"
    profile.profile_set(path=var_dir / "profile.toml", assignments={"RESULTS_PERSIST_BY_DEFAULT": "true"})
    script = tmp_path / "script.py"
    script.write_text(
        "from apps.flows import flow\n"
        "@flow\ndef plain():\n    return 'kept'\n"
        "state = plain(return_state=True)\n"
        "from apps.flows.models import FlowRun\n"
        "print(FlowRun.objects.get().result.key != '')\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RESULTS_") and k not in ("RESULTDECK_PROFILE", "DATABASE_URL")
    }
    env.update(RESULTDECK_VAR_DIR=str(var_dir), PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    output = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert output.returncode == 0, output.stderr
    assert output.stdout.strip() == "True"
    assert any((var_dir / "storage").iterdir())
