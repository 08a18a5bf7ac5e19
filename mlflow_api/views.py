"""The MLflow tracking endpoints: parse (``http.Params``), resolve ids through the
visibility rules (``ids``), call the shared services or ``mapping``, answer MLflow's JSON.
Each view runs in one transaction: a refused request writes nothing."""

import base64
import math
import secrets
from datetime import UTC, datetime

import numpy as np
import orjson

from experiments import services
from experiments.chunks import chunks_read
from experiments.errors import ApiError
from experiments.jsonvalues import NONFINITE
from experiments.models import Metric, Project, Run, RunStatus
from experiments.payloads import INT64_MAX, Batch, RunEnd, RunStart, check_project_name, check_project_ref
from experiments.selectors import projects_visible_to, runs_visible_to
from mlflow_api import access, mapping, search
from mlflow_api.http import Caller, MlflowError, Params, mlflow_view
from mlflow_api.ids import (
    DEFAULT_EXPERIMENT_ID,
    experiment_id,
    project_for,
    project_named,
    run_for,
)
from mlflow_api.models import LifecycleStage, MlflowExperiment, MlflowRun

# MLflow's limits (mlflow.utils.validation).
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
SEARCH_MAX_RESULTS_DEFAULT = 1000
SEARCH_MAX_RESULTS = 50_000
HISTORY_MAX_RESULTS = 25_000
VIEW_TYPES = {
    "ACTIVE_ONLY": "active",
    "DELETED_ONLY": "deleted",
    "ALL": None,
    "1": "active",
    "2": "deleted",
    "3": None,
}


