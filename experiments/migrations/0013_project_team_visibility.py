"""A project belongs to its owner or to a team (teams.Team); visibility private, team or instance. Existing projects stay their owner's, seen by the same people: a personal project is seen by its owner only, whatever its visibility but instance."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("experiments", "0012_api_key_scopes"),
        ("teams", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="project",
            name="team",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="projects",
                to="teams.team",
            ),
        ),
        migrations.AddField(
            model_name="project",
            name="visibility",
            field=models.CharField(
                choices=[("private", "Private"), ("team", "Team"), ("instance", "Instance")],
                default="team",
                max_length=16,
            ),
        ),
        migrations.AddConstraint(
            model_name="project",
            constraint=models.UniqueConstraint(
                condition=models.Q(("team__isnull", True)),
                fields=("owner", "name"),
                name="project_name_unique_per_owner",
            ),
        ),
        migrations.AddConstraint(
            model_name="project",
            constraint=models.UniqueConstraint(
                condition=models.Q(("team__isnull", False)),
                fields=("team", "name"),
                name="project_name_unique_per_team",
            ),
        ),
    ]
