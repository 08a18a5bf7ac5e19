"""API key scopes (read-only or read-write, all projects or a list, expiry), where a key was last used, server-issued (per-trial) keys, archived projects. Existing keys keep every right they had (read-write, all projects, no expiry)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("experiments", "0011_media_text_kind"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="project",
            name="project_name_unique_per_owner",
        ),
        migrations.AddField(
            model_name="apikey",
            name="all_projects",
            field=models.BooleanField(default=True),
        ),
        migrations.AddField(
            model_name="apikey",
            name="expires_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="apikey",
            name="internal",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="apikey",
            name="last_used_from",
            field=models.GenericIPAddressField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="apikey",
            name="projects",
            field=models.ManyToManyField(blank=True, related_name="+", to="experiments.project"),
        ),
        migrations.AddField(
            model_name="apikey",
            name="scope",
            field=models.CharField(
                choices=[("read", "read-only"), ("read-write", "read-write")],
                default="read-write",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="project",
            name="archived_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
