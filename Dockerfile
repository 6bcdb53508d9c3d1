# Resultdeck: one image for the web server, the Celery worker and Celery beat.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_DEBUG=off \
    RESULTDECK_VAR_DIR=/var/lib/resultdeck \
    DJANGO_STATIC_ROOT=/app/staticfiles

WORKDIR /app
# bubblewrap isolates the decode sandbox (RESULTDECK_SANDBOX_ISOLATION).
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap && rm -rf /var/lib/apt/lists/*
RUN groupadd --system resultdeck && useradd --system --gid resultdeck --home /app resultdeck
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
# collectstatic needs settings that import; these throwaway values never reach a running container.
RUN DJANGO_SECRET_KEY=build-only RESULTDECK_SECRETS_KEY=ZmFrZS1rZXktZm9yLWJ1aWxkLW9ubHktMDAwMDAwMDA= \
    python manage.py collectstatic --noinput -v0 \
 && mkdir -p /var/lib/resultdeck && chown -R resultdeck:resultdeck /var/lib/resultdeck
USER resultdeck
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"
# Workers and threads per worker: GUNICORN_WORKERS (default 3) and GUNICORN_THREADS (default 4);
# see gunicorn.conf.py.
CMD ["gunicorn", "project.wsgi:application", "--config", "gunicorn.conf.py", "--bind", "0.0.0.0:8000"]
