"""The compare page (runs and groups against the baseline, or N runs side by side), its
curves endpoint, and the forms that set a baseline from the browser (templates/compare/,
static/js/compare.js)."""

import math
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from experiments.api.http import checked, page_json
from experiments.compare.baselines import baseline_active, baseline_set
from experiments.compare.comparison import Comparison, compare, shared_keys
from experiments.compare.curves import comparison_curves
from experiments.compare.sides import Side, baseline_side, parse_side, reference_side, side_dict
from experiments.errors import ApiError, NotFound
from experiments.formatting import fmt_bytes, fmt_duration, fmt_number, is_bytes_key
from experiments.selectors import (
    MEMBER,
    project_named,
    project_named_or_404,
    require_role_page,
    runs_visible_to,
)
from experiments.tables import metric_menu, sweep_objectives

# The reference is drawn grey and dashed; sides take these colours in order.
SIDE_COLORS = ["#4f46e5", "#ea580c", "#16a34a", "#db2777", "#0891b2", "#ca8a04", "#9333ea", "#65a30d"]
REFERENCE_COLOR = "#6b7482"


def _resolve(request: HttpRequest, project) -> tuple[Side, list[Side]]:
    """(reference, sides) from ``s`` (run ids or group:NAME, repeated) and ``ref``
    (``baseline``, a run id or group:NAME). Without ``ref``: one side is compared with
    the baseline; several are shown side by side against the first."""
    tokens = [t for t in request.GET.getlist("s") if t.strip()]
    if not tokens:
        raise ApiError("choose what to compare: tick runs in the runs table, or open a run's page", "s")
    sides = [parse_side(request.user, project, token, "s") for token in dict.fromkeys(tokens)]
    ref = request.GET.get("ref", "").strip()
    if ref:
        reference = reference_side(request.user, project, ref, "ref")
        sides = [s for s in sides if s.token != reference.token] or sides
    elif len(sides) == 1:
        reference = baseline_side(request.user, project, "ref")
    else:
        reference, sides = sides[0], sides[1:]
    return reference, sides


def _query(**params) -> str:
    pairs = []
    for name, value in params.items():
        for item in value if isinstance(value, list) else [value]:
            if item not in (None, ""):
                pairs.append((name, item))
    return "?" + urlencode(pairs)


@login_required
@checked
def compare_page(request: HttpRequest, name: str) -> HttpResponse:
    project = project_named_or_404(request.user, name)
    baseline = baseline_active(project)
    by = request.GET.get("by", "final")
    keys = [k for k in request.GET.getlist("metric") if k]
    context: dict = {"project": project, "baseline": baseline, "by": by}
    tokens = [t for t in request.GET.getlist("s") if t.strip()]
    if len(tokens) == 1 and not request.GET.get("ref") and baseline is None:
        # Nothing to compare against yet: offer to make this run or group the baseline.
        try:
            context["candidate"] = parse_side(request.user, project, tokens[0], "s")
        except ApiError as exc:
            return _error_page(request, context, exc)
        return render(request, "compare/no_baseline.html", context)
    try:
        reference, sides = _resolve(request, project)
        result = compare(reference, sides, keys=keys or None, by=by)
    except ApiError as exc:
        return _error_page(request, context, exc)
    context.update(_page_context(request, project, result, keys))
    return render(request, "compare/detail.html", context)


def _error_page(request: HttpRequest, context: dict, exc: ApiError) -> HttpResponse:
    context["error"] = exc
    return render(request, "compare/error.html", context, status=exc.status)


def _side_view(side: Side, role: str, color: str, baseline) -> dict:
    is_baseline = baseline is not None and (
        (side.kind == "group" and baseline.group == side.group)
        or (side.kind == "run" and baseline.run_id == side.runs[0].pk)
    )
    return {
        "token": side.token,
        "kind": side.kind,
        "label": side.label,
        "role": role,
        "color": color,
        "runs": side.runs,
        "url": reverse("run", args=[side.runs[0].pk]) if side.kind == "run" else "",
        "is_baseline": is_baseline,
    }


def _spread(value: float | None, std: float | None) -> bool:
    """Whether a std is worth showing (not absent, not float noise around a constant)."""
    return std is not None and value is not None and std > 1e-9 * max(abs(value), 1e-300)


def _value(cell: dict, fmt=fmt_number) -> str:
    """``0.9213`` for a run, ``0.9213 ± 0.01`` for a group (the std to 2 digits);
    sizes in binary units when ``fmt`` is ``fmt_bytes``."""
    if cell["value"] is None:
        return ""
    text = fmt(cell["value"])
    if _spread(cell["value"], cell.get("std")):
        text += f" ± {fmt(cell['std']) if fmt is fmt_bytes else format(cell['std'], '.2g')}"
    return text


