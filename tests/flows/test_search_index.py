"""The runs list's search on names and parameters is served by trigram indexes on PostgreSQL,
and the same migrations still apply on SQLite, where there is no such index."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from apps.flows.filters import FlowRunFilter
from apps.flows.models import FlowRun
from tests.dashboard_data import flow_run

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_the_parameter_search_uses_the_trigram_indexes():
    assert connection.vendor == "postgresql", "this test needs the suite's PostgreSQL"
    for n in range(50):
        flow_run(name=f"run-{n}", parameters={"region": f"eu-{n}", "n": n})
    queryset = FlowRunFilter({"q": "eu-4"}, queryset=FlowRun.objects.all()).qs
    assert sorted(run.name for run in queryset) == [
        "run-4",
        "run-40",
        "run-41",
        "run-42",
        "run-43",
        "run-44",
        "run-45",
        "run-46",
        "run-47",
        "run-48",
        "run-49",
    ]
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        # A table of 50 rows is cheaper to scan, or to walk along another index and filter; forbid
        # both so the plan shows the trigram indexes are usable for exactly the expressions Django
        # sends (a mismatch would leave no plan but those).
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "flowrun_parameters_trgm_idx" in plan, plan
    assert "flowrun_name_trgm_idx" in plan, plan
    assert "Seq Scan" not in plan, plan


def test_the_migrations_apply_on_sqlite(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "RESULTDECK_VAR_DIR": str(tmp_path / "var"),
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "flows.0003_flowrun_search_trigram_index... OK" in done.stdout
