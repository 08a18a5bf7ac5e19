"""``python -m tracker import mlflow SOURCE``: an MLflow tracking server or ``mlruns`` folder.

Read with MLflow's own ``MlflowClient`` (any tracking URI it takes: ``http(s)://``, a
local ``mlruns`` folder, ``sqlite:///...``):

- each experiment becomes a project (``--project`` puts them all in one);
- each run keeps its name, params (as the config, strings as MLflow stores them), tags
  (``key=value`` run tags; ``mlflow.parentRunId`` becomes the group, the git commit the
  run's commit, ``mlflow.note.content`` a "notes" text), status and start / end times;
- every metric point, from ``get_metric_history`` (step, value, timestamp as wall time).

Idempotent: one writer per (run, metric), batches numbered by the index of their last
point in the metric's history, so a re-import sends only points appended since. Artifacts
are not copied (the report counts them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tracker.importers.report import Progress, Report
from tracker.importers.target import (
    MAX_TAG,
    Row,
    SourceRun,
    Target,
    connect,
    digest,
    fail_run,
    project_name,
    usable_key,
    wire_value,
)
from tracker.transport import HttpClient, TrackerError

PAGE = 1000
STATUSES = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "failed"}
# System tags that become fields of the run rather than run tags.
MAPPED_TAGS = {"mlflow.runName", "mlflow.parentRunId", "mlflow.source.git.commit", "mlflow.note.content"}


def tracking_uri(source: str) -> str:
    """A local folder as a ``file:`` URI; anything else (a URL, ``sqlite:///``) as is."""
    path = Path(source)
    if "://" not in source and not source.startswith("file:"):
        if not path.is_dir():
            raise TrackerError(f"{source} is neither a tracking server URL nor an mlruns folder")
        source = path.resolve().as_uri()
    if source.startswith("file:"):
        # MLflow 3 refuses its file store unless asked; reading old runs out of it is the point.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return source


def _paged(fetch: Any) -> Iterator[Any]:
    token = None
    while True:
        page = fetch(token)
        yield from page
        token = page.token
        if not token:
            return


class MlflowImport:
    def __init__(self, source: str, client: HttpClient, *, project: str | None, progress: bool):
        from mlflow.tracking import MlflowClient

        self.source = source
        self.mlflow = MlflowClient(tracking_uri=tracking_uri(source))
        self.client = client
        self.project = project
        self.report = Report("mlflow", source)
        self.progress = Progress("importing") if progress else None

    def experiments(self, names: list[str] | None) -> list[Any]:
        from mlflow.entities import ViewType

        found = list(
            _paged(
                lambda token: self.mlflow.search_experiments(
                    view_type=ViewType.ACTIVE_ONLY, max_results=PAGE, page_token=token
                )
            )
        )
        if names:
            missing = set(names) - {e.name for e in found}
            if missing:
                raise TrackerError(f"no experiment named {', '.join(sorted(missing))} in {self.source}")
            found = [e for e in found if e.name in names]
        return found

    def runs(self, experiment: Any) -> list[Any]:
        from mlflow.entities import ViewType

        return list(
            _paged(
                lambda token: self.mlflow.search_runs(
                    [experiment.experiment_id],
                    run_view_type=ViewType.ACTIVE_ONLY,
                    max_results=PAGE,
                    page_token=token,
                )
            )
        )

    def import_run(self, experiment: Any, run: Any) -> None:
        info, data = run.info, run.data
        tags = dict(data.tags)
        self.report.runs_read += 1
        run_tags = []
        for key, value in sorted(tags.items()):
            if key in MAPPED_TAGS:
                continue
            tag = f"{key}={value}"
            if len(tag) > MAX_TAG:
                self.report.skip(f"tags longer than {MAX_TAG} characters as key=value (not a run tag)")
                continue
            run_tags.append(tag)
        source = SourceRun(
            identity=f"mlflow:{info.run_id}",
            project=project_name(self.project or experiment.name),
            name=info.run_name or tags.get("mlflow.runName") or info.run_id,
            config=dict(data.params),
            group=tags.get("mlflow.parentRunId", ""),
            tags=["mlflow", *run_tags],
            started_at=info.start_time / 1000 if info.start_time else None,
            git_commit=tags.get("mlflow.source.git.commit", ""),
        )
        target = Target(self.client, source, self.report)
        target.open()
        note = tags.get("mlflow.note.content")
        if note:
            self.report.media_read += 1
            uid = "mlf-" + digest(info.run_id, "note", length=40)
            target.media([{"uid": uid, "kind": "text", "name": "notes", "step": 0, "data": {"value": note}}])
        for key in sorted(data.metrics):
            self._metric(target, info.run_id, key)
        self._artifacts(info.run_id)
        status = STATUSES.get(info.status)
        ended = info.end_time / 1000 if info.end_time else None
        error = "killed (MLflow status KILLED)" if info.status == "KILLED" else ""
        target.finish(status, finished_at=ended, error=error)
        if status is None:
            self.report.skip(f"runs still {info.status} in MLflow (kept running here)")
        target.count_run()

    def _metric(self, target: Target, run_id: str, key: str) -> None:
        history = self.mlflow.get_metric_history(run_id, key)
        self.report.points_read += len(history)
        if not usable_key(key):
            self.report.skip("points of metric names the server cannot store", len(history))
            return
        writer = "mlf-" + digest(run_id, key, length=40)
        spans: list[tuple[int, list[Row], list]] = []
        for index, metric in enumerate(history, start=1):
            if metric.step < 0:
                self.report.skip("points at a negative step (steps start at 0)")
                spans.append((index, [], []))
                continue
            row = [int(metric.step), metric.timestamp / 1000, {key: wire_value(metric.value)}]
            spans.append((index, [row], []))
        target.send_spans(writer, spans)
        if self.progress:
            self.progress.add(1, note=f"{target.source.name} {key}")

    def _artifacts(self, run_id: str) -> None:
        try:
            found = self.mlflow.list_artifacts(run_id)
        except Exception:  # an unreachable artifact store must not fail the run's import
            return
        self.report.files_read += len(found)
        self.report.skip("artifacts at runs' top level (artifacts are not copied)", len(found))


def import_mlflow(
    source: str,
    *,
    project: str | None = None,
    experiments: list[str] | None = None,
    server: str | None = None,
    api_key: str | None = None,
    progress: bool = True,
) -> Report:
    """Import every active run of ``source``'s experiments (or only ``experiments``)."""
    client = connect(server, api_key)
    try:
        job = MlflowImport(source, client, project=project, progress=progress)
        plan = [(experiment, job.runs(experiment)) for experiment in job.experiments(experiments)]
        if job.progress:
            job.progress.add(total=sum(len(run.data.metrics) for _, runs in plan for run in runs))
        for experiment, runs in plan:
            for run in runs:
                try:
                    job.import_run(experiment, run)
                except TrackerError as exc:
                    fail_run(job.report, f"MLflow run {run.info.run_id}", exc)
        if job.progress:
            job.progress.close()
        return job.report
    finally:
        client.close()
