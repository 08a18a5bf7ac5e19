"""Reads of sweeps: who may see which (through ``experiments.selectors``), who may run
them, progress counts and the best trial."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Q, QuerySet

from experiments.selectors import projects_visible_to
from tuning.models import Direction, Sweep, Trial, TrialState

RUN_SWEEPS = "tuning.run_sweeps"


def user_can_run_sweeps(user: AbstractBaseUser) -> bool:
    """Whether ``user`` may create, start or resume sweeps, which run code on the workers:
    the ``tuning.run_sweeps`` permission (directly or through a group), or a superuser."""
    return bool(user.is_active and user.has_perm(RUN_SWEEPS))


def sweeps_visible_to(user: AbstractBaseUser) -> QuerySet[Sweep]:
    return Sweep.objects.filter(project__in=projects_visible_to(user)).select_related("project")


def with_progress(sweeps: QuerySet[Sweep]) -> QuerySet[Sweep]:
    """Annotate ``n_complete``, ``n_pruned``, ``n_failed``, ``n_running`` (one query)."""
    return sweeps.annotate(
        **{
            f"n_{state}": Count("trials", filter=Q(trials__state=state))
            for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED, TrialState.RUNNING)
        }
    )


def progress(sweep: Sweep) -> dict[str, int]:
    counts = dict(sweep.trials.values_list("state").annotate(n=Count("id")))
    return {state: counts.get(state, 0) for state in TrialState.values}


def best_trial(sweep: Sweep) -> Trial | None:
    """The complete trial with the best value for the sweep's direction (ties: earliest)."""
    order = "-value" if sweep.direction == Direction.MAXIMIZE else "value"
    trials = sweep.trials.filter(state=TrialState.COMPLETE, value__isnull=False)
    return trials.order_by(order, "number").first()


def sweep_trials(sweep: Sweep) -> QuerySet[Trial]:
    return sweep.trials.order_by("number", "id")
