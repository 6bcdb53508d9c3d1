"""The command line of a real Celery worker of the project, as the worker tests start it."""

from __future__ import annotations

import sys


def celery_worker_argv(name: str, *, concurrency: int = 2, loglevel: str = "warning") -> list[str]:
    """``celery -A project worker`` named ``name@host``, without gossip or mingle (faster start)."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "project",
        "worker",
        "-l",
        loglevel,
        "-n",
        f"{name}@%h",
        "-c",
        str(concurrency),
        "--without-gossip",
        "--without-mingle",
        "-P",
        "prefork",
    ]
