"""Alert rules and where they send (destinations), each delivery with its attempts, and
the dataset profiles ``tracker.log_dataset`` uploads (the data checks read them)."""

from __future__ import annotations

import secrets

from django.db import models
from django.utils import timezone

from experiments.models import Project, Run


def new_secret() -> str:
    return secrets.token_hex(24)


class DestinationKind(models.TextChoices):
    WEBHOOK = "webhook", "Webhook (JSON, signed)"
    SLACK = "slack", "Slack / Mattermost incoming webhook"
    EMAIL = "email", "E-mail"


class Destination(models.Model):
    """Where a project's alerts go: a URL (a generic webhook signed with ``secret``, or a
    Slack/Mattermost incoming webhook) or e-mail addresses (Django's mail settings)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="alert_destinations")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=DestinationKind.choices)
    url = models.URLField(max_length=500, blank=True)
    emails = models.CharField(max_length=1000, blank=True, help_text="Comma-separated addresses.")
    # HMAC-SHA256 key of the X-Tracker-Signature header (webhooks only).
    secret = models.CharField(max_length=100, default=new_secret)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="alert_destination_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def recipients(self) -> list[str]:
        return [a.strip() for a in self.emails.split(",") if a.strip()]


class Trigger(models.TextChoices):
    FINISHED = "finished", "Run finished"
    FAILED = "failed", "Run failed"
    CRASHED = "crashed", "Run crashed"
    STALLED = "stalled", "Run stalled (no new step)"
    FINDING = "finding", "Diagnosis finding"
    METRIC = "metric", "Metric crosses a threshold"
    ALERT = "alert", "tracker.alert() from training code"


class Operator(models.TextChoices):
    GE = ">=", ">="
    GT = ">", ">"
    LE = "<=", "<="
    LT = "<", "<"
    NAN = "nan", "is NaN or infinite"


class Level(models.TextChoices):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


LEVEL_ORDER = {Level.INFO: 0, Level.WARNING: 1, Level.CRITICAL: 2}


class AlertRule(models.Model):
    """When to alert, for every run of a project. Each rule fires at most once per run and
    trigger (a metric crossing, a finding's fingerprint, a stall at a step...), and not
    again within ``cooldown_minutes`` of its last delivery (those are logged as
    suppressed)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="alert_rules")
    name = models.CharField(max_length=100)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    # stalled: minutes without a new step
    stalled_minutes = models.FloatField(null=True, blank=True)
    # finding: its kind (blank: any) and the least severity
    finding_kind = models.CharField(max_length=64, blank=True)
    # finding: the least severity; alert: the least level
    min_level = models.CharField(max_length=16, choices=Level.choices, default=Level.INFO)
    # metric: key, operator, threshold (unused for "nan")
    metric_key = models.CharField(max_length=200, blank=True)
    operator = models.CharField(max_length=8, choices=Operator.choices, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    destinations = models.ManyToManyField(Destination, related_name="rules")
    cooldown_minutes = models.FloatField(default=0.0)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["project", "trigger"], name="alert_rule_project_trigger")]

    def __str__(self) -> str:
        return f"{self.name}: {self.describe()}"

    def describe(self) -> str:
        if self.trigger == Trigger.STALLED:
            return f"no new step for {self.stalled_minutes:g} min"
        if self.trigger == Trigger.FINDING:
            return f"finding {self.finding_kind or 'of any kind'}, {self.min_level} or worse"
        if self.trigger == Trigger.METRIC:
            if self.operator == Operator.NAN:
                return f"{self.metric_key} is NaN or infinite"
            return f"{self.metric_key} {self.operator} {self.threshold:g}"
        if self.trigger == Trigger.ALERT:
            return f"tracker.alert() at {self.min_level} or above"
        return self.get_trigger_display()


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"


class Delivery(models.Model):
    """One message to one destination: once per (rule, destination, run, trigger key),
    which is what stops a web process and a worker that both see an event from sending it
    twice. A "send test" delivery has no rule and no run."""

    rule = models.ForeignKey(
        AlertRule, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    destination = models.ForeignKey(Destination, on_delete=models.CASCADE, related_name="deliveries")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    trigger_key = models.CharField(max_length=300)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "destination", "run", "trigger_key"], name="alert_delivery_once"
            ),
        ]
        indexes = [models.Index(fields=["destination", "created_at"], name="alert_delivery_recent")]

    def __str__(self) -> str:
        return f"{self.trigger_key} -> {self.destination} ({self.status})"


class Attempt(models.Model):
    """One try of a delivery: the receiver's status code and the start of its answer, or
    the error that kept it from answering."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    at = models.DateTimeField(default=timezone.now)
    status_code = models.IntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.FloatField(default=0.0)

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}: {self.status_code or self.error[:40]}"


class DatasetProfile(models.Model):
    """What ``tracker.log_dataset`` measured of one split of a data set: sizes,
    per-feature statistics, class counts, duplicates and the rows' content hashes (never
    the rows). Logging a split again replaces it."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="dataset_profiles")
    name = models.CharField(max_length=200)
    split = models.CharField(max_length=64)
    profile = models.JSONField(default=dict)
    hashes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "name", "split"], name="dataset_profile_unique_split"),
        ]

    def __str__(self) -> str:
        return f"{self.name}/{self.split} of run {self.run_id}"
