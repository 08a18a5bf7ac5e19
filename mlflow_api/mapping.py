"""MLflow's entities over our rows, both ways: one truth behind both APIs.

- params are config: each value is kept as the text logged (``MlflowRun.params``) and
  stored in ``config`` parsed, a number where it reads as one (the runs table sorts it);
- tags are tags: ``mlflow.runName`` is the run's name, ``mlflow.parentRunId`` its group,
  ``mlflow.note.content`` its notes, ``mlflow.source.git.commit`` its git commit; other
  tags keep their whole value in ``MlflowRun.tags``, and user tags (not ``mlflow.*``) also
  show in ``run.tags`` as ``key=value`` when they fit our tag limits;
- metrics are points (``timestamp`` ms is the wall time), read back from ``Metric``.
"""

import math
import re

import orjson
from django.conf import settings
from django.db import transaction

from experiments.models import Metric, Project, Run, RunStatus
from experiments.payloads import check_stored_size
from mlflow_api.http import MlflowError
from mlflow_api.ids import experiment_id, run_hex
from mlflow_api.models import LifecycleStage, MlflowExperiment, MlflowRun

MAX_KEY_LENGTH = 250  # MLflow's MAX_ENTITY_KEY_LENGTH
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
# MLflow's rule for param, metric and tag names (mlflow.utils.validation).
_NAME = re.compile(r"[/\w.\- :]*")
_INT = re.compile(r"[+-]?\d{1,18}")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,3})?")

TAG_RUN_NAME = "mlflow.runName"
TAG_PARENT = "mlflow.parentRunId"
TAG_NOTE = "mlflow.note.content"
TAG_GIT_COMMIT = "mlflow.source.git.commit"
_HEX32 = re.compile(r"[0-9a-f]{32}")

# Our statuses as MLflow's, and MLflow's as ours (KILLED and SCHEDULED are kept by name).
STATUS_OUT = {
    RunStatus.RUNNING: "RUNNING",
    RunStatus.FINISHED: "FINISHED",
    RunStatus.FAILED: "FAILED",
    RunStatus.CRASHED: "FAILED",
}
STATUS_IN = {
    "RUNNING": RunStatus.RUNNING,
    "SCHEDULED": RunStatus.RUNNING,
    "FINISHED": RunStatus.FINISHED,
    "FAILED": RunStatus.FAILED,
    "KILLED": RunStatus.FAILED,
}


def millis(dt) -> int | None:
    return None if dt is None else int(dt.timestamp() * 1000)


def check_name(key, where: str) -> str:
    """A param, metric or tag name as MLflow accepts one (and our columns hold)."""
    if type(key) is not str or not key:
        raise MlflowError(f"Invalid value {key!r:.60} for parameter '{where}': a non-empty name is required.")
    if len(key) > MAX_KEY_LENGTH:
        raise MlflowError(
            f"Invalid value for parameter '{where}': names are at most {MAX_KEY_LENGTH} characters, "
            f"got {len(key)}."
        )
    if not _NAME.fullmatch(key) or ".." in key.split("/") or key.startswith("/"):
        raise MlflowError(
            f"Invalid value {key[:60]!r} for parameter '{where}': names may only contain "
            "alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colons (:) "
            "and slashes (/)."
        )
    return key


def check_value(value, where: str, max_length: int) -> str:
    if value is None:
        return ""
    if type(value) is not str:
        raise MlflowError(f"Invalid value {value!r:.60} for parameter '{where}': must be a string.")
    if len(value) > max_length:
        raise MlflowError(
            f"Invalid value for parameter '{where}': at most {max_length} characters, got {len(value)}."
        )
    if "\x00" in value:
        raise MlflowError(f"Invalid value for parameter '{where}': must not contain NUL characters.")
    return value


def parse_param(text: str):
    """A param's value as config stores it: an int or finite float where the text is a
    number, the text otherwise."""
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        number = float(text)
        if math.isfinite(number):
            return number
    return text


