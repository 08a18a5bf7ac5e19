"""The run page's Data section (templates/runs/_data.html, static/js/run_data.js): what
``tracker.log_dataset`` stored, per data set and split, and how the splits overlap.

One JSON endpoint for the script, behind the session like the page's other ``.json``
endpoints (``series.json``, ``media.json``): who may not see the run gets 404.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from alerts.models import DatasetProfile
from experiments.api.http import page_json
from experiments.diagnostics.data import TRAIN_SPLITS
from experiments.models import Run
from experiments.selectors import runs_visible_to

OVERLAP_EXAMPLES = 5
# Overlaps are counted pairwise; a run with more splits than this shows none (they would
# cost (n^2) passes over up to 2M hashes each in one request).
MAX_OVERLAP_PROFILES = 24


def _magnitude(feature: dict) -> float:
    """How large a feature's values get: the unnormalised-feature check reads it."""
    ends = [abs(v) for v in (feature.get("min"), feature.get("max")) if v is not None]
    return max(ends) if ends else 0.0


def _flags(feature: dict) -> list[str]:
    flags = []
    if feature.get("nan"):
        flags.append("nan")
    if feature.get("inf"):
        flags.append("inf")
    if feature.get("std") == 0:
        flags.append("constant")
    return flags


def _features_worst_first(features: list[dict]) -> list[dict]:
    """NaN / inf first (most first), then the largest magnitudes (the unscaled ones),
    each with its ``flags`` so the page need not repeat the rules."""
    shaped = [dict(f, index=i, flags=_flags(f), magnitude=_magnitude(f)) for i, f in enumerate(features)]
    return sorted(shaped, key=lambda f: (-(f["nan"] + f["inf"]), -f["magnitude"], f["index"]))


def _split_view(p: DatasetProfile) -> dict[str, Any]:
    profile = p.profile or {}
    features = _features_worst_first(profile.get("features", []))
    magnitudes = [f["magnitude"] for f in features if f["magnitude"] > 0]
    return {
        "split": p.split,
        "rows": profile.get("rows", 0),
        "sampled_from": profile.get("sampled_from", profile.get("rows", 0)),
        "duplicates": profile.get("duplicates", 0),
        "nan": sum(f["nan"] for f in features),
        "inf": sum(f["inf"] for f in features),
        "nan_rows": profile.get("nan_rows"),
        "inf_rows": profile.get("inf_rows"),
        "y_nan": profile.get("y_nan"),
        "feature_count": len(features),
        # Largest / smallest feature magnitude: the unnormalised check's ratio.
        "scale_ratio": (max(magnitudes) / min(magnitudes)) if len(magnitudes) > 1 else None,
        "features": features,
        "classes": profile.get("classes"),
        "hashed_rows": len(p.hashes),
    }


def _split_order(p: DatasetProfile) -> tuple[bool, str, str]:
    return (p.split.lower() not in TRAIN_SPLITS, p.name, p.split)


def _overlap(first: DatasetProfile, second: DatasetProfile) -> dict[str, Any] | None:
    """Rows of ``second`` identical to a row of ``first`` (by content hash), with the
    first few as (index in second, index in first)."""
    if not first.hashes or not second.hashes:
        return None
    where: dict[str, int] = {}
    for i, h in enumerate(first.hashes):
        where.setdefault(h, i)
    shared = [(i, where[h]) for i, h in enumerate(second.hashes) if h in where]
    rows = len(second.hashes)
    return {
        "a": {"name": first.name, "split": first.split, "rows": len(first.hashes)},
        "b": {"name": second.name, "split": second.split, "rows": rows},
        "rows": len(shared),
        "pct": 100 * len(shared) / rows if rows else 0.0,
        "examples": [{"b": i, "a": j} for i, j in shared[:OVERLAP_EXAMPLES]],
    }


def data_section(run: Run) -> dict[str, Any]:
    """Everything the Data section draws: ``datasets`` (each with its ``splits``, training
    splits first) and ``overlaps`` between every two splits that sent row hashes."""
    profiles = sorted(DatasetProfile.objects.filter(run=run), key=_split_order)
    datasets: dict[str, dict] = {}
    for p in profiles:
        datasets.setdefault(p.name, {"name": p.name, "splits": []})["splits"].append(_split_view(p))
    overlaps = []
    hashed = [p for p in profiles if p.hashes]
    if len(hashed) <= MAX_OVERLAP_PROFILES:
        for first, second in combinations(hashed, 2):
            found = _overlap(first, second)
            if found is not None:
                overlaps.append(found)
    return {
        "run": run.pk,
        "datasets": sorted(datasets.values(), key=lambda d: d["name"]),
        "overlaps": overlaps,
        "overlaps_skipped": len(hashed) > MAX_OVERLAP_PROFILES,
    }


@page_json
def run_data(request: HttpRequest, run_id: int) -> dict:
    """``datasets.json``: the run's data set profiles, shaped for the Data section."""
    run = get_object_or_404(runs_visible_to(request.user), pk=run_id)
    return data_section(run)
