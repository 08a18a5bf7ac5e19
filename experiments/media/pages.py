"""The run page's media sections (templates/runs/_media.html, static/js/run_media.js):
confusion matrices, curves, text series, model internals, system metrics and checkpoints. One JSON
endpoint for the script, and checkpoint downloads behind the login."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse

from experiments.api.http import checked, error_response, page_json
from experiments.errors import ApiError, NotFound
from experiments.media import artifacts, reads
from experiments.media.api import checkpoint_file_response
from experiments.models import Checkpoint, MediaKind, Run
from experiments.payloads import parse_int
from experiments.selectors import run_metrics, runs_visible_to

# Metric key prefixes that the media script charts in its own sections.
INTERNAL_PREFIXES = ("grad/", "param/", "update/", "act/", "lr/", "sys/")
SYSTEM_FACTS = (
    "gpu",
    "gpu_count",
    "gpu_memory_total",
    "gpu_peak_memory_allocated",
    "cpu_model",
    "cpu_count",
    "ram_total",
    "peak_rss",
)


def _checkpoints(run: Run) -> list[dict]:
    rows = []
    checkpoints = list(Checkpoint.objects.filter(run=run).order_by("step", "pk"))
    best = None
    metric = next((c.best_metric for c in reversed(checkpoints) if c.best_metric), "")
    if metric:
        try:
            best = artifacts.checkpoint_select(run, "best", metric).pk
        except ApiError:
            best = None
    for checkpoint in checkpoints:
        row = artifacts.checkpoint_dict(checkpoint)
        row["download"] = reverse("run-checkpoint-download", args=[run.pk, checkpoint.pk])
        row["best"] = checkpoint.pk == best
        rows.append(row)
    return rows


def media_page_index(run: Run) -> dict:
    """Everything the media sections need to lay themselves out: which media exist
    (names and steps), the internal metric keys by prefix, hardware facts, checkpoints."""
    keys: dict[str, list[str]] = {prefix.rstrip("/"): [] for prefix in INTERNAL_PREFIXES}
    for key in run_metrics(run).values_list("key", flat=True):
        prefix = key.split("/", 1)[0]
        if prefix in keys and "/" in key:
            keys[prefix].append(key)
    summary = run.summary or {}
    return {
        "run": run.pk,
        "media": reads.media_index(run),
        "keys": keys,
        "system": {name: summary.get(f"system/{name}") for name in SYSTEM_FACTS},
        "checkpoints": _checkpoints(run),
    }


@page_json
def run_media(request: HttpRequest, run_id: int) -> dict:
    """``media.json``: the index, or one item: ``kind`` (+ ``name``, ``step``)."""
    run = get_object_or_404(runs_visible_to(request.user), pk=run_id)
    kind = request.GET.get("kind", "")
    name = request.GET.get("name", "")
    step = parse_int(request.GET.get("step"), "step")
    if not kind:
        return media_page_index(run)
    if kind == MediaKind.CONFUSION_MATRIX:
        data = reads.confusion_matrix_view(run, name, step)
    elif kind in (MediaKind.ROC_CURVE, MediaKind.PR_CURVE):
        data = reads.curves_view(run, kind, name, step)
    elif kind == MediaKind.HISTOGRAM:
        data = reads.histogram_view(run, name)
    elif kind == MediaKind.MODEL_SUMMARY:
        data = reads.model_summary_view(run)
    elif kind == MediaKind.IMAGE:
        data = reads.image_view(run, name, step)
    elif kind == MediaKind.TEXT:
        series = [s for s in reads.text_series(run) if not name or s["name"] == name]
        data = {"text": series} if series else None
    else:
        raise ApiError(f"must be one of {', '.join(MediaKind.values)}", "kind")
    if data is None:
        raise NotFound(f"run {run.pk} has no {kind} {name!r}".replace(" ''", ""), "name")
    return data


@login_required
@checked
def run_checkpoint_download(request: HttpRequest, run_id: int, checkpoint_id: int) -> HttpResponse:
    run = get_object_or_404(runs_visible_to(request.user), pk=run_id)
    checkpoint = get_object_or_404(Checkpoint, run=run, pk=checkpoint_id)
    try:
        return checkpoint_file_response(checkpoint)
    except ApiError as exc:
        return error_response(exc.message, exc.field, exc.status)