def render_value(value) -> str:
    """A config value as a param's text (for runs our SDK logged)."""
    if type(value) is str:
        return value
    if value is None or type(value) is bool:
        return str(value)
    if type(value) in (int, float):
        return repr(value)
    return orjson.dumps(value).decode()


def extras(run: Run) -> MlflowRun | None:
    try:
        return run.mlflow
    except MlflowRun.DoesNotExist:
        return None


def run_params(run: Run, extra: MlflowRun | None) -> dict[str, str]:
    texts = extra.params if extra else {}
    return {key: texts[key] if key in texts else render_value(value) for key, value in run.config.items()}


def run_tags(run: Run, extra: MlflowRun | None) -> dict[str, str]:
    tags: dict[str, str] = {}
    for tag in run.tags:
        key, _, value = str(tag).partition("=")
        tags[key] = value
    if extra:
        tags.update(extra.tags)
    tags[TAG_RUN_NAME] = run.name
    if _HEX32.fullmatch(run.group):
        tags[TAG_PARENT] = run.group
    if run.notes:
        tags[TAG_NOTE] = run.notes
    if run.git_commit:
        tags[TAG_GIT_COMMIT] = run.git_commit
    return tags


def run_status(run: Run, extra: MlflowRun | None) -> str:
    if extra and extra.status and STATUS_IN.get(extra.status) == run.status:
        return extra.status
    return STATUS_OUT.get(run.status, "FAILED")


def metric_dicts(metrics) -> list[dict]:
    """The latest value of each metric (the one at the highest step), MLflow's run data."""
    out = []
    for m in metrics:
        if not m.count or m.last_step is None:
            continue
        out.append(
            {
                "key": m.key,
                "value": math.nan if m.last_value is None else m.last_value,
                "timestamp": int((m.last_wall_time or 0) * 1000),
                "step": m.last_step,
            }
        )
    return out


def run_info(run: Run, extra: MlflowRun | None, user) -> dict:
    exp = experiment_id(run.project, user)
    rid = run_hex(run)
    info = {
        "run_id": rid,
        "run_uuid": rid,
        "run_name": run.name,
        "experiment_id": exp,
        "user_id": (extra.user_id if extra and extra.user_id else run.project.owner.get_username()),
        "status": run_status(run, extra),
        "start_time": millis(run.started_at),
        "artifact_uri": f"mlflow-artifacts:/{exp}/{rid}/artifacts",
        "lifecycle_stage": extra.lifecycle_stage if extra else LifecycleStage.ACTIVE,
    }
    if run.finished_at is not None and run.status != RunStatus.RUNNING:
        info["end_time"] = millis(run.finished_at)
    return info


def run_dict(run: Run, user, metrics=None) -> dict:
    """A run as MLflow's ``Run`` message (info, data, inputs)."""
    extra = extras(run)
    if metrics is None:
        metrics = Metric.objects.filter(run=run)
    return {
        "info": run_info(run, extra, user),
        "data": {
            "metrics": metric_dicts(metrics),
            "params": [{"key": k, "value": v} for k, v in run_params(run, extra).items()],
            "tags": [{"key": k, "value": v} for k, v in run_tags(run, extra).items()],
        },
        "inputs": {},
    }


def experiment_extras(project: Project) -> MlflowExperiment | None:
    try:
        return project.mlflow
    except MlflowExperiment.DoesNotExist:
        return None


def experiment_dict(project: Project, user) -> dict:
    extra = experiment_extras(project)
    eid = experiment_id(project, user)
    tags = dict(extra.tags) if extra else {}
    if project.description:
        tags[TAG_NOTE] = project.description
    updated = extra.updated_at if extra else project.created_at
    return {
        "experiment_id": eid,
        "name": project.ref,  # entity/name for a team's project, as it is addressed
        "artifact_location": f"mlflow-artifacts:/{eid}",
        "lifecycle_stage": extra.lifecycle_stage if extra else LifecycleStage.ACTIVE,
        "creation_time": millis(project.created_at),
        "last_update_time": millis(max(updated, project.created_at)),
        "tags": [{"key": k, "value": v} for k, v in tags.items()],
    }


