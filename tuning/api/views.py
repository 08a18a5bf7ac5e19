"""The sweeps API (API key or session): create-and-start, read, trials, stop, resume."""

from django.http import HttpRequest

from experiments.api.http import api_view
from experiments.errors import ApiError, NotFound
from experiments.selectors import ADMIN, require_role
from tuning import services
from tuning.api.serializers import sweep_dict, trial_dict
from tuning.errors import SpecError
from tuning.models import Sweep
from tuning.payloads import parse_sweep
from tuning.selectors import RUN_SWEEPS, sweep_trials, sweeps_visible_to, user_can_run_sweeps


def _sweep(user, sweep_id: int) -> Sweep:
    sweep = sweeps_visible_to(user).filter(pk=sweep_id).first()
    if sweep is None:
        raise NotFound(f"sweep {sweep_id} does not exist or is not yours", "sweep")
    return sweep


def _read(user, sweep_id: int) -> Sweep:
    """A sweep as it is read: trials lost with a dead worker are failed and replaced
    first, so a reader never waits on beat to see (and unstick) them."""
    sweep = _sweep(user, sweep_id)
    if sweep.is_active and services.trials_recover_lost(sweep_id=sweep.pk).lost:
        sweep.refresh_from_db()
    return sweep


def _require_run_permission(user) -> None:
    """Creating, starting or resuming a sweep runs its entry point on the workers."""
    if not user_can_run_sweeps(user):
        raise ApiError(
            f"you may not run sweeps: they run code on the workers, which needs the {RUN_SWEEPS!r} "
            "permission (an administrator grants it)",
            None,
            status=403,
        )


@api_view(("POST",))
def sweeps_create(request: HttpRequest, user, body) -> tuple[dict, int]:
    _require_run_permission(user)
    try:
        fields = parse_sweep(body)
        project, start = fields.pop("project"), fields.pop("start")
        sweep = services.sweep_create(user=user, project=project, fields=fields, start=start)
    except SpecError as exc:
        raise ApiError(exc.message, exc.field) from None
    return sweep_dict(sweep, request), 201


@api_view(("GET",), allow_session=True)
def sweep_detail(request: HttpRequest, user, sweep_id: int) -> dict:
    return sweep_dict(_read(user, sweep_id), request)


@api_view(("GET",), allow_session=True)
def sweep_trials_list(request: HttpRequest, user, sweep_id: int) -> dict:
    sweep = _read(user, sweep_id)
    return {"trials": [trial_dict(t) for t in sweep_trials(sweep)]}


@api_view(("POST",))
def sweep_stop(request: HttpRequest, user, body, sweep_id: int) -> dict:
    sweep = _sweep(user, sweep_id)
    require_role(user, sweep.project, ADMIN)
    sweep = services.sweep_stop(sweep=sweep)
    return sweep_dict(sweep, request)


@api_view(("POST",))
def sweep_start(request: HttpRequest, user, body, sweep_id: int) -> dict:
    sweep = _sweep(user, sweep_id)
    require_role(user, sweep.project, ADMIN)
    _require_run_permission(user)
    try:
        sweep = services.sweep_start(sweep=sweep)
    except SpecError as exc:
        raise ApiError(exc.message, exc.field, status=409) from None
    return sweep_dict(sweep, request)
