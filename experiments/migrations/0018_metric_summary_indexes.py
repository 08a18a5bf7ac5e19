"""Indexes for the runs table of a 100,000-run project (issue #16; the queries that need
them are named in ``Metric.Meta`` and ``Run.Meta``).

``metric_key_summary`` is (key, run_id) everywhere; on PostgreSQL it also INCLUDEs the
summary columns so that filters, sorts and group-bys on a metric read the index alone
(an index-only scan) instead of one heap row per run. Django's ``Index(include=...)``
would do the same but makes ``manage.py check`` warn on SQLite (models.W040), so the
PostgreSQL form is written here and the model state holds the plain index."""

import django.db.models.deletion
from django.db import migrations, models

SUMMARY_COLUMNS = "count, last_value, min_value, max_value"


def create_metric_key_summary(apps, schema_editor):
    include = f" INCLUDE ({SUMMARY_COLUMNS})" if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f"CREATE INDEX metric_key_summary ON experiments_metric (key, run_id){include}")


def drop_metric_key_summary(apps, schema_editor):
    schema_editor.execute("DROP INDEX metric_key_summary")


class Migration(migrations.Migration):
    dependencies = [
        ("experiments", "0017_run_archived_index"),
    ]

    operations = [
        # metric_key_unique_per_run (run_id, key) already serves lookups by run.
        migrations.AlterField(
            model_name="metric",
            name="run",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="metrics",
                to="experiments.run",
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="metric",
                    index=models.Index(fields=["key", "run"], name="metric_key_summary"),
                ),
            ],
            database_operations=[migrations.RunPython(create_metric_key_summary, drop_metric_key_summary)],
        ),
        migrations.AddIndex(
            model_name="run",
            index=models.Index(
                condition=models.Q(("archived_at__isnull", True)),
                fields=["project", "status"],
                name="run_project_status",
            ),
        ),
    ]
