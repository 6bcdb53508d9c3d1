"""Prefect 3.9.1 and Resultdeck run the same Prefect code; what a user observes must be the same.

Every ``cases_*.py`` module here holds a ``CASES`` list (see ``case.py``). All cases run once per
session in each implementation, each in one process that writes its observations as JSON, so real
Prefect (from its throwaway venv, with its temporary server) starts only once. Resultdeck runs the
same code with only the import lines changed, on a private SQLite database and storage folder.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.compat.differential.case import Case, import_rewrite

PROJECT_ROOT = Path(__file__).resolve().parents[3]
RUNNER = Path(__file__).with_name("runner.py")
sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
from prefect_venv import prefect_venv_ensure  # noqa: E402

pytestmark = pytest.mark.slow

RUN_TIMEOUT_SECONDS = 1800


def cases_all() -> list[Case]:
    package = importlib.import_module("tests.compat.differential")
    cases = []
    for module in pkgutil.iter_modules(package.__path__):
        if module.name.startswith("cases_"):
            cases.extend(importlib.import_module(f"{package.__name__}.{module.name}").CASES)
    return cases


CASES = cases_all()


def _environment(**extra: str) -> dict[str, str]:
    # Nothing of the test run's own settings (its database, its storage) leaks into either side.
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PREFECT_", "RESULTS_", "RESULTDECK_", "DATABASE_", "CELERY_", "DJANGO_"))
    }
    return environ | {"PYTHONHASHSEED": "0"} | extra


def _run(*, python: str, cases: list[dict], workdir: Path, environ: dict[str, str]) -> dict:
    cases_path = workdir / "cases.json"
    out_path = workdir / "outcomes.json"
    cases_path.write_text(json.dumps(cases))
    completed = subprocess.run(
        [python, str(RUNNER), str(cases_path), str(out_path), str(workdir / "cases")],
        env=environ,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    assert out_path.exists(), f"runner wrote nothing:\n{completed.stdout[-3000:]}\n{completed.stderr[-6000:]}"
    outcomes = json.loads(out_path.read_text())
    assert completed.returncode == 0, completed.stderr[-6000:]
    return outcomes


@pytest.fixture(scope="session")
def prefect_outcomes(tmp_path_factory) -> dict:
    workdir = tmp_path_factory.mktemp("differential-prefect")
    environ = _environment(
        PREFECT_HOME=str(workdir / "home"),
        PREFECT_LOCAL_STORAGE_PATH=str(workdir / "default-storage"),
        RESULTS_LOCAL_STORAGE_PATH=str(workdir / "default-storage"),
        PREFECT_LOGGING_LEVEL="WARNING",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
    )
    cases = [{"id": case.id, "code": case.code} for case in CASES]
    return _run(python=str(prefect_venv_ensure()), cases=cases, workdir=workdir, environ=environ)


@pytest.fixture(scope="session")
def resultdeck_outcomes(tmp_path_factory) -> dict:
    workdir = tmp_path_factory.mktemp("differential-resultdeck")
    environ = _environment(
        PYTHONPATH=str(PROJECT_ROOT),
        DJANGO_SETTINGS_MODULE="project.settings",
        RESULTDECK_VAR_DIR=str(workdir / "var"),
        DATABASE_URL=f"sqlite:///{workdir / 'resultdeck.sqlite3'}",
        RESULTS_LOCAL_STORAGE_PATH=str(workdir / "default-storage"),
    )
    subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "manage.py"), "migrate", "--verbosity", "0"],
        env=environ,
        cwd=PROJECT_ROOT,
        check=True,
        timeout=300,
    )
    cases = [{"id": case.id, "code": import_rewrite(case.code)} for case in CASES]
    return _run(python=sys.executable, cases=cases, workdir=workdir, environ=environ)


def test_case_ids_are_unique():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), sorted({case_id for case_id in ids if ids.count(case_id) > 1})


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_resultdeck_observes_what_prefect_observes(case: Case, prefect_outcomes, resultdeck_outcomes):
    prefect = prefect_outcomes[case.id]
    resultdeck = resultdeck_outcomes[case.id]
    assert "error" not in prefect, f"not runnable on Prefect: {prefect.get('traceback') or prefect['error']}"
    if case.differs:
        assert resultdeck.get("observed") == case.resultdeck, (case.differs, resultdeck)
        assert prefect.get("observed") != case.resultdeck, f"no longer differs from Prefect: {case.differs}"
        return
    assert "error" not in resultdeck, resultdeck.get("traceback") or resultdeck["error"]
    if case.files_differ:
        assert resultdeck["observed"] == prefect["observed"]
        assert resultdeck["files"] != prefect["files"], f"files no longer differ: {case.files_differ}"
        return
    assert resultdeck == prefect
