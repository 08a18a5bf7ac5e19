"""Projects, runs, metric points and API keys.

The points table is the one that grows to billions of rows; everything else is small.
Listing runs must never touch it (``PointChunk``): per-run, per-metric figures (last / min / max / count)
live in ``Metric``, which ingestion keeps current in the same transaction as the points.
"""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


class Project(models.Model):
    """A named set of runs. Visibility goes through ``experiments.selectors`` only, so a
    team model (memberships) can replace the owner check in one place."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="project_name_unique_per_owner")
        ]

    def __str__(self) -> str:
        return self.name


class RunStatus(models.TextChoices):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CRASHED = "crashed"


class Run(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs")
    name = models.CharField(max_length=200)
    group = models.CharField(max_length=200, blank=True, db_index=True)
    tags = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    config = models.JSONField(default=dict, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    notes = models.TextField(blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(default=timezone.now)

    host = models.CharField(max_length=255, blank=True)
    git_commit = models.CharField(max_length=64, blank=True)
    python_version = models.CharField(max_length=64, blank=True)
    torch_version = models.CharField(max_length=64, blank=True)
    cuda_version = models.CharField(max_length=64, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Exception and traceback when the run failed.")

    # Set by the Stop button or a sweep's pruner; the SDK's should_stop() reads it.
    stop_requested = models.BooleanField(default=False)
    # Points the client could not keep (spool unwritable, memory cap); shown on the run page.
    dropped_points = models.BigIntegerField(default=0)
    points_count = models.BigIntegerField(default=0)
    # Batches the client set aside because this server kept refusing them, kept on the
    # client's disk for `python -m tracker sync --retry-quarantined DIR` (tracker.quarantine).
    # Per client writer: {writer: {"batches", "points", "reason", "dir"}}; shown on the run page.
    quarantined = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["project", "-created_at"], name="run_project_recent")]

    def __str__(self) -> str:
        return f"{self.project.name}/{self.name}"

    @property
    def quarantine_total(self) -> dict:
        """The set-aside batches of every writer: batches, points, the latest reason, and
        the client directories that hold them."""
        items = [item for item in (self.quarantined or {}).values() if item.get("batches")]
        return {
            "batches": sum(item["batches"] for item in items),
            "points": sum(item.get("points", 0) for item in items),
            "reason": items[-1].get("reason", "") if items else "",
            "dirs": sorted({item["dir"] for item in items if item.get("dir")}),
        }

    @property
    def duration_seconds(self) -> float:
        end = self.finished_at or (self.heartbeat_at if self.status != RunStatus.RUNNING else timezone.now())
        return max(0.0, (end - self.started_at).total_seconds())


class Metric(models.Model):
    """One series of a run (``train/loss``), and its running summary.

    ``min_value``/``max_value`` ignore NaN; the best value is derived from them by the
    metric's direction at read time, so changing a direction needs no rewrite.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="metrics")
    key = models.CharField(max_length=200)
    count = models.BigIntegerField(default=0)
    last_step = models.BigIntegerField(null=True, blank=True)
    last_value = models.FloatField(null=True, blank=True)
    last_wall_time = models.FloatField(null=True, blank=True)
    min_value = models.FloatField(null=True, blank=True)
    min_step = models.BigIntegerField(null=True, blank=True)
    max_value = models.FloatField(null=True, blank=True)
    max_step = models.BigIntegerField(null=True, blank=True)
    nonfinite_count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="metric_key_unique_per_run")]

    def __str__(self) -> str:
        return self.key


class PackedArrayField(models.Field):
    """A list of numbers stored as a native array on PostgreSQL (``bigint[]`` /
    ``double precision[]``, so SQL can ``unnest`` and aggregate it) and as packed
    little-endian bytes on SQLite. NaN is stored as NaN."""

    def __init__(self, *args, kind: str = "d", **kwargs) -> None:
        if kind not in ("d", "q"):
            raise ValueError("kind must be 'd' (float64) or 'q' (int64)")
        self.kind = kind
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["kind"] = self.kind
        return name, path, args, kwargs

    def db_type(self, connection) -> str:
        if connection.vendor == "postgresql":
            return "double precision[]" if self.kind == "d" else "bigint[]"
        return "blob"

    def from_db_value(self, value, expression, connection):
        from experiments.chunks import decode_array

        return None if value is None else decode_array(value, self.kind).tolist()

    def get_db_prep_value(self, value, connection, prepared=False):
        from experiments.chunks import encode_array

        if value is None:
            return None
        return encode_array(value, self.kind, connection.vendor)


