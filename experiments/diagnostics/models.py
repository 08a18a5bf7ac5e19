"""Diagnostics' rows: findings, dismissals, per-project analyzer settings and when a run
was last diagnosed.

They came from the experiments app with a state-only migration (``0001_initial`` here,
``experiments.0007_diagnostics_own_app``): each keeps its ``experiments_*`` table, named
in ``Meta.db_table``, so moving them touched no table."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from experiments.models import Project, Run


class FindingSeverity(models.TextChoices):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Finding(models.Model):
    """One diagnosis of a run by an analyzer (``experiments.diagnostics``): what is going
    wrong, over which steps, the numbers that show it, and what to try.

    Each pass of an analyzer replaces its findings of the run; a finding that keeps firing
    keeps its row (and id), matched by ``fingerprint`` (kind and subject: a layer, a GPU,
    a class). Dismissals live in ``FindingDismissal`` so that they outlive the rows.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="findings")
    analyzer = models.CharField(max_length=64)
    kind = models.CharField(max_length=64)
    subject = models.CharField(max_length=200, blank=True)
    fingerprint = models.CharField(max_length=300)
    severity = models.CharField(max_length=16, choices=FindingSeverity.choices)
    title = models.CharField(max_length=200)
    summary = models.TextField()
    explanation = models.TextField()
    remedies = models.JSONField(default=list)
    evidence = models.JSONField(default=dict)
    # Metric keys the evidence lies on (the run page marks their charts) and single steps
    # worth a line on them: [{"step": 120, "label": "best val/loss"}].
    keys = models.JSONField(default=list)
    marks = models.JSONField(default=list)
    step_start = models.BigIntegerField(null=True, blank=True)
    step_end = models.BigIntegerField(null=True, blank=True)
    # Higher first in "what to try next": severity, then the analyzer's priority.
    score = models.FloatField(default=0.0)
    first_seen_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "experiments_finding"
        constraints = [
            models.UniqueConstraint(fields=["run", "fingerprint"], name="finding_unique_per_run"),
        ]

    def __str__(self) -> str:
        return f"{self.severity} {self.kind} of run {self.run_id}"


class FindingDismissal(models.Model):
    """A user's "not a problem" for a finding of a run, by fingerprint: it survives the
    analyzers replacing the finding on every pass, and a finding that stops and starts
    firing again comes back dismissed."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="finding_dismissals")
    fingerprint = models.CharField(max_length=300)
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    dismissed_at = models.DateTimeField(default=timezone.now)
    note = models.TextField(blank=True)

    class Meta:
        db_table = "experiments_findingdismissal"
        constraints = [
            models.UniqueConstraint(fields=["run", "fingerprint"], name="finding_dismissal_unique_per_run"),
        ]

    def __str__(self) -> str:
        return f"dismissed {self.fingerprint} of run {self.run_id}"


class AnalyzerSettings(models.Model):
    """A project's thresholds for one analyzer (overriding its defaults, by name), or the
    analyzer turned off. The analyzer's ``thresholds`` list what can be set."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="analyzer_settings")
    analyzer = models.CharField(max_length=64)
    enabled = models.BooleanField(default=True)
    thresholds = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "experiments_analyzersettings"
        verbose_name_plural = "analyzer settings"
        constraints = [
            models.UniqueConstraint(
                fields=["project", "analyzer"], name="analyzer_settings_unique_per_project"
            )
        ]

    def __str__(self) -> str:
        state = "" if self.enabled else " (off)"
        return f"{self.project.name}: {self.analyzer}{state}"


class RunDiagnosis(models.Model):
    """When a run was last diagnosed, up to which step, and which analyzers failed (their
    earlier findings are kept): the Health panel tells "healthy" from "not checked yet"."""

    run = models.OneToOneField(Run, on_delete=models.CASCADE, primary_key=True, related_name="diagnosis")
    diagnosed_at = models.DateTimeField(default=timezone.now)
    last_step = models.BigIntegerField(null=True, blank=True)
    run_status = models.CharField(max_length=16, blank=True)
    errors = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "experiments_rundiagnosis"

    def __str__(self) -> str:
        return f"diagnosis of run {self.run_id} at {self.diagnosed_at:%Y-%m-%d %H:%M:%S}"
