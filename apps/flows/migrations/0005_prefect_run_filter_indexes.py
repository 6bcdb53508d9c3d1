"""Indexes for the runs list's filters of runs synced from Prefect servers.

Connection, deployment and work pool are B-tree indexes that end in the list's order, so a filtered
keyset page is an index range. The tag filter is ``tags @> '["tag"]'`` on PostgreSQL, served by a
GIN index (``jsonb_path_ops`` serves exactly containment); SQLite has no such index and keeps the scan.
"""

from django.db import migrations, models

TAGS_INDEX = "flowrun_tags_gin_idx"


def tags_index_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f'CREATE INDEX IF NOT EXISTS "{TAGS_INDEX}" ON "flows_flowrun" USING gin ("tags" jsonb_path_ops)'
    )


def tags_index_drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f'DROP INDEX IF EXISTS "{TAGS_INDEX}"')


class Migration(migrations.Migration):
    dependencies = [
        ("flows", "0004_prefect_source"),
        ("results", "0003_expiration_cleanup"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="flowrun",
            index=models.Index(
                fields=["source_connection_id", "-created", "-id"], name="flowrun_connection_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="flowrun",
            index=models.Index(fields=["deployment", "-created", "-id"], name="flowrun_deployment_idx"),
        ),
        migrations.AddIndex(
            model_name="flowrun",
            index=models.Index(fields=["work_pool", "-created", "-id"], name="flowrun_work_pool_idx"),
        ),
        migrations.RunPython(tags_index_create, tags_index_drop),
    ]
