"""Django's SQLite backend, for a web server, workers and beat sharing one file.

Settings give it WAL (readers never wait for the writer), a busy timeout, and IMMEDIATE
transactions: a transaction takes the write lock when it begins, waiting for it under the busy
timeout. With DEFERRED ones, a transaction that read first and then wrote failed at once with
"database is locked" whenever another process had written in between (SQLite cannot wait there),
and a flow's final-state write beside a purge left the run Running.

Beginning is then the only place a transaction can meet the lock, before it has done anything, so
a BEGIN that outlasts the busy timeout is retried here.
"""

import logging
import time

from django.db import OperationalError
from django.db.backends.sqlite3 import base

logger = logging.getLogger(__name__)

BEGIN_ATTEMPTS = 5
BEGIN_BACKOFF_SECONDS = 0.5


class DatabaseWrapper(base.DatabaseWrapper):
    def _start_transaction_under_autocommit(self):
        for attempt in range(1, BEGIN_ATTEMPTS + 1):
            try:
                return super()._start_transaction_under_autocommit()
            except OperationalError as exc:
                if "locked" not in str(exc) or attempt == BEGIN_ATTEMPTS:
                    raise
                delay = BEGIN_BACKOFF_SECONDS * 2 ** (attempt - 1)
                logger.warning("SQLite busy (%s): beginning again in %.1f s", exc, delay)
                time.sleep(delay)
