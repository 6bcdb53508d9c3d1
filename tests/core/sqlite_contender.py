"""One side of the SQLite contention test: `python sqlite_contender.py ROLE FOLDER [TIMEOUT]`.

ROLE "purge" writes and holds the write lock until the flow side has read (or 3 s pass), then
commits. ROLE "flow" waits until the purge holds the lock, then, as a flow's final-state write does,
reads and then writes in one transaction, and prints the state it wrote. Files in FOLDER sequence
the two; the database is FOLDER/db.sqlite3 under the project's own settings.
"""

import os
import sys
import time
from pathlib import Path

role, folder = sys.argv[1], Path(sys.argv[2])
os.environ.update(
    DJANGO_SETTINGS_MODULE="project.settings",
    DATABASE_URL=f"sqlite:///{folder / 'db.sqlite3'}",
    RESULTDECK_VAR_DIR=str(folder / "var"),
)
for name in ("REDIS_URL", "CELERY_BROKER_URL"):
    os.environ.pop(name, None)
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import django  # noqa: E402

django.setup()
from django.db import connection, transaction  # noqa: E402

if len(sys.argv) > 3:
    connection.settings_dict["OPTIONS"]["timeout"] = float(sys.argv[3])


def wait_for(name: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not (folder / name).exists() and time.monotonic() < deadline:
        time.sleep(0.01)


with connection.cursor() as cursor:
    cursor.execute("PRAGMA journal_mode")
    print("journal_mode", cursor.fetchone()[0], flush=True)

if role == "purge":
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE reference SET purged = 1")
        (folder / "purge-holds-lock").touch()
        wait_for("flow-has-read", 3)
else:
    wait_for("purge-holds-lock", 60)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT state FROM run WHERE id = 1")
        (folder / "flow-has-read").touch()
        cursor.execute("UPDATE run SET state = 'COMPLETED' WHERE id = 1")
    with connection.cursor() as cursor:
        cursor.execute("SELECT state FROM run WHERE id = 1")
        print("state", cursor.fetchone()[0], flush=True)
