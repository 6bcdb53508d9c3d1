"""gunicorn settings for the production image (the Dockerfile's CMD and docker-compose's web).

Threaded workers: a sync worker sits idle while PostgreSQL answers, so under load requests
queue behind it; four threads per worker nearly double the throughput on the same processes.
Each thread holds its own database connection (up to WORKERS x THREADS with DATABASE_CONN_MAX_AGE).
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS") or os.environ.get("WEB_CONCURRENCY") or 3)
threads = int(os.environ.get("GUNICORN_THREADS") or 4)
accesslog = "-"
# The default format and the time the request took inside the server (bench/load.py reads it).
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