def check_active(run: Run) -> MlflowRun:
    """The run's extras row (made on first use); refuses a deleted run, as MLflow does."""
    extra, _ = MlflowRun.objects.select_for_update().get_or_create(run=run)
    if extra.lifecycle_stage != LifecycleStage.ACTIVE:
        raise MlflowError(
            f"The run {run_hex(run)} must be in the 'active' state. Current state is {extra.lifecycle_stage}."
        )
    return extra


def refuse_deleted(run: Run) -> None:
    """Refuse logging to a run deleted through MLflow (without a lock: points need none)."""
    extra = extras(run)
    if extra is not None and extra.lifecycle_stage != LifecycleStage.ACTIVE:
        raise MlflowError(
            f"The run {run_hex(run)} must be in the 'active' state. Current state is {extra.lifecycle_stage}."
        )


def _user_tag(key: str, value: str) -> str:
    return f"{key}={value}" if value else key


@transaction.atomic
def run_write(run: Run, params: list[tuple[str, str]] = (), tags: list[tuple[str, str]] = ()) -> None:
    """Log params (immutable, as in MLflow: the same value again is fine) and set tags,
    under the run's row lock; nothing is written when any of them is refused."""
    run = Run.objects.select_for_update().get(pk=run.pk)
    extra = check_active(run)
    config, texts = {}, dict(extra.params)
    current = run_params(run, extra)
    for key, value in params:
        old = current.get(key, texts.get(key))
        if old is not None and old != value:
            raise MlflowError(
                f"Changing param values is not allowed. Param with key='{key}' was already logged "
                f"with value='{old[:200]}' for run ID='{run_hex(run)}'. Attempted logging new value "
                f"'{value[:200]}'."
            )
        current[key] = texts[key] = value
        config[key] = parse_param(value)
    run_tags_list = list(run.tags)
    extra_tags = dict(extra.tags)
    for key, value in tags:
        if key == TAG_RUN_NAME:
            if len(value) > 200:
                raise MlflowError(f"Invalid value for tag '{key}': a run name is at most 200 characters.")
            if value.strip():
                run.name = value.strip()
        elif key == TAG_PARENT and len(value) <= 200:
            run.group = value
        elif key == TAG_NOTE:
            run.notes = value
        elif key == TAG_GIT_COMMIT and len(value) <= 64:
            run.git_commit = value
        else:
            extra_tags[key] = value
            if not key.startswith("mlflow."):
                run_tags_list = [t for t in run_tags_list if str(t).partition("=")[0] != key]
                text = _user_tag(key, value)
                if (
                    len(text) <= settings.TRACKER_MAX_TAG_LENGTH
                    and len(run_tags_list) < settings.TRACKER_MAX_TAGS
                ):
                    run_tags_list.append(text)
    run.config = {**run.config, **config}
    run.tags = run_tags_list
    if config:
        check_stored_size(run.config, "params", "TRACKER_MAX_CONFIG_BYTES")
    run.save(update_fields=["config", "tags", "name", "group", "notes", "git_commit"])
    extra.params, extra.tags = texts, extra_tags
    extra.save(update_fields=["params", "tags"])


@transaction.atomic
def run_delete_tag(run: Run, key: str) -> None:
    run = Run.objects.select_for_update().get(pk=run.pk)
    extra = check_active(run)
    if key not in run_tags(run, extra) or key == TAG_RUN_NAME:
        raise MlflowError(f"No tag with name: {key} in run with id {run_hex(run)}", "RESOURCE_DOES_NOT_EXIST")
    if key == TAG_PARENT:
        run.group = ""
    elif key == TAG_NOTE:
        run.notes = ""
    elif key == TAG_GIT_COMMIT:
        run.git_commit = ""
    run.tags = [t for t in run.tags if str(t).partition("=")[0] != key]
    extra.tags.pop(key, None)
    run.save(update_fields=["tags", "group", "notes", "git_commit"])
    extra.save(update_fields=["tags"])
