"""Temporary files left by writes whose process was killed are swept by the periodic job once
they are older than an hour; files of writes that may still be in flight, and results, stay."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apps.blocks import services
from apps.blocks.filesystems import TEMP_FILE_SUFFIX
from apps.results.tasks import leftovers_sweep_periodic

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db

KILLED_WRITE = r"""
import os, signal, sys
from apps.blocks.filesystems import LocalFileSystem
fs = LocalFileSystem(basepath=sys.argv[1])
fs.write_path("done/result", b"a whole result")
with fs.open_write(sys.argv[2]) as stream:
    stream.write(b"half of a result")
    stream.flush()
    os.kill(os.getpid(), signal.SIGKILL)
"""


def killed_write(base: Path, key: str) -> Path:
    """Run a write that is SIGKILLed halfway; returns the temporary file it leaves."""
    completed = subprocess.run(
        [sys.executable, "-c", KILLED_WRITE, str(base), key], cwd=ROOT, capture_output=True, timeout=60
    )
    assert completed.returncode == -signal.SIGKILL, completed.stderr
    target = base / key
    leftovers = list(target.parent.glob(f".{target.name}.*{TEMP_FILE_SUFFIX}"))
    assert len(leftovers) == 1, leftovers
    return leftovers[0]


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_the_periodic_sweep_removes_leftovers_older_than_an_hour(tmp_path, settings):
    block_root = tmp_path / "block"
    default_root = tmp_path / "default"
    services.block_create(
        block_type="local-file-system", name="swept", settings={"basepath": str(block_root)}
    )
    settings.RESULTS_LOCAL_STORAGE_PATH = str(default_root)
    old = killed_write(block_root, "flow/old-one")
    young = killed_write(block_root, "flow/young-one")
    old_default = killed_write(default_root, "old-default")
    age(old, 3 * 3600)
    age(young, 10 * 60)
    age(old_default, 2 * 3600)

    outcome = leftovers_sweep_periodic()

    assert outcome["temp_files"] == 2
    assert not old.exists() and not old_default.exists()
    assert young.exists()
    assert (block_root / "done" / "result").read_bytes() == b"a whole result"
    assert (default_root / "done" / "result").read_bytes() == b"a whole result"


def test_the_sweep_is_scheduled_by_beat():
    from project.celery import app

    entry = app.conf.beat_schedule["results-sweep-leftovers"]
    assert entry["task"] == "results.sweep_leftovers"
    assert entry["schedule"] <= 3600