def _signed(value: float | None, fmt=fmt_number) -> str:
    if value is None:
        return ""
    if math.isinf(value):
        return "diverged"
    return ("+" if value > 0 else "") + fmt(value)


def _percent(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return ""
    return f"{value * 100:+.1f}%" if abs(value) < 10 else f"{value:+.1f}x"


def _steps(cell: dict) -> str:
    if cell.get("step") is not None:
        return f"step {cell['step']:,}"
    steps = cell.get("steps") or []
    return f"steps {min(steps):,}–{max(steps):,}" if steps else ""


def _test_text(test: dict | None) -> str:
    if test is None:
        return "one run on each side: no estimate of seed noise"
    name = {"welch": "Welch's t-test", "prediction": "prediction test (one run vs the group's spread)"}
    text = f"p = {test['p']:.3g} ({name.get(test['method'], test['method'])})"
    if test.get("interval"):
        low, high = test["interval"]
        text += f"; 95% bootstrap interval of Δ mean: [{fmt_number(low)}, {fmt_number(high)}]"
    return text


def _ttt(ttt: dict) -> str:
    if ttt["target"] is None or not ttt["runs"]:
        return ""
    if not ttt["reached"]:
        return "not reached"
    step = ttt["step"]
    text = f"step {int(step):,}" if float(step).is_integer() else f"step {step:,.1f}"
    if ttt["seconds"] is not None:
        text += f" · {fmt_duration(ttt['seconds'])}"
    if ttt["runs"] > 1:
        text += f" · {ttt['reached']}/{ttt['runs']} runs"
    return text


def _metric_view(row: dict, by: str, main: set[str]) -> dict:
    ref = row["reference"]
    fmt = fmt_bytes if is_bytes_key(row["key"]) else fmt_number
    sides = []
    for side in row["sides"]:
        d = side["delta"][by]
        sides.append(
            {
                "final": _value(side["final"], fmt),
                "best": _value(side["best"], fmt),
                "best_at": _steps(side["best"]),
                "n": side["final"]["n"],
                "nonfinite": side[by]["nonfinite"],
                "delta": _signed(d["abs"] if d["abs"] is not None else d["improvement"], fmt),
                "rel": _percent(d["rel"]),
                # A difference the noise test calls noise is not coloured as a win or a loss.
                "better": "noise" if side["verdict"] == "within noise" else d["better"] or "",
                "verdict": side["verdict"],
                "test": _test_text(side["test"]),
                "p": f"{side['test']['p']:.2g}" if side["test"] and side["test"]["p"] is not None else "",
                "ttt": _ttt(side["time_to_target"]),
                "ranks": side["ranks"],
            }
        )
    return {
        "key": row["key"],
        "main": row["key"] in main,
        "direction": row["direction"],
        "source": row["direction_source"],
        "ref_final": _value(ref["final"], fmt),
        "ref_best": _value(ref["best"], fmt),
        "ref_best_at": _steps(ref["best"]),
        "ref_n": ref["final"]["n"],
        "sides": sides,
    }


def _cell_text(cell: dict) -> str:
    if cell.get("missing"):
        return ""
    if "varies" in cell:
        return "varies: " + ", ".join(fmt_number(v) for v in cell["varies"][:6])
    return fmt_number(cell["value"])


RESOURCE_LABELS = {
    "duration_seconds": ("Duration", fmt_duration),
    "points": ("Points logged", lambda v: f"{v:,.0f}"),
    "points_per_second": ("Points / s", fmt_number),
    "throughput": ("Throughput (logged)", fmt_number),
    "peak_gpu_memory": ("Peak GPU memory", fmt_bytes),
}


def _resource_view(row: dict) -> dict:
    label, fmt = RESOURCE_LABELS.get(row["name"], (row["name"], fmt_number))
    cells = []
    for cell in row["values"]:
        text = fmt(cell["value"]) if cell["value"] is not None else ""
        if _spread(cell["value"], cell.get("std")):
            text += f" ± {fmt(cell['std'])}"
        d = cell.get("delta") or {}
        cells.append({"text": text, "rel": _percent(d.get("rel")), "better": d.get("better") or ""})
    return {"label": label, "cells": cells, "direction": row["direction"]}


def _classes_view(classes: list[dict] | None, sides: list[Side]) -> list[dict] | None:
    """Per-class blocks with the side's label and signed, coloured deltas."""
    if not classes:
        return None
    labels = {side.token: side.label for side in sides}
    out = []
    for block in classes:
        rows = []
        for row in block["classes"]:
            shown = {"label": row["label"]}
            for name in ("recall", "precision"):
                d = row[name]["delta"]
                better = "" if d is None or abs(d) < 1e-12 else ("better" if d > 0 else "worse")
                shown[name] = {**row[name], "text": "" if d is None else f"{d:+.3f}", "better": better}
            rows.append(shown)
        out.append({"side": block["side"], "label": labels.get(block["side"], ""), "classes": rows})
    return out


def _scoreboard(metrics: list[dict], index: int, main: set[str]) -> dict:
    """How many of the main metrics a side is better / worse / within noise / the same
    on (the page's script recounts over the metrics the reader picks)."""
    counts = {"better": 0, "worse": 0, "noise": 0, "same": 0}
    for row in metrics:
        if row["key"] not in main:
            continue
        verdict = row["sides"][index]["verdict"].replace("within noise", "noise")
        if verdict in counts:
            counts[verdict] += 1
    return counts


def _page_context(request: HttpRequest, project, result: Comparison, keys: list[str]) -> dict:
    baseline = baseline_active(project)
    reference = _side_view(result.reference, "reference", REFERENCE_COLOR, baseline)
    colors = [SIDE_COLORS[i % len(SIDE_COLORS)] for i in range(len(result.sides))]
    sides = [_side_view(s, "side", color, baseline) for s, color in zip(result.sides, colors, strict=True)]
    main = set(result.main)
    for i, side in enumerate(sides):
        side["score"] = _scoreboard(result.metrics, i, main)
    params = {"s": request.GET.getlist("s"), "ref": request.GET.get("ref", ""), "metric": keys}
    page_data = {
        "curvesUrl": reverse("compare-curves", args=[project.ref]) + _query(**params, by=result.by),
        "keys": result.keys,
        "mainKeys": result.main,
        # Named in the URL: the reader chose these; otherwise the page may apply the
        # choice remembered for this project.
        "fixedKeys": bool(keys),
        "project": project.ref,
        "directions": {row["key"]: row["direction"] for row in result.metrics},
        "reference": {**side_dict(result.reference), "color": REFERENCE_COLOR},
        "sides": [{**side_dict(s), "color": v["color"]} for s, v in zip(result.sides, sides, strict=True)],
        "maxPoints": settings.TRACKER_CHART_POINTS,
    }
    return {
        "reference": reference,
        "sides": sides,
        "columns": [reference, *sides],
        "metrics": [_metric_view(row, result.by, main) for row in result.metrics],
        "n_main": len(main),
        "n_other": len(result.keys) - len(main),
        "metric_menu": metric_menu(result.keys, result.main, sweep_objectives(project)),
        "config": [
            {"key": row["key"], "cells": [_cell_text(c) for c in row["values"]]} for row in result.config
        ],
        "environment": [
            {"key": row["key"], "cells": [_cell_text(c) for c in row["values"]], "differs": row["differs"]}
            for row in result.environment
        ],
        "resources": [_resource_view(row) for row in result.resources],
        "classes": _classes_view(result.classes, result.sides),
        "missing": {k: v for k, v in result.missing.items() if v},
        "by_urls": {by: _query(**params, by=by) for by in ("final", "best")},
        "single_runs": all(s.kind == "run" for s in [result.reference, *result.sides]),
        "page_data": page_data,
    }


@page_json
def compare_curves(request: HttpRequest, name: str) -> dict:
    """The compare page's chart data for the metrics in ``key`` (all shared ones when
    none is given): every side's line and each side's delta to the reference."""
    project = project_named(request.user, name)
    if project is None:
        raise NotFound(f"project {name!r} does not exist or is not yours", "project")
    reference, sides = _resolve(request, project)
    keys = [k for k in request.GET.getlist("key") if k] or shared_keys(reference, sides)
    return {"curves": comparison_curves(reference, sides, keys, settings.TRACKER_CHART_POINTS)}


@login_required
@checked
def run_compare(request: HttpRequest, run_id: int) -> HttpResponse:
    """One click from a run's page: that run against its project's baseline."""
    run = get_object_or_404(runs_visible_to(request.user), pk=run_id)
    url = reverse("compare", args=[run.project.ref]) + _query(s=str(run.pk))
    return HttpResponseRedirect(url)


def _back(request: HttpRequest, fallback: str) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = fallback
    return HttpResponseRedirect(target or fallback)


@login_required
@require_POST
@checked
def project_set_baseline(request: HttpRequest, name: str) -> HttpResponse:
    """Set a run (``run``) or a group (``group``) of the project as its baseline."""
    project = project_named_or_404(request.user, name)
    require_role_page(request.user, project, MEMBER)
    token = request.POST.get("side", "").strip()
    try:
        side = parse_side(request.user, project, token, "side")
    except ApiError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from None
        return HttpResponse(exc.message, status=exc.status, content_type="text/plain")
    if side.kind == "group":
        baseline_set(user=request.user, project=project, group=side.group)
    else:
        baseline_set(user=request.user, project=project, run=side.runs[0])
    return _back(request, reverse("project", args=[project.ref]))
