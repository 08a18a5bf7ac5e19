"""Sweeps (an Optuna study run by Celery workers) and their trials (each a normal run).

The rows here are the source of truth for what the pages, the admin and the API show;
Optuna's own tables (same database) hold what its samplers and pruners read. Execution
keeps the two in step: a trial row is claimed before Optuna is asked for parameters and
finished after Optuna is told the outcome.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from experiments.formatting import error_summary as _error_summary
from experiments.jsonstore import ExactJSONEncoder
from experiments.models import ApiKey, Project, Run


class SweepStatus(models.TextChoices):
    CREATED = "created"
    RUNNING = "running"
    STOPPING = "stopping"  # no new trials; running ones have been asked to stop
    STOPPED = "stopped"
    FINISHED = "finished"
    FAILED = "failed"


class Direction(models.TextChoices):
    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"


def _study_name() -> str:
    return f"sweep-{uuid.uuid4().hex}"


class Sweep(models.Model):
    """A hyperparameter search: ``n_trials`` calls of ``entry_point(config, run)`` with
    ``config`` = the fixed config + the trial's parameters, at most ``parallelism`` at once.

    ``sampler`` and ``pruner`` name plug-ins of ``tuning.samplers`` (no ``choices`` here, so
    adding one needs no migration); ``*_options`` are their keyword arguments.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="sweeps")
    name = models.CharField(max_length=200, help_text="Also the group of the trials' runs.")
    objective = models.CharField(max_length=200, help_text="Metric key the trials log, e.g. val/acc.")
    direction = models.CharField(max_length=8, choices=Direction.choices, default=Direction.MAXIMIZE)
    space = models.JSONField(
        default=dict, blank=True, encoder=ExactJSONEncoder, help_text="Search space, see the README."
    )
    sampler = models.CharField(max_length=32, default="tpe")
    sampler_options = models.JSONField(default=dict, blank=True)
    pruner = models.CharField(max_length=32, default="median")
    pruner_options = models.JSONField(default=dict, blank=True)
    seed = models.BigIntegerField(null=True, blank=True, help_text="Makes a sequential sweep repeatable.")
    n_trials = models.PositiveIntegerField(default=20)
    parallelism = models.PositiveIntegerField(default=1, help_text="At most this many trials at once.")
    entry_point = models.CharField(
        max_length=300, help_text="module:function(config, run), e.g. examples.train_digits:train"
    )
    config = models.JSONField(
        default=dict, blank=True, encoder=ExactJSONEncoder, help_text="Fixed config every trial gets."
    )

    status = models.CharField(max_length=16, choices=SweepStatus.choices, default=SweepStatus.CREATED)
    error = models.TextField(blank=True)
    study_name = models.CharField(max_length=120, unique=True, default=_study_name, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Last trial claimed or finished: the watchdog restarts a running sweep idle too long.
    activity_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status"], name="sweep_status")]
        # Creating or starting a sweep runs its entry point on the workers: code execution,
        # granted on purpose (superusers have it implicitly). See tuning.selectors.
        permissions = [("run_sweeps", "Can run sweep code on workers")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status in (SweepStatus.RUNNING, SweepStatus.STOPPING)


# The error's one-line summary is shared with the run page's diagnosis (a run that
# failed before logging anything): it lives in experiments.formatting.
error_summary = _error_summary


class TrialState(models.TextChoices):
    RUNNING = "running"
    COMPLETE = "complete"
    PRUNED = "pruned"
    FAILED = "failed"


class Trial(models.Model):
    """One call of the entry point, in a fresh child process of a worker.

    ``number`` is Optuna's trial number (None for the moment between claiming the slot
    and Optuna's answer). ``intermediate`` lists ``[run step, value]`` of the objective in
    the order logged; the n-th of them is reported to the pruner as step n.
    """

    sweep = models.ForeignKey(Sweep, on_delete=models.CASCADE, related_name="trials")
    number = models.IntegerField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=TrialState.choices, default=TrialState.RUNNING)
    params = models.JSONField(default=dict, blank=True, encoder=ExactJSONEncoder)
    value = models.FloatField(null=True, blank=True)
    intermediate = models.JSONField(default=list, blank=True, encoder=ExactJSONEncoder)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    worker = models.CharField(max_length=255, blank=True, help_text="Host of the supervising worker.")
    worker_pid = models.IntegerField(null=True, blank=True)
    child_pid = models.IntegerField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Traceback or reason when the trial failed.")
    note = models.CharField(max_length=200, blank=True, help_text="Why a trial ended early.")
    peak_rss_bytes = models.BigIntegerField(null=True, blank=True)
    peak_gpu_bytes = models.BigIntegerField(null=True, blank=True, help_text="torch.cuda max allocated.")
    peak_gpu_reserved_bytes = models.BigIntegerField(null=True, blank=True)

    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sweep", "number"], name="trial_number_unique_per_sweep")
        ]
        indexes = [models.Index(fields=["sweep", "state"], name="trial_sweep_state")]

    def __str__(self) -> str:
        return f"{self.sweep.name} #{self.number if self.number is not None else '?'}"

    @property
    def duration_seconds(self) -> float:
        end = self.finished_at or timezone.now()
        return max(0.0, (end - self.started_at).total_seconds())
