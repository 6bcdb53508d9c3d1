"""Trigram indexes for the runs list's search, on PostgreSQL only.

The search is ``name__icontains`` OR ``Cast(parameters, text)__icontains``, which Django compiles
to ``UPPER(name::text) LIKE UPPER(%s)`` and ``UPPER(parameters::text) LIKE UPPER(%s)``; a GIN
trigram index on exactly those expressions serves a ``%term%`` pattern (a B-tree cannot), so the
search is an index lookup instead of a scan of every run. SQLite has no such index and keeps the
scan; its migration is a no-op.
"""

from django.db import migrations

INDEXES = {
    "flowrun_name_trgm_idx": 'UPPER("name"::text)',
    "flowrun_parameters_trgm_idx": 'UPPER(("parameters")::text)',
}


def indexes_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, expression in INDEXES.items():
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON "flows_flowrun" USING gin ({expression} gin_trgm_ops)'
        )


def indexes_drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("flows", "0002_run_log")]

    operations = [migrations.RunPython(indexes_create, indexes_drop)]
