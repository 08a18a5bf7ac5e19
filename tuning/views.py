"""The sweep page: a server-rendered header and trials table, and the JSON its script
(static/js/sweep.js) fetches to draw Optuna's figures and refresh while trials run."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from experiments.api.http import checked, page_json
from experiments.formatting import fmt_duration, fmt_number
from tuning.api.serializers import best_dict, trial_dict
from tuning.models import Sweep, error_summary
from tuning.plots import TITLES, figures_cached
from tuning.selectors import best_trial, progress, sweep_trials, sweeps_visible_to
from tuning.services import trials_recover_lost


def _visible_sweep(request: HttpRequest, sweep_id: int) -> Sweep:
    """The sweep, once trials lost with a dead worker are failed and replaced: reading a
    sweep unsticks it, beat or no beat."""
    sweep = get_object_or_404(sweeps_visible_to(request.user), pk=sweep_id)
    if sweep.is_active and trials_recover_lost(sweep_id=sweep.pk).lost:
        sweep.refresh_from_db()
    return sweep


def _mib(value: int | None) -> str:
    return "—" if value is None else f"{value / 2**20:,.0f} MiB"


def trial_rows(sweep: Sweep) -> list[dict]:
    best = best_trial(sweep)
    rows = []
    for trial in sweep_trials(sweep):
        rows.append(
            {
                **trial_dict(trial),
                "is_best": best is not None and trial.pk == best.pk,
                "error_summary": error_summary(trial.error),
                "value_text": fmt_number(trial.value),
                "duration_text": fmt_duration(trial.duration_seconds),
                "peak_rss_text": _mib(trial.peak_rss_bytes),
                "peak_gpu_text": _mib(trial.peak_gpu_bytes),
                "run_url": reverse("run", args=[trial.run_id]) if trial.run_id else None,
                "steps": len(trial.intermediate or []),
                "params_text": ", ".join(f"{k}={fmt_number(v)}" for k, v in trial.params.items()),
            }
        )
    return rows


@login_required
@checked
def sweep_detail(request: HttpRequest, sweep_id: int) -> HttpResponse:
    sweep = _visible_sweep(request, sweep_id)
    page_data = {
        "sweep": sweep.pk,
        "status": sweep.status,
        "dataUrl": reverse("sweep-data", args=[sweep.pk]),
        "titles": TITLES,
    }
    context = {
        "sweep": sweep,
        "project": sweep.project,
        "progress": progress(sweep),
        "best": best_trial(sweep),
        "trials": trial_rows(sweep),
        "titles": TITLES,
        "page_data": page_data,
    }
    return render(request, "tuning/sweep_detail.html", context)


@page_json
def sweep_data(request: HttpRequest, sweep_id: int) -> dict:
    sweep = _visible_sweep(request, sweep_id)
    return {
        "status": sweep.status,
        "error": sweep.error,
        "progress": progress(sweep),
        "best": best_dict(best_trial(sweep)),
        "trials": trial_rows(sweep),
        "figures": figures_cached(sweep),
    }
