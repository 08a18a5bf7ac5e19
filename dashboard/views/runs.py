"""A run's page: header, chart grid (filled by static/js/run.js) and tables."""

import re

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from experiments.api.http import checked
from experiments.compare.baselines import baseline_active
from experiments.directions import metric_direction, project_directions
from experiments.formatting import fmt_duration, fmt_number, fmt_value, is_bad
from experiments.media import reads
from experiments.media.pages import INTERNAL_PREFIXES
from experiments.models import PointChunk
from experiments.selectors import can_admin, can_write, run_metrics, runs_visible_to
from experiments.tables import flatten

# Key prefixes that name a data split: ``train/loss`` and ``val/loss`` are one learning
# curve, drawn on one chart in the page's first section.
SPLITS = frozenset({"train", "training", "val", "valid", "validation", "eval", "evaluation", "test", "dev"})


def chart_groups(keys: list[str]) -> list[dict]:
    """One chart per metric name: ``train/loss`` and ``val/loss`` share the chart
    ``loss`` (the split is the text before the first "/"); keys without "/" stand alone.
    Charts comparing several splits (learning curves) come first, losses leading."""
    charts: dict[str, list[str]] = {}
    for key in sorted(keys):
        _, slash, name = key.partition("/")
        charts.setdefault(name if slash else key, []).append(key)
    ordered = sorted(charts.items(), key=lambda item: (len(item[1]) == 1, "loss" not in item[0], item[0]))
    return [
        {
            "name": name,
            "title": name if len(chart_keys) > 1 else chart_keys[0],
            "keys": chart_keys,
            "direction": metric_direction(name),
        }
        for name, chart_keys in ordered
    ]


_DIGITS = re.compile(r"(\d+)")


def _natural(text: str) -> list:
    """Sort key reading digit runs as numbers: ``layer2`` before ``layer10``."""
    parts = _DIGITS.split(text)
    parts[1::2] = [int(p) for p in parts[1::2]]
    return parts


def chart_sections(keys: list[str]) -> list[dict]:
    """The run page's chart sections: first the learning curves (keys of a split,
    ``train/`` ``val/`` ..., and keys without a namespace; ``chart_groups``), then one
    section per other namespace (the text before the first "/"), one chart per key, so
    no chart has a line (or a legend entry) per layer. Internal namespaces (``watch()``'s
    layer statistics, system metrics) come last and start collapsed: a run with 10,000
    keys opens on what matters, and the page builds a section's charts only when shown.
    A namespace's section lists its ``keys`` (each a chart of its own, named by the key),
    not chart dicts: 10,000 of those would be most of the page."""
    main: list[str] = []
    spaces: dict[str, list[str]] = {}
    for key in keys:
        space, slash, _ = key.partition("/")
        if not slash or space in SPLITS:
            main.append(key)
        else:
            spaces.setdefault(space, []).append(key)
    sections = [{"name": "", "title": "Learning curves", "internal": False, "charts": chart_groups(main)}]
    internal = {prefix.rstrip("/") for prefix in INTERNAL_PREFIXES}
    for space in sorted(spaces, key=lambda s: (s in internal, _natural(s))):
        sections.append(
            {
                "name": space,
                "title": f"{space}/",
                "internal": space in internal,
                "charts": [],
                "keys": sorted(spaces[space], key=_natural),
            }
        )
    return sections


_ROW_FIELDS = ("key", "count", "last_value", "min_value", "max_value", "last_step", "nonfinite_count")


def _metric_rows(metrics: list[tuple], directions: dict[str, str]) -> list[dict]:
    """The Metrics table's rows from ``_ROW_FIELDS`` tuples (not model instances: a run
    may have 10,000 keys)."""
    rows = []
    for key, count, last_value, min_value, max_value, last_step, nonfinite in metrics:
        last = last_value if last_value is not None or not count else float("nan")
        rows.append(
            {
                "key": key,
                "count": count,
                "last": fmt_number(last),
                "last_bad": is_bad(last),
                "last_step": last_step,
                "min": fmt_number(min_value),
                "max": fmt_number(max_value),
                "nonfinite": nonfinite,
                "direction": directions[key],
            }
        )
    return rows


def _ranks(run) -> int:
    """How many processes logged to the run: the job's size its ranks sent at ``init``, or
    the ranks found in its points (a run joined by id, or a launcher the SDK did not know)."""
    seen = PointChunk.objects.filter(metric__run=run).order_by().values_list("rank", flat=True).distinct()
    return max(run.world_size, len(set(seen[:100_000])))


_X_METRIC = re.compile(
    r"(?:^|[/_.])(?:epoch|epochs|tokens?|samples?|examples?|images?|seen|global_step|iter(?:ation)?s?|flops)"
    r"(?:$|[/_.])",
    re.IGNORECASE,
)


@login_required
@checked
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(runs_visible_to(request.user), pk=run_id)
    metrics = list(run_metrics(run).values_list(*_ROW_FIELDS))
    keys = [m[0] for m in metrics]
    sections = chart_sections(keys)
    rows = _metric_rows(metrics, project_directions(run.project, keys))
    page_data = {
        "run": run.pk,
        "status": run.status,
        "startedAt": run.started_at.timestamp(),
        "seriesUrl": reverse("run-series", args=[run.pk]),
        "wsPath": f"/ws/runs/{run.pk}/",
        # The learning curves (the first section), then every section, charts included.
        "charts": sections[0]["charts"],
        "sections": sections,
        "splits": sorted(SPLITS),
        # The Metrics table, drawn by run.js (a run may have 10,000 keys): key, count,
        # last, min, max, last is NaN/inf, direction, non-finite count.
        "metrics": [
            [
                r["key"],
                r["count"],
                r["last"],
                r["min"],
                r["max"],
                r["last_bad"],
                r["direction"],
                r["nonfinite"],
            ]
            for r in rows
        ],
        "maxPoints": settings.TRACKER_CHART_POINTS,
        "internalPrefixes": list(INTERNAL_PREFIXES),
    }
    context = {
        "run": run,
        "project": run.project,
        "duration": fmt_duration(run.duration_seconds),
        "points": f"{run.points_count:,}",
        "ranks": _ranks(run),
        "metrics": rows,
        "metric_count": len(rows),
        "config": [(k, fmt_number(v)) for k, v in sorted(flatten(run.config).items())],
        "summary": [(k, fmt_value(k, v)) for k, v in sorted(flatten(run.summary).items())],
        "nonfinite_total": sum(r["nonfinite"] for r in rows),
        "page_data": page_data,
        # Strings logged with tracker.log: templates/runs/_media.html's Text section.
        "text_series": reads.text_series(run),
        "baseline": baseline_active(run.project),
        # Members edit name, tags and notes and archive; admins also delete (runops).
        # Counters a chart may use as its x-axis instead of the step (tokens, epoch...).
        "x_metric_keys": [k for k in keys if _X_METRIC.search(k)][:50],
        "can_edit": can_write(request.user, run.project),
        "can_delete": can_admin(request.user, run.project),
    }
    return render(request, "runs/detail.html", context)
