"""What comparisons judge against: a project's baselines and its metric directions
(``experiments.compare``)."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from experiments.models.runs import Project, Run


class BaselineQuerySet(models.QuerySet):
    def active(self) -> "BaselineQuerySet":
        return self.filter(replaced_at__isnull=True)


class Baseline(models.Model):
    """What a project judges new runs against: one run, or one group of runs (seeds).

    A project has at most one active baseline (``replaced_at`` is null); setting a new
    one stamps the old one's ``replaced_at``, so the rows are the history. ``label``
    keeps the run's name (or the group) readable after the run is deleted.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="baselines")
    run = models.ForeignKey(Run, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    group = models.CharField(max_length=200, blank=True)
    label = models.CharField(max_length=200, blank=True)
    note = models.TextField(blank=True)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    set_at = models.DateTimeField(default=timezone.now)
    replaced_at = models.DateTimeField(null=True, blank=True)

    objects = BaselineQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project"],
                condition=models.Q(replaced_at__isnull=True),
                name="baseline_one_active_per_project",
            ),
            # A run or a group, never both (the run may be gone: SET_NULL keeps history).
            models.CheckConstraint(
                condition=models.Q(run__isnull=True) | models.Q(group=""),
                name="baseline_run_or_group",
            ),
        ]
        indexes = [models.Index(fields=["project", "-set_at"], name="baseline_project_recent")]

    def __str__(self) -> str:
        what = f"group {self.group}" if self.group else f"run {self.label or self.run_id}"
        state = "active" if self.replaced_at is None else "replaced"
        return f"{self.project.name}: {what} ({state})"

    @property
    def kind(self) -> str:
        return "group" if self.group else "run"


class MetricDirectionOverride(models.Model):
    """A project's word on which way is better for one metric key, where the name
    alone misleads (``val/time_to_first_error`` is maximised; ``margin`` minimised)."""

    class Direction(models.TextChoices):
        MIN = "min", "lower is better"
        MAX = "max", "higher is better"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="metric_directions")
    key = models.CharField(max_length=200)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "key"], name="metric_direction_unique_per_project")
        ]

    def __str__(self) -> str:
        return f"{self.project.name}: {self.key} ({self.direction})"
