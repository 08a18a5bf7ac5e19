"""Plain-dict shapes of sweeps and trials for JSON responses (the SDK reads these)."""

from django.http import HttpRequest
from django.urls import reverse

from tuning.models import Sweep, Trial
from tuning.selectors import best_trial, progress


def trial_dict(trial: Trial) -> dict:
    return {
        "id": trial.pk,
        "number": trial.number,
        "state": trial.state,
        "params": trial.params,
        "value": trial.value,
        "intermediate": trial.intermediate,
        "run_id": trial.run_id,
        "worker": trial.worker,
        "worker_pid": trial.worker_pid,
        "error": trial.error,
        "note": trial.note,
        "exit_code": trial.exit_code,
        "peak_rss_bytes": trial.peak_rss_bytes,
        "peak_gpu_bytes": trial.peak_gpu_bytes,
        "peak_gpu_reserved_bytes": trial.peak_gpu_reserved_bytes,
        "started_at": trial.started_at,
        "finished_at": trial.finished_at,
        "duration_seconds": round(trial.duration_seconds, 3),
    }


def best_dict(trial: Trial | None) -> dict | None:
    if trial is None:
        return None
    return {"number": trial.number, "params": trial.params, "value": trial.value, "run_id": trial.run_id}


def sweep_dict(sweep: Sweep, request: HttpRequest | None = None) -> dict:
    path = reverse("sweep", args=[sweep.pk])
    return {
        "id": sweep.pk,
        "project": sweep.project.name,
        "name": sweep.name,
        "status": sweep.status,
        "error": sweep.error,
        "objective": sweep.objective,
        "direction": sweep.direction,
        "space": sweep.space,
        "sampler": sweep.sampler,
        "sampler_options": sweep.sampler_options,
        "pruner": sweep.pruner,
        "pruner_options": sweep.pruner_options,
        "seed": sweep.seed,
        "n_trials": sweep.n_trials,
        "parallelism": sweep.parallelism,
        "entry_point": sweep.entry_point,
        "config": sweep.config,
        "study_name": sweep.study_name,
        "created_at": sweep.created_at,
        "started_at": sweep.started_at,
        "finished_at": sweep.finished_at,
        "trials": progress(sweep),
        "best": best_dict(best_trial(sweep)),
        "url": request.build_absolute_uri(path) if request is not None else path,
    }
