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

from experiments.jsonstore import ExactJSONEncoder


class Visibility(models.TextChoices):
    # Its members only: the owner, the team's owners and admins, per-project members.
    PRIVATE = "private"
    # Every member of its team, with their team role (or their per-project override).
    TEAM = "team"
    # Also readable (as a viewer) by every signed-in user of this server.
    INSTANCE = "instance"


class Project(models.Model):
    """A named set of runs, of a user (``team`` empty: the owner's personal project) or
    of a team (``owner`` is then who created it). Who may see or change it is decided in
    ``experiments.selectors`` only (from ``teams.models``)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="projects")
    team = models.ForeignKey(
        "teams.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="projects"
    )
    visibility = models.CharField(max_length=16, choices=Visibility.choices, default=Visibility.TEAM)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Archived projects keep everything and stay readable; they take no new runs.
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "name"],
                condition=models.Q(team__isnull=True),
                name="project_name_unique_per_owner",
            ),
            models.UniqueConstraint(
                fields=["team", "name"],
                condition=models.Q(team__isnull=False),
                name="project_name_unique_per_team",
            ),
        ]

    @property
    def ref(self) -> str:
        """How URLs and the API address it: a personal project by its name (``resnet``),
        a team's as ``entity/name`` (``vision/resnet``: names are unique per owner or team,
        so a bare name could be another's)."""
        return f"{self.team.slug}/{self.name}" if self.team_id else self.name

    @property
    def entity(self) -> str:
        """Who the project belongs to, as addressed: the team's slug or the owner's username."""
        return self.team.slug if self.team_id else self.owner.get_username()

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
    config = models.JSONField(default=dict, blank=True, encoder=ExactJSONEncoder)
    summary = models.JSONField(default=dict, blank=True, encoder=ExactJSONEncoder)
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
    # Distributed training: the key every rank of one job sends (derived by the SDK from the
    # launcher's job id), so that each rank's create joins one run; "" for a one-process run.
    # Unique per project; a run that ended gives its key up to the next job that sends it.
    join_key = models.CharField(max_length=200, blank=True, default="")
    # The number of processes (ranks) the launcher started for the run; 1 for one process.
    world_size = models.PositiveIntegerField(default=1)
    # Archived runs keep everything but leave the runs table, the API's lists and exports
    # until restored (``?archived=1`` lists them); None while the run is not archived.
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "-created_at"], name="run_project_recent"),
            # The runs table's "N archived" (count of a project's archived runs): archived
            # runs are few, so this stays tiny; without it the count reads every run.
            models.Index(
                fields=["project"], condition=models.Q(archived_at__isnull=False), name="run_project_archived"
            ),
            # The runs table's status counts (SELECT status, COUNT(*) ... WHERE project_id = ?
            # AND archived_at IS NULL GROUP BY status), read from the index alone: 7 ms at
            # 100,000 runs on PostgreSQL instead of 27 ms reading the runs.
            models.Index(
                fields=["project", "status"],
                condition=models.Q(archived_at__isnull=True),
                name="run_project_status",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "join_key"],
                condition=~models.Q(join_key=""),
                name="run_join_key_unique_per_project",
            )
        ]

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

    # No index of its own: metric_key_unique_per_run (run, key) serves lookups by run.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="metrics", db_index=False)
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
        indexes = [
            # A project's runs by one metric's summary, read from this index alone (the
            # migration INCLUDEs count, last_value, min_value and max_value on PostgreSQL):
            #   filter  val/acc.max >= 0.9:  EXISTS (... WHERE key = ? AND run_id = run.id
            #                                AND max_value >= ?)
            #   sort    -best:val/acc:       LEFT JOIN metric ON run_id = run.id AND key = ?
            #                                ORDER BY max_value DESC LIMIT 200
            #   group   config.optimizer:    one LEFT JOIN per metric column, AVG(last_value)
            # (experiments.filters, table_order, grouping; benchmarks/runs_scale.py)
            models.Index(fields=["key", "run"], name="metric_key_summary"),
        ]

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


class KeyScope(models.TextChoices):
    READ = "read", "read-only"
    READ_WRITE = "read-write", "read-write"


class ApiKeyQuerySet(models.QuerySet):
    def active(self) -> "ApiKeyQuerySet":
        """Not revoked and not expired."""
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=timezone.now())
        )


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
    # The client address of the last use (as the server saw it), shown on the keys page.
    last_used_from = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Scopes (enforced in experiments.api.http and experiments.selectors): a read-only key
    # reads; a read-write key also writes, within its owner's roles. ``all_projects`` off:
    # only the projects listed in ``projects``. Past ``expires_at`` the key is refused.
    scope = models.CharField(max_length=16, choices=KeyScope.choices, default=KeyScope.READ_WRITE)
    all_projects = models.BooleanField(default=True)
    projects = models.ManyToManyField(Project, blank=True, related_name="+")
    expires_at = models.DateTimeField(null=True, blank=True)
    # Issued by the server for one sweep trial (tuning.services): not listed on the keys page.
    internal = models.BooleanField(default=False)

    objects = ApiKeyQuerySet.as_manager()

    def __str__(self) -> str:
        state = "revoked" if self.revoked_at else "active"
        return f"{self.key_prefix}… ({self.user}, {state})"

    @classmethod
    def issue(cls, user, name: str = "", projects=None, **fields) -> tuple["ApiKey", str]:
        """Create a key (``fields``: ``scope``, ``expires_at``, ``internal``; ``projects``
        limits it to those projects); returns the row and the raw key, never stored."""
        raw = cls.PREFIX + secrets.token_urlsafe(32)
        if projects is not None:
            fields["all_projects"] = False
        key = cls.objects.create(user=user, name=name, key_prefix=raw[:10], key_hash=_hash_key(raw), **fields)
        if projects:
            key.projects.set(projects)
        return key, raw

    @property
    def read_only(self) -> bool:
        return self.scope == KeyScope.READ

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
