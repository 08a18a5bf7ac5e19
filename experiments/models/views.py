"""Saved views of a project's runs table: a name for the table's state (filter, sort,
columns, grouping), shared with everyone who can see the project, as a link."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from experiments.models.runs import Project


class SavedView(models.Model):
    """``query`` is the table's query string (``q``, ``sort``, ``cols``/``c``/``m``,
    ``group_by``, ``archived``) without the page offset: the view's URL is the table's
    URL with it, so a view opens exactly as it was saved and can be shared as a link."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="saved_views")
    name = models.CharField(max_length=100)
    query = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="saved_view_name_unique")]

    def __str__(self) -> str:
        return f"{self.project.name}: {self.name}"