def _when(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


# -- experiments -------------------------------------------------------------------------


def _experiment_name(params: Params, field: str, entity: bool = True) -> str:
    """An experiment's name: a project's name, or ``entity/name`` for a team's project
    (not when renaming: a rename keeps the project where it is)."""
    name = params.text(field, required=True, max_length=500)
    try:
        return check_project_ref(name, field) if entity else check_project_name(name, field)
    except ApiError as exc:
        raise MlflowError(f"Invalid value {name[:100]!r} for parameter '{field}': {exc.message}") from None


def _tag_items(params: Params, field: str = "tags") -> list[tuple[str, str]]:
    items = []
    for i, tag in enumerate(params.items(field)):
        if type(tag) is not dict:
            raise MlflowError(
                f"Invalid value for parameter '{field}[{i}]': must be an object {{key, value}}."
            )
        key = mapping.check_name(tag.get("key"), f"{field}[{i}].key")
        value = mapping.check_value(tag.get("value"), f"{field}[{i}].value", mapping.MAX_TAG_VALUE_LENGTH)
        items.append((key, value))
    return items


def _experiment_extras(project: Project) -> MlflowExperiment:
    extra, _ = MlflowExperiment.objects.select_for_update().get_or_create(project=project)
    return extra


def _set_experiment_tags(project: Project, tags: list[tuple[str, str]]) -> None:
    extra = _experiment_extras(project)
    for key, value in tags:
        if key == mapping.TAG_NOTE:
            project.description = value
            project.save(update_fields=["description"])
        else:
            extra.tags[key] = value
    extra.save()


@mlflow_view("POST", write=True)
def experiments_create(request, caller: Caller, params: Params) -> dict:
    name = _experiment_name(params, "name")
    tags = _tag_items(params)
    existing = project_named(caller.user, name)
    # A bare name is the caller's own experiment: a team's of that name does not clash.
    if existing is not None and ("/" in name or existing.team_id is None):
        raise MlflowError(f"Experiment '{name}' already exists.", "RESOURCE_ALREADY_EXISTS")
    project = access.project_create(caller.user, name)
    if tags:
        _set_experiment_tags(project, tags)
    return {"experiment_id": experiment_id(project, caller.user)}


@mlflow_view("GET")
def experiments_get(request, caller: Caller, params: Params) -> dict:
    project = project_for(caller.user, params.text("experiment_id", required=True, max_length=64))
    return {"experiment": mapping.experiment_dict(project, caller.user)}


@mlflow_view("GET")
def experiments_get_by_name(request, caller: Caller, params: Params) -> dict:
    name = params.text("experiment_name", required=True, max_length=500)
    project = project_named(caller.user, name)
    if project is None:
        raise MlflowError(f"Could not find experiment with name '{name[:200]}'", "RESOURCE_DOES_NOT_EXIST")
    return {"experiment": mapping.experiment_dict(project, caller.user)}


EXPERIMENT_ATTRIBUTES = {
    "name": str,
    "experiment_id": str,
    "lifecycle_stage": str,
    "creation_time": float,
    "last_update_time": float,
}


def _page(params: Params, default: int, maximum: int) -> tuple[int, int]:
    """(offset, limit) from ``page_token`` and ``max_results``."""
    limit = params.integer("max_results", default=default)
    if limit < 1 or limit > maximum:
        raise MlflowError(
            f"Invalid value {limit} for parameter 'max_results': it must be at least 1 and at most {maximum}."
        )
    token = params.text("page_token", max_length=200)
    offset = 0
    if token:
        try:
            offset = int(orjson.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
        except (ValueError, TypeError, KeyError, orjson.JSONDecodeError):
            raise MlflowError(f"Invalid value {token[:60]!r} for parameter 'page_token'.") from None
        if offset < 0:
            raise MlflowError(f"Invalid value {token[:60]!r} for parameter 'page_token'.")
    return offset, limit


def _next_token(offset: int, limit: int, total: int) -> dict:
    if offset + limit >= total:
        return {}
    return {"next_page_token": base64.urlsafe_b64encode(orjson.dumps({"offset": offset + limit})).decode()}


def _view_type(params: Params, field: str) -> str | None:
    raw = params.raw(field)
    if raw is None:
        return "active"
    if str(raw) not in VIEW_TYPES:
        raise MlflowError(
            f"Invalid value {raw!r:.40} for parameter '{field}': use ACTIVE_ONLY, DELETED_ONLY or ALL."
        )
    return VIEW_TYPES[str(raw)]


@mlflow_view("POST")
def experiments_search(request, caller: Caller, params: Params) -> dict:
    offset, limit = _page(params, SEARCH_MAX_RESULTS_DEFAULT, SEARCH_MAX_RESULTS)
    stage = _view_type(params, "view_type")
    clauses = search.parse_filter(params.text("filter"), EXPERIMENT_ATTRIBUTES, bare="attr")
    order = search.parse_order_by(params.items("order_by"), EXPERIMENT_ATTRIBUTES, bare="attr")
    match = search.matcher(clauses)
    views = []
    for project in projects_visible_to(caller.user).select_related("mlflow", "owner"):
        data = mapping.experiment_dict(project, caller.user)
        if stage and data["lifecycle_stage"] != stage:
            continue
        view = {
            "data": data,
            "metric": {},
            "param": {},
            "tag": {t["key"]: t["value"] for t in data["tags"]},
            "attr": {
                "name": data["name"],
                "experiment_id": data["experiment_id"],
                "lifecycle_stage": data["lifecycle_stage"],
                "creation_time": float(data["creation_time"]),
                "last_update_time": float(data["last_update_time"]),
            },
        }
        if match(view):
            views.append(view)
    default = [search.OrderBy("attr", "creation_time", False), search.OrderBy("attr", "experiment_id", True)]
    views = search.sort_views(views, order, default)
    page = views[offset : offset + limit]
    return {"experiments": [v["data"] for v in page], **_next_token(offset, limit, len(views))}


def _project_for_write(caller: Caller, params: Params) -> Project:
    project = project_for(caller.user, params.text("experiment_id", required=True, max_length=64))
    access.require_write(caller.user, project)
    return project


@mlflow_view("POST", write=True)
def experiments_update(request, caller: Caller, params: Params) -> dict:
    project = _project_for_write(caller, params)
    name = _experiment_name(params, "new_name", entity=False)
    other = project_named(caller.user, name)
    if other is not None and other.pk != project.pk:
        raise MlflowError(f"Experiment '{name}' already exists.", "RESOURCE_ALREADY_EXISTS")
    project.name = name
    project.save(update_fields=["name"])
    _experiment_extras(project).save()  # its last update time
    return {}


def _set_experiment_stage(caller: Caller, params: Params, stage: str) -> dict:
    project = _project_for_write(caller, params)
    if stage == LifecycleStage.DELETED and params.text("experiment_id") == DEFAULT_EXPERIMENT_ID:
        raise MlflowError(
            "Cannot delete the default experiment '0'. This is an internally reserved experiment."
        )
    extra = _experiment_extras(project)
    extra.lifecycle_stage = stage
    extra.save()
    return {}


@mlflow_view("POST", write=True)
def experiments_delete(request, caller: Caller, params: Params) -> dict:
    return _set_experiment_stage(caller, params, LifecycleStage.DELETED)


@mlflow_view("POST", write=True)
def experiments_restore(request, caller: Caller, params: Params) -> dict:
    return _set_experiment_stage(caller, params, LifecycleStage.ACTIVE)


@mlflow_view("POST", write=True)
def experiments_set_tag(request, caller: Caller, params: Params) -> dict:
    project = _project_for_write(caller, params)
    key = mapping.check_name(params.raw("key"), "key")
    value = mapping.check_value(params.raw("value"), "value", 20_000)
    _set_experiment_tags(project, [(key, value)])
    return {}


@mlflow_view("POST", write=True)
def experiments_delete_tag(request, caller: Caller, params: Params) -> dict:
    project = _project_for_write(caller, params)
    key = params.text("key", required=True, max_length=mapping.MAX_KEY_LENGTH)
    extra = _experiment_extras(project)
    if key == mapping.TAG_NOTE and project.description:
        project.description = ""
        project.save(update_fields=["description"])
    elif extra.tags.pop(key, None) is None:
        raise MlflowError(
            f"No tag with name: {key} in experiment {params.text('experiment_id')}", "RESOURCE_DOES_NOT_EXIST"
        )
    extra.save()
    return {}


# -- runs --------------------------------------------------------------------------------


def _run_for_write(caller: Caller, params: Params) -> Run:
    return run_for(caller.user, params.run_id(), write=True)


@mlflow_view("POST", write=True)
def runs_create(request, caller: Caller, params: Params) -> dict:
    project = project_for(caller.user, params.text("experiment_id", max_length=64) or DEFAULT_EXPERIMENT_ID)
    extra = mapping.experiment_extras(project)
    if extra and extra.lifecycle_stage != LifecycleStage.ACTIVE:
        raise MlflowError(
            f"The experiment {experiment_id(project, caller.user)} must be in the 'active' state. "
            f"Current state is {extra.lifecycle_stage}."
        )
    tags = _tag_items(params)
    name = params.text("run_name", max_length=200).strip()
    name = name or next((v for k, v in tags if k == mapping.TAG_RUN_NAME), "").strip()
    start_time = params.integer("start_time", minimum=0)
    user_id = params.text("user_id", max_length=255)
    start = RunStart(project=project.name, name=name[:200], group="", tags=[], config={}, resume_id=None)
    run = access.run_create(caller.user, project, start)
    MlflowRun.objects.create(run=run, user_id=user_id)
    if start_time:
        Run.objects.filter(pk=run.pk).update(started_at=_when(start_time))
    mapping.run_write(run, tags=[(k, v) for k, v in tags if k != mapping.TAG_RUN_NAME])
    run = Run.objects.select_related("project", "mlflow").get(pk=run.pk)
    return {"run": mapping.run_dict(run, caller.user)}


@mlflow_view("GET")
def runs_get(request, caller: Caller, params: Params) -> dict:
    run = run_for(caller.user, params.run_id())
    return {"run": mapping.run_dict(run, caller.user)}


@mlflow_view("POST", write=True)
def runs_update(request, caller: Caller, params: Params) -> dict:
    run = _run_for_write(caller, params)
    extra = mapping.check_active(run)
    status = params.text("status", max_length=16)
    if status and status not in mapping.STATUS_IN:
        raise MlflowError(
            f"Invalid value {status!r} for parameter 'status': use one of {', '.join(mapping.STATUS_IN)}."
        )
    end_time = params.integer("end_time", minimum=0)
    name = params.text("run_name", max_length=200).strip()
    if name:
        mapping.run_write(run, tags=[(mapping.TAG_RUN_NAME, name)])
    if status:
        ours = mapping.STATUS_IN[status]
        if ours == RunStatus.RUNNING:
            if run.status != RunStatus.RUNNING:
                resume = RunStart(
                    project=run.project.name, name="", group="", tags=[], config={}, resume_id=run.pk
                )
                services.run_start(user=caller.user, start=resume)
        else:
            end = RunEnd(status=ours, exit_code=None, error="", summary={}, dropped=0)
            services.run_finish(run=run, end=end)
            if end_time:
                Run.objects.filter(pk=run.pk).update(finished_at=_when(end_time))
        extra.status = status
        extra.save(update_fields=["status"])
    run = Run.objects.select_related("project", "mlflow").get(pk=run.pk)
    return {"run_info": mapping.run_info(run, mapping.extras(run), caller.user)}


def _set_run_stage(caller: Caller, params: Params, stage: str) -> dict:
    run = _run_for_write(caller, params)
    extra, _ = MlflowRun.objects.select_for_update().get_or_create(run=run)
    extra.lifecycle_stage = stage
    extra.save(update_fields=["lifecycle_stage"])
    return {}


@mlflow_view("POST", write=True)
def runs_delete(request, caller: Caller, params: Params) -> dict:
    return _set_run_stage(caller, params, LifecycleStage.DELETED)


@mlflow_view("POST", write=True)
def runs_restore(request, caller: Caller, params: Params) -> dict:
    return _set_run_stage(caller, params, LifecycleStage.ACTIVE)


def _int_field(value, where: str, default: int | None) -> int:
    """A step or timestamp: proto JSON sends int64 as a string of digits, or a number."""
    if value is None and default is not None:
        return default
    if type(value) is str and value.isascii() and value.isdigit():
        value = int(value)
    if type(value) is not int or not 0 <= value <= INT64_MAX:
        if value is None:
            raise MlflowError(f"Missing value for required parameter '{where}'.")
        raise MlflowError(
            f"Invalid value {value!r:.40} for parameter '{where}': must be an integer from 0 to 2**63 - 1."
        )
    return value


def _metrics(items: list, where: str | None) -> list[tuple[str, float, float, int]]:
    """MLflow metrics as (key, value, wall time in seconds, step), on the ingest hot path:
    one tight loop, each key checked once. ``where`` names the list (``metrics``), None
    for log-metric's own fields."""
    out = []
    known: set[str] = set()
    for i, item in enumerate(items):
        at = f"{where}[{i}]." if where else ""
        if type(item) is not dict:
            raise MlflowError(
                f"Invalid value for parameter '{at[:-1]}': must be an object {{key, value, timestamp, step}}."
            )
        key = item.get("key")
        if key not in known:
            mapping.check_name(key, f"{at}key")
            if len(key) > 200:
                raise MlflowError(
                    f"Invalid value for parameter '{at}key': metric names are at most 200 characters here."
                )
            known.add(key)
        value = item.get("value")
        kind = type(value)
        if kind is int:
            value = float(value)
        elif kind is not float:
            if kind is str and value in NONFINITE:
                value = NONFINITE[value]
            else:
                raise MlflowError(f"Invalid value {value!r:.40} for parameter '{at}value': must be a number.")
        timestamp = _int_field(item.get("timestamp"), f"{at}timestamp", None)
        step = _int_field(item.get("step"), f"{at}step", 0)
        out.append((key, value, timestamp / 1000, step))
    return out


def _ingest(run: Run, metrics: list[tuple[str, float, float, int]]) -> None:
    """Points through the same bulk path as our SDK's batches (``batch_ingest``)."""
    if not metrics:
        return
    by_key: dict[str, tuple[list, list, list]] = {}
    for key, value, wall, step in metrics:
        cols = by_key.setdefault(key, ([], [], []))
        cols[0].append(step)
        cols[1].append(value)
        cols[2].append(wall)
    # A receipt per request: MLflow has no sequence numbers, so every request is new.
    batch = Batch(
        writer="mlflow",
        seq=secrets.randbits(62),
        rank=0,
        keys=list(by_key),
        columns=list(by_key.values()),
        summary={},
    )
    services.batch_ingest(run=run, batch=batch)


@mlflow_view("POST", write=True)
def runs_log_metric(request, caller: Caller, params: Params) -> dict:
    run = _run_for_write(caller, params)
    mapping.refuse_deleted(run)
    _ingest(run, _metrics([params.data], None))
    return {}


@mlflow_view("POST", write=True)
def runs_log_parameter(request, caller: Caller, params: Params) -> dict:
    run = _run_for_write(caller, params)
    key = mapping.check_name(params.raw("key"), "key")
    value = mapping.check_value(params.raw("value"), "value", mapping.MAX_PARAM_VALUE_LENGTH)
    mapping.run_write(run, params=[(key, value)])
    return {}


@mlflow_view("POST", write=True)
def runs_set_tag(request, caller: Caller, params: Params) -> dict:
    run = _run_for_write(caller, params)
    key = mapping.check_name(params.raw("key"), "key")
    value = mapping.check_value(params.raw("value"), "value", mapping.MAX_TAG_VALUE_LENGTH)
    mapping.run_write(run, tags=[(key, value)])
    return {}


@mlflow_view("POST", write=True)
def runs_delete_tag(request, caller: Caller, params: Params) -> dict:
    run = _run_for_write(caller, params)
    mapping.run_delete_tag(run, params.text("key", required=True, max_length=mapping.MAX_KEY_LENGTH))
    return {}


def _limit(name: str, limit: int, count: int) -> None:
    if count > limit:
        raise MlflowError(
            f"A batch logging request can contain at most {limit} {name}. Got {count} {name}. "
            "Please split up the batch into smaller batches."
        )


@mlflow_view("POST", write=True)
def runs_log_batch(request, caller: Caller, params: Params) -> dict:
    metrics, raw_params, tags = params.items("metrics"), params.items("params"), params.items("tags")
    _limit("metrics", MAX_METRICS_PER_BATCH, len(metrics))
    _limit("params", MAX_PARAMS_TAGS_PER_BATCH, len(raw_params))
    _limit("tags", MAX_PARAMS_TAGS_PER_BATCH, len(tags))
    _limit("metrics, params, and tags", MAX_ENTITIES_PER_BATCH, len(metrics) + len(raw_params) + len(tags))
    points = _metrics(metrics, "metrics")
    param_items = []
    for i, p in enumerate(raw_params):
        if type(p) is not dict:
            raise MlflowError(f"Invalid value for parameter 'params[{i}]': must be an object {{key, value}}.")
        key = mapping.check_name(p.get("key"), f"params[{i}].key")
        value = mapping.check_value(p.get("value"), f"params[{i}].value", mapping.MAX_PARAM_VALUE_LENGTH)
        param_items.append((key, value))
    seen: dict[str, str] = {}
    for key, value in param_items:
        if seen.setdefault(key, value) != value:
            raise MlflowError(
                f"Duplicate parameter keys have been submitted: ['{key}']. Please ensure the request "
                "contains only one param value per param key."
            )
    tag_items = _tag_items(params)
    run = _run_for_write(caller, params)
    if param_items or tag_items:
        mapping.run_write(run, params=param_items, tags=tag_items)
    else:
        mapping.refuse_deleted(run)
    _ingest(run, points)
    return {}


# -- search ------------------------------------------------------------------------------


def _run_view(run: Run, user, metrics: dict[str, float]) -> dict:
    extra = mapping.extras(run)
    info = mapping.run_info(run, extra, user)
    return {
        "run": run,
        "metric": metrics,
        "param": mapping.run_params(run, extra),
        "tag": mapping.run_tags(run, extra),
        "attr": {
            "status": info["status"],
            "run_name": run.name,
            "run_id": info["run_id"],
            "user_id": info["user_id"],
            "artifact_uri": info["artifact_uri"],
            "lifecycle_stage": info["lifecycle_stage"],
            "start_time": float(info["start_time"]),
            "created": float(info["start_time"]),
            "Created": float(info["start_time"]),
            "end_time": float(info["end_time"]) if "end_time" in info else None,
        },
    }


@mlflow_view("POST")
def runs_search(request, caller: Caller, params: Params) -> dict:
    ids = params.items("experiment_ids")
    if any(type(i) is not str for i in ids):
        raise MlflowError("Invalid value for parameter 'experiment_ids': must be a list of strings.")
    projects = [project_for(caller.user, i) for i in ids]
    offset, limit = _page(params, SEARCH_MAX_RESULTS_DEFAULT, SEARCH_MAX_RESULTS)
    stage = _view_type(params, "run_view_type")
    clauses = search.parse_filter(params.text("filter", max_length=100_000))
    order = search.parse_order_by(params.items("order_by"))
    runs = list(
        runs_visible_to(caller.user).filter(project__in=projects).select_related("project__owner", "mlflow")
    )
    if stage:
        runs = [
            r for r in runs if (mapping.extras(r).lifecycle_stage if mapping.extras(r) else "active") == stage
        ]
    # Only the metrics the filter and ordering name, for every candidate run; a page's
    # runs get all of theirs below.
    wanted = {c.key for c in clauses if c.kind == "metric"} | {o.key for o in order if o.kind == "metric"}
    latest: dict[int, dict[str, float]] = {r.pk: {} for r in runs}
    if wanted:
        rows = Metric.objects.filter(run__in=[r.pk for r in runs], key__in=wanted, count__gt=0)
        for run_id, key, value in rows.values_list("run_id", "key", "last_value"):
            latest[run_id][key] = math.nan if value is None else value
    match = search.matcher(clauses)
    views = [v for v in (_run_view(r, caller.user, latest[r.pk]) for r in runs) if match(v)]
    default = [search.OrderBy("attr", "start_time", False), search.OrderBy("attr", "run_id", True)]
    views = search.sort_views(views, order, default)
    page = [v["run"] for v in views[offset : offset + limit]]
    metrics: dict[int, list] = {r.pk: [] for r in page}
    for m in Metric.objects.filter(run__in=[r.pk for r in page]):
        metrics[m.run_id].append(m)
    return {
        "runs": [mapping.run_dict(r, caller.user, metrics[r.pk]) for r in page],
        **_next_token(offset, limit, len(views)),
    }


# -- metric history ----------------------------------------------------------------------


def _history(run: Run, key: str) -> list[dict]:
    """Every value logged for ``key``, by step then as logged: MLflow keeps a value
    logged again at a step (our pages and exact reads keep the newest per step)."""
    metric = Metric.objects.filter(run=run, key=key).first()
    if metric is None:
        return []
    points = chunks_read(metric.pk)
    idx = np.lexsort((points.order, points.step))
    return [
        {"key": key, "value": v, "timestamp": int(w * 1000), "step": s}
        for s, v, w in zip(
            points.step[idx].tolist(), points.value[idx].tolist(), points.wall_time[idx].tolist(), strict=True
        )
    ]


@mlflow_view("GET")
def metrics_get_history(request, caller: Caller, params: Params) -> dict:
    run = run_for(caller.user, params.run_id())
    key = params.text("metric_key", required=True, max_length=mapping.MAX_KEY_LENGTH)
    offset, limit = _page(params, HISTORY_MAX_RESULTS, HISTORY_MAX_RESULTS)
    points = _history(run, key)
    return {"metrics": points[offset : offset + limit], **_next_token(offset, limit, len(points))}


@mlflow_view("GET")
def metrics_get_history_bulk_interval(request, caller: Caller, params: Params) -> dict:
    run_ids = params.items("run_ids")
    if not run_ids or len(run_ids) > 100:
        raise MlflowError("Invalid value for parameter 'run_ids': give 1 to 100 run ids.")
    key = params.text("metric_key", required=True, max_length=mapping.MAX_KEY_LENGTH)
    start = params.integer("start_step", default=None, minimum=0)
    end = params.integer("end_step", default=None, minimum=0)
    if (start is None) != (end is None) or (start is not None and start > end):
        raise MlflowError(
            "Invalid value for parameters 'start_step' and 'end_step': give both, start <= end."
        )
    max_results = params.integer("max_results", default=1000)
    if not 1 <= max_results <= 1000:
        raise MlflowError(f"Invalid value {max_results} for parameter 'max_results': from 1 to 1000.")
    out = []
    for rid in run_ids:
        run = run_for(caller.user, rid)
        points = [p for p in _history(run, key) if start is None or start <= p["step"] <= end]
        steps = sorted({p["step"] for p in points})
        if len(steps) > max_results:  # evenly spaced steps, the first and last kept
            picks = {steps[round(i * (len(steps) - 1) / (max_results - 1))] for i in range(max_results)}
            points = [p for p in points if p["step"] in picks]
        out.extend({**p, "run_id": rid} for p in points)
    return {"metrics": out}


@mlflow_view("POST")
def logged_models_search(request, caller: Caller, params: Params) -> dict:
    """No logged model exists here (creating one answers ``ENDPOINT_NOT_FOUND``), so a
    search finds none; the client searches them when it lists a run's artifacts."""
    for raw in params.items("experiment_ids"):
        project_for(caller.user, str(raw))
    return {"models": []}
