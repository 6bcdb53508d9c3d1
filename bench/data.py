"""Bench data: scratch PostgreSQL databases and bulk flow runs, task runs and result references.

Every benchmark that needs rows gets them here, in SQL (INSERT ... SELECT generate_series), so a
million flow runs take seconds to a minute rather than hours of ORM saves. The column lists are
completed from the models: a column the generator does not set gets its field's default, so a
field added to a model later does not break the benchmarks (only a new required column without
a default would, with PostgreSQL naming it).

Scratch databases are cloned from a migrated template (``CREATE DATABASE ... TEMPLATE``), rebuilt
only when the migration files change, which saves a full ``migrate`` per benchmark run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FLOWS = 8
TASKS_PER_RUN = 3
BLOCKS = 3
RUN_SPACING_S = 2
# Generated result reference g has id REFERENCE_ID_BASE + g: the ids below are left to rows saved
# through the ORM before the bulk data (a benchmark's real results), whose sequence starts at 1.
REFERENCE_ID_BASE = 1000
TASK_NAMES = ("extract", "transform", "load")


def scratch_name(suffix: str) -> str:
    """A scratch database named after the one in $DATABASE_URL, so concurrent checkouts do not collide."""
    database_url_for("postgres")  # exits unless $DATABASE_URL is PostgreSQL
    return f"{urlsplit(os.environ['DATABASE_URL']).path.strip('/')}_{suffix}"


def database_url_for(name: str) -> str:
    """$DATABASE_URL (which must be PostgreSQL) with its database replaced by ``name``."""
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit("set DATABASE_URL to the PostgreSQL server (source the env of scripts/test.sh)")
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


def migrations_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(PROJECT_ROOT.glob("apps/*/migrations/*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def database_drop(*, name: str) -> None:
    import psycopg

    with psycopg.connect(database_url_for("postgres"), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_create(*, name: str) -> str:
    """(Re)create database ``name``, migrated; returns its URL."""
    import psycopg

    template = f"{name}_template"
    digest = migrations_digest()
    with psycopg.connect(database_url_for("postgres"), autocommit=True) as connection:
        row = connection.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [template]
        ).fetchone()
        if row is None or row[0] != digest:
            connection.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{template}"')
            migrate_env = {**os.environ, "DATABASE_URL": database_url_for(template)}
            # A process of its own: this one may already have Django set up on another database.
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "-v0"], cwd=PROJECT_ROOT, env=migrate_env, check=True
            )
            connection.execute(f"COMMENT ON DATABASE \"{template}\" IS '{digest}'")
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return database_url_for(name)


def sqlite_migrated_copy(*, var_dir: Path) -> None:
    """Put a migrated default SQLite database into ``var_dir``: a copy of one migrated once per schema."""
    cached = PROJECT_ROOT / ".cache" / f"bench-sqlite-{migrations_digest()}.sqlite3"
    if not cached.exists():
        scratch = cached.parent / f"{cached.stem}-{os.getpid()}"
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env.update(RESULTDECK_VAR_DIR=str(scratch), DJANGO_DEBUG="on")
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=PROJECT_ROOT, env=env, check=True)
        (scratch / "resultdeck.sqlite3").replace(cached)
        shutil.rmtree(scratch, ignore_errors=True)
    var_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cached, var_dir / "resultdeck.sqlite3")


def _literal(field, value) -> str:
    from django.db import connection
    from psycopg import sql

    connection.ensure_connection()
    prepared = field.get_db_prep_save(value, connection)
    return sql.Literal(prepared).as_string(connection.connection)


def insert_select(*, model, values: dict[str, str], source: str) -> None:
    """INSERT INTO the model's table every column: ``values`` (column -> SQL) or the field default."""
    from django.db import connection

    columns, expressions = [], []
    for field in model._meta.concrete_fields:
        columns.append(field.column)
        if field.column in values:
            expressions.append(values[field.column])
        else:
            default = field.get_default()
            expressions.append("NULL" if default is None and field.null else _literal(field, default))
    unknown = set(values) - set(columns)
    if unknown:
        raise ValueError(f"{model._meta.db_table} has no column(s) {sorted(unknown)}")
    statement = (
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)})\n"
        f"SELECT {', '.join(expressions)}\n{source}"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement)


def step(label: str, started: float) -> float:
    now = time.perf_counter()
    print(f"  {label:<44} {now - started:6.1f} s", flush=True)
    return now


def run_id_sql(expression: str, *, prefix: str = "8000") -> str:
    """Ordered UUIDs: index inserts append instead of landing at random (minutes saved at 3M rows)."""
    return f"('00000000-0000-4000-{prefix}-' || lpad(to_hex({expression}), 12, '0'))::uuid"


