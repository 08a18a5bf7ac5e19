"""What MLflow knows about a project or a run that our model has no field for.

One row per project or run that the MLflow API touched; everything else (name, config,
tags, notes, status, points) lives in the ``experiments`` rows themselves, so both APIs
and the pages read one truth.
"""

from django.db import models

from experiments.models import Project, Run


class LifecycleStage(models.TextChoices):
    ACTIVE = "active"
    DELETED = "deleted"


class MlflowExperiment(models.Model):
    """An MLflow experiment's extras: soft deletion (``delete``/``restore``) and tags."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="mlflow")
    lifecycle_stage = models.CharField(
        max_length=16, choices=LifecycleStage.choices, default=LifecycleStage.ACTIVE
    )
    tags = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)


class MlflowRun(models.Model):
    """An MLflow run's extras.

    - ``params``: every param's text exactly as logged (config holds it parsed, a number
      where it reads as one, so the runs table sorts it; MLflow reads back the text).
    - ``tags``: every tag that has no field of its own, value whole (``run.tags`` also
      gets ``key=value`` for user tags that fit, for our pages and filters).
    - ``status``: MLflow's status when ours cannot say it (``KILLED``, ``SCHEDULED``).
    """

    run = models.OneToOneField(Run, on_delete=models.CASCADE, related_name="mlflow")
    lifecycle_stage = models.CharField(
        max_length=16, choices=LifecycleStage.choices, default=LifecycleStage.ACTIVE
    )
    params = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, blank=True)
    user_id = models.CharField(max_length=255, blank=True)
