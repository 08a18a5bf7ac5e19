"""Diagnostics' models, taken over from the experiments app with their tables as they are.

State only: ``experiments.0005_diagnostics`` created the tables (``experiments_finding``...)
and ``experiments.0007_diagnostics_own_app`` drops the models from the experiments app's
state; no table, column, index or row of them is touched. The content types move to the
new label, so permissions granted on these models and admin log entries keep pointing at
them.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

MODELS = ("finding", "findingdismissal", "analyzersettings", "rundiagnosis")


def _move_content_types(apps, schema_editor, old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MODELS:
        if ContentType.objects.using(db).filter(app_label=new, model=model).exists():
            continue  # already there: leave the old one alone rather than collide
        ContentType.objects.using(db).filter(app_label=old, model=model).update(app_label=new)


def content_types_forward(apps, schema_editor) -> None:
    _move_content_types(apps, schema_editor, "experiments", "diagnostics")


def content_types_backward(apps, schema_editor) -> None:
    _move_content_types(apps, schema_editor, "diagnostics", "experiments")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("experiments", "0006_run_quarantined"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="RunDiagnosis",
                    fields=[
                        (
                            "run",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                primary_key=True,
                                related_name="diagnosis",
                                serialize=False,
                                to="experiments.run",
                            ),
                        ),
                        ("diagnosed_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("last_step", models.BigIntegerField(blank=True, null=True)),
                        ("run_status", models.CharField(blank=True, max_length=16)),
                        ("errors", models.JSONField(blank=True, default=dict)),
                    ],
                    options={"db_table": "experiments_rundiagnosis"},
                ),
                migrations.CreateModel(
                    name="AnalyzerSettings",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("analyzer", models.CharField(max_length=64)),
                        ("enabled", models.BooleanField(default=True)),
                        ("thresholds", models.JSONField(blank=True, default=dict)),
                        ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "project",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="analyzer_settings",
                                to="experiments.project",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "experiments_analyzersettings",
                        "verbose_name_plural": "analyzer settings",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("project", "analyzer"), name="analyzer_settings_unique_per_project"
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="Finding",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("analyzer", models.CharField(max_length=64)),
                        ("kind", models.CharField(max_length=64)),
                        ("subject", models.CharField(blank=True, max_length=200)),
                        ("fingerprint", models.CharField(max_length=300)),
                        (
                            "severity",
                            models.CharField(
                                choices=[("info", "Info"), ("warning", "Warning"), ("critical", "Critical")],
                                max_length=16,
                            ),
                        ),
                        ("title", models.CharField(max_length=200)),
                        ("summary", models.TextField()),
                        ("explanation", models.TextField()),
                        ("remedies", models.JSONField(default=list)),
                        ("evidence", models.JSONField(default=dict)),
                        ("keys", models.JSONField(default=list)),
                        ("marks", models.JSONField(default=list)),
                        ("step_start", models.BigIntegerField(blank=True, null=True)),
                        ("step_end", models.BigIntegerField(blank=True, null=True)),
                        ("score", models.FloatField(default=0.0)),
                        ("first_seen_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "run",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="findings",
                                to="experiments.run",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "experiments_finding",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("run", "fingerprint"), name="finding_unique_per_run"
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="FindingDismissal",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("fingerprint", models.CharField(max_length=300)),
                        ("dismissed_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("note", models.TextField(blank=True)),
                        (
                            "dismissed_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "run",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="finding_dismissals",
                                to="experiments.run",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "experiments_findingdismissal",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("run", "fingerprint"), name="finding_dismissal_unique_per_run"
                            )
                        ],
                    },
                ),
            ],
        ),
        migrations.RunPython(content_types_forward, content_types_backward, elidable=True),
    ]