def blocks_generate() -> None:
    from apps.blocks.models import StorageBlock

    insert_select(
        model=StorageBlock,
        values={
            "id": "md5('block' || b)::uuid",
            "block_type": "'local-file-system'",
            "name": "'bench-' || b",
            "settings": "jsonb_build_object('basepath', '/srv/results/bench-' || b)",
            "encrypted_secrets": "''",
            "created_at": "now()",
            "updated_at": "now()",
        },
        source=f"FROM generate_series(0, {BLOCKS - 1}) AS b",
    )


def runs_generate(*, start: int, stop: int, anchor: dt.datetime, quiet: bool = False) -> None:
    """Flow runs ``start+1 .. stop`` with their task runs and result references (ids above REFERENCE_ID_BASE).

    Run g is created at ``anchor + 2 s * g``, so a later call with a higher ``start`` appends newer
    runs to the same history. Result reference g belongs to flow run g when g is even, else to its
    second task run: half the flow runs and a sixth of the task runs have a result, on 3 blocks.
    The 3 newest runs of a call stay Running; 1 in 20 Failed, 1 in 50 Cached.
    """
    from django.db import connection

    from apps.flows.models import FlowRun, TaskRun
    from apps.results.models import ResultReference

    if start == 0:
        blocks_generate()
    created = f"('{anchor.isoformat()}'::timestamptz + interval '{RUN_SPACING_S} seconds' * g)"
    series = f"FROM generate_series({start + 1}, {stop}) AS g"
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # Rows are generated consistent by construction; skipping FK triggers saves minutes.
        cursor.execute("SET session_replication_role = replica")
    insert_select(
        model=ResultReference,
        values={
            "id": f"{REFERENCE_ID_BASE} + g",
            "block_id": f"md5('block' || (g % {BLOCKS}))::uuid",
            "storage_location": f"'/srv/results/bench-' || (g % {BLOCKS})",
            "key": "md5('key' || g)",
            "layout": "'v3-record'",
            "serializer_type": "(ARRAY['pickle', 'json', 'compressed/pickle', 'compressed/json'])[1 + g % 4]",
            "serializer_config": """'{"type": "pickle", "picklelib": "cloudpickle"}'::jsonb""",
            "value_type": (
                "(ARRAY['builtins.dict', 'builtins.int', 'pandas.DataFrame', 'builtins.str'])[1 + g % 4]"
            ),
            "size_bytes": "200 + (g::bigint * 7919) % 5000000",
            "prefect_version": "'3.0.0'",
            "expiration": (
                "CASE WHEN g % 5 = 0 THEN now() + interval '10 days' - interval '1 day' * (g % 30) END"
            ),
            "expiration_source": "CASE WHEN g % 5 = 0 THEN 'record' ELSE '' END",
            "created": created,
        },
        source=series,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('results_resultreference', 'id'), "
            "(SELECT max(id) FROM results_resultreference))"
        )
    started = step(f"{stop - start:,} result references", started) if not quiet else started
    insert_select(
        model=FlowRun,
        values={
            "id": run_id_sql("g"),
            "name": "'run-' || g",
            "parameters": (
                "jsonb_build_object('rows', g % 1000, "
                "'region', (ARRAY['north', 'south', 'east', 'west'])[1 + g % 4])"
            ),
            "state": "s.state",
            "state_history": (
                "jsonb_build_array(jsonb_build_object('state', 'RUNNING', 'name', 'Running', "
                """'message', '', 'timestamp', to_char(c.created, 'YYYY-MM-DD"T"HH24:MI:SS')))"""
            ),
            "created": "c.created",
            "start_time": "c.created",
            "end_time": (
                "CASE WHEN s.state = 'RUNNING' THEN NULL ELSE c.created + interval '1 ms' * (g % 90000) END"
            ),
            "run_count": "1",
            "result_id": f"CASE WHEN g % 2 = 0 THEN {REFERENCE_ID_BASE} + g END",
            "flow_name": f"'flow-' || (g % {FLOWS})",
            "worker_host": "'worker-1'",
        },
        source=(
            f"{series},\n"
            f"LATERAL (SELECT {created} AS created) AS c,\n"
            f"LATERAL (SELECT CASE WHEN g > {stop} - 3 THEN 'RUNNING' WHEN g % 20 = 7 THEN 'FAILED' "
            "WHEN g % 50 = 11 THEN 'CACHED' ELSE 'COMPLETED' END AS state) AS s"
        ),
    )
    started = step(f"{stop - start:,} flow runs", started) if not quiet else started
    task_name = "(ARRAY['" + "', '".join(TASK_NAMES) + "'])[k + 1]"
    insert_select(
        model=TaskRun,
        values={
            "id": run_id_sql("g * 4 + k", prefix="9000"),
            "name": f"{task_name} || '-0'",
            "state": "'COMPLETED'",
            "created": "c.created + interval '10 ms' * k",
            "start_time": "c.created + interval '10 ms' * k",
            "end_time": "c.created + interval '10 ms' * k + interval '5 ms'",
            "run_count": "1",
            "result_id": f"CASE WHEN k = 1 AND g % 2 = 1 THEN {REFERENCE_ID_BASE} + g END",
            "flow_run_id": run_id_sql("g"),
            "task_name": task_name,
            "task_key": f"{task_name} || '-0'",
        },
        source=(
            f"{series}, generate_series(0, {TASKS_PER_RUN - 1}) AS k,\n"
            f"LATERAL (SELECT {created} AS created) AS c"
        ),
    )
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = DEFAULT")
    started = step(f"{(stop - start) * TASKS_PER_RUN:,} task runs", started) if not quiet else started
    vacuum_analyze()
    if not quiet:
        step("vacuum analyze", started)