class PointChunk(models.Model):
    """Points of one metric and rank, from one batch, as parallel arrays of at most
    ``experiments.chunks.CHUNK_POINTS`` points, with their statistics.

    Why chunks rather than a row per point: a batch becomes a few rows, so ingest is
    not bound by per-row index maintenance (a row per point with its indexes stored
    ~150k points/s on our machines; the target is 250k/s end to end), storage is
    ~25 bytes a point instead of ~100, and a chart of a long series reads the chunk
    statistics instead of every point (only chunks that straddle a bucket are unnested).

    Append-only: a step logged again (resume from a checkpoint) lands in a newer chunk,
    and exact reads keep the newest value per (metric, rank, step).
    """

    id = models.BigAutoField(primary_key=True)
    # No FK constraint or index of its own: the composite index below starts with it.
    metric = models.ForeignKey(
        Metric, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+"
    )
    rank = models.SmallIntegerField(default=0)
    step_min = models.BigIntegerField()
    step_max = models.BigIntegerField()
    count = models.IntegerField()
    nan_count = models.IntegerField(default=0)
    # Over non-NaN values (±inf included); NULL when every value is NaN.
    value_min = models.FloatField(null=True)
    value_max = models.FloatField(null=True)
    step_at_min = models.BigIntegerField(null=True)
    step_at_max = models.BigIntegerField(null=True)
    wall_min = models.FloatField()
    wall_max = models.FloatField()
    steps = PackedArrayField(kind="q")
    vals = PackedArrayField(kind="d")
    walls = PackedArrayField(kind="d")

    class Meta:
        indexes = [
            # Every series read: WHERE metric_id = ? AND step_min <= ? AND step_max >= ?
            models.Index(fields=["metric", "step_min"], name="chunk_series"),
        ]


class BatchReceipt(models.Model):
    """Proof a batch was stored: (run, writer, seq) is unique, and it is inserted in the
    same transaction as the batch's points, so a retried batch is stored once."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="+")
    writer = models.CharField(max_length=64)
    seq = models.BigIntegerField()
    points = models.IntegerField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "writer", "seq"], name="batch_receipt_unique")]


def _hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKeyQuerySet(models.QuerySet):
    def active(self) -> "ApiKeyQuerySet":
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """An API key, stored as its SHA-256. Keys are 256-bit random, so a fast hash is as
    safe as a slow one and keeps the per-request lookup to one indexed query."""

    PREFIX = "trk_"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    key_prefix = models.CharField(max_length=16, help_text="First characters, to recognise a key.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    def __str__(self) -> str:
        state = "revoked" if self.revoked_at else "active"
        return f"{self.key_prefix}… ({self.user}, {state})"

    @classmethod
    def issue(cls, user, name: str = "") -> tuple["ApiKey", str]:
        """Create a key; returns the row and the raw key, which is never stored."""
        raw = cls.PREFIX + secrets.token_urlsafe(32)
        key = cls.objects.create(user=user, name=name, key_prefix=raw[:10], key_hash=_hash_key(raw))
        return key, raw

    @classmethod
    def authenticate(cls, raw: str):
        """The active key's user for a raw key, or None."""
        if not raw.startswith(cls.PREFIX):
            return None
        key = cls.objects.active().select_related("user").filter(key_hash=_hash_key(raw)).first()
        if key is None or not key.user.is_active:
            return None
        return key

    def revoke(self) -> None:
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])


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


class MediaKind(models.TextChoices):
    CONFUSION_MATRIX = "confusion_matrix"
    ROC_CURVE = "roc_curve"
    PR_CURVE = "pr_curve"
    HISTOGRAM = "histogram"
    MODEL_SUMMARY = "model_summary"


class Media(models.Model):
    """One logged figure of a run at a step: a confusion matrix or an ROC/PR curve of a
    split (``name`` = ``val``), a histogram of a tensor (``name`` = ``grad/conv1.weight``),
    or the model summary. ``data`` holds the numbers (see ``experiments.media``), not a
    rendering, so pages and comparisons derive what they need (per-class F1, quantiles).

    Scalars (gradient norms, GPU memory) are metrics, not media: they get charts,
    downsampling and live updates from the points table.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="media")
    kind = models.CharField(max_length=32, choices=MediaKind.choices)
    name = models.CharField(max_length=200)
    step = models.BigIntegerField()
    # Chosen by the client, so a retried upload is stored once.
    uid = models.CharField(max_length=64)
    data = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "uid"], name="media_uid_unique_per_run")]
        indexes = [
            # Every read: WHERE run_id = ? AND kind = ? [AND name = ?] ORDER BY step
            models.Index(fields=["run", "kind", "name", "step"], name="media_series"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} @ {self.step}"


class Checkpoint(models.Model):
    """A model checkpoint stored in the artifact store (``MEDIA_ROOT`` by default).

    ``path`` is relative to the store's root; the file's SHA-256 and size were checked
    against what the client declared when it was uploaded.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="checkpoints")
    step = models.BigIntegerField()
    uid = models.CharField(max_length=64)
    filename = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    metrics = models.JSONField(default=dict, blank=True)
    # The metric a keep-best-k policy ranks the run's checkpoints by ("" when none was
    # asked for); ``which="best"`` uses the newest checkpoint's.
    best_metric = models.CharField(max_length=200, blank=True)
    path = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "uid"], name="checkpoint_uid_unique_per_run")]
        indexes = [models.Index(fields=["run", "step"], name="checkpoint_run_step")]

    def __str__(self) -> str:
        return f"checkpoint of run {self.run_id} @ {self.step}"


# --- Diagnostics (experiments.diagnostics) ----------------------------------------------


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

    def __str__(self) -> str:
        return f"diagnosis of run {self.run_id} at {self.diagnosed_at:%Y-%m-%d %H:%M:%S}"
