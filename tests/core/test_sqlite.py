"""On the SQLite default, a purge writing beside a flow does not fail the flow's final-state write.

Two real processes share one SQLite file (not the PostgreSQL test database); see sqlite_contender.py.
"""

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

CONTENDER = Path(__file__).with_name("sqlite_contender.py")


@pytest.fixture
def database(tmp_path):
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        db.executescript(
            "CREATE TABLE run (id INTEGER PRIMARY KEY, state TEXT);"
            "INSERT INTO run VALUES (1, 'RUNNING');"
            "CREATE TABLE reference (id INTEGER PRIMARY KEY, purged INTEGER);"
            "INSERT INTO reference VALUES (1, 0);"
        )
    return tmp_path


def contend(folder: Path, *flow_args: str) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    def start(*args):
        return subprocess.Popen(
            [sys.executable, str(CONTENDER), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    flow = start("flow", str(folder), *flow_args)
    purge = start("purge", str(folder))
    results = []
    for proc in (flow, purge):
        out, err = proc.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results[0], results[1]


def test_a_flow_reading_then_writing_beside_a_purge_completes(database):
    flow, purge = contend(database)
    assert purge.returncode == 0, purge.stderr
    assert flow.returncode == 0, flow.stderr[-2000:]
    assert "database is locked" not in flow.stderr
    assert flow.stdout.splitlines() == ["journal_mode wal", "state COMPLETED"]


def test_a_lock_held_past_the_busy_timeout_is_waited_out_by_retrying(database):
    flow, purge = contend(database, "0.1")  # the purge holds the lock for 3 s
    assert purge.returncode == 0, purge.stderr
    assert flow.returncode == 0, flow.stderr[-2000:]
    assert "SQLite busy" in flow.stderr
    assert flow.stdout.splitlines()[-1] == "state COMPLETED"