def vacuum_analyze() -> None:
    """VACUUM ANALYZE the database Django uses (outside a transaction, so on a connection of its own)."""
    import psycopg
    from django.db import connection

    settings = connection.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"],
        host=settings["HOST"],
        port=settings["PORT"],
        autocommit=True,
    ) as raw:
        raw.execute("VACUUM ANALYZE")


def anchor_for(*, total: int) -> dt.datetime:
    """The time before run 1, so that run ``total`` is created about now."""
    return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=RUN_SPACING_S * (total + 1))


def runs_middle_cursor() -> tuple[str, str]:
    """The keyset cursor of the runs list's middle page, and the id of the run it starts after.

    Found once with OFFSET; the page itself is then a keyset page, as a user paging deep gets.
    """
    from django.db import connection

    from apps.core.pagination import cursor_encode

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM flows_flowrun")
        middle = cursor.fetchone()[0] // 2
        cursor.execute(
            "SELECT created, id FROM flows_flowrun ORDER BY created DESC, id DESC OFFSET %s LIMIT 1", [middle]
        )
        created, pk = cursor.fetchone()
    return cursor_encode(created=created, pk=pk), str(pk)


def rows_estimate() -> dict[str, int]:
    from django.db import connection

    counts = {}
    with connection.cursor() as cursor:
        for table in ("flows_flowrun", "flows_taskrun", "results_resultreference"):
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [table])
            counts[table] = cursor.fetchone()[0]
    return counts


def wide_run_generate(*, key: int, tasks: int, log_lines: int, anchor: dt.datetime) -> str:
    """One Completed flow run with ``tasks`` task runs and ``log_lines`` log lines; returns its id.

    ``key`` (1, 2, ...) keeps the ids of several such runs apart from each other and from
    runs_generate's. The lines take turns over the task runs (and the flow itself when there are
    none): 1 in 10 is a warning, 1 in 100 an error, and 1 in 1,000 mentions "checkpoint".
    """
    from django.db import connection

    from apps.flows.models import FlowRun, RunLog, TaskRun

    run_id = run_id_sql(str(key), prefix="8100")
    created = f"'{anchor.isoformat()}'::timestamptz"
    insert_select(
        model=FlowRun,
        values={
            "id": run_id,
            "name": f"'wide-run-{key}'",
            "state": "'COMPLETED'",
            "created": created,
            "start_time": created,
            "end_time": f"{created} + interval '10 ms' * {tasks + 1}",
            "run_count": "1",
            "flow_name": "'wide-flow'",
            "worker_host": "'worker-1'",
        },
        source="",
    )
    names = "', '".join(TASK_NAMES)
    task_name = f"(ARRAY['{names}'])[1 + t % {len(TASK_NAMES)}]"
    insert_select(
        model=TaskRun,
        values={
            "id": run_id_sql(f"{key}::bigint << 32 | t", prefix="9100"),
            "name": f"{task_name} || '-' || t",
            "state": "'COMPLETED'",
            "created": f"{created} + interval '10 ms' * t",
            "start_time": f"{created} + interval '10 ms' * t",
            "end_time": f"{created} + interval '10 ms' * t + interval '5 ms'",
            "run_count": "1",
            "flow_run_id": run_id,
            "task_name": task_name,
            "task_key": f"{task_name} || '-' || t",
        },
        source=f"FROM generate_series(0, {tasks - 1}) AS t",
    )
    task_run_id = run_id_sql(f"{key}::bigint << 32 | (n % {tasks})", prefix="9100") if tasks else "NULL"
    insert_select(
        model=RunLog,
        values={
            "id": "nextval(pg_get_serial_sequence('flows_runlog', 'id'))",
            "flow_run_id": run_id,
            "task_run_id": task_run_id,
            "level": "CASE WHEN n % 100 = 0 THEN 40 WHEN n % 10 = 0 THEN 30 ELSE 20 END",
            "timestamp": f"{created} + interval '1 ms' * n",
            "logger": "'resultdeck.task_runs'",
            "message": (
                "CASE WHEN n % 1000 = 0 THEN 'checkpoint ' || n "
                "ELSE 'processed batch ' || n || ' of the input: ' || md5(n::text) END"
            ),
        },
        source=f"FROM generate_series(0, {log_lines - 1}) AS n",
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {run_id}")
        return str(cursor.fetchone()[0])
