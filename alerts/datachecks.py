"""Data set profiles (``tracker.log_dataset``): checked and stored per run, name and split.

A profile holds numbers only: rows, per-feature min / max / mean / std and NaN / inf
counts, class counts, duplicate rows; ``hashes`` are the rows' content hashes (hex, at most
32 characters each), in row order, so that overlaps between splits can be counted and
their rows named by index. The findings are ``experiments.diagnostics.analyzers.data``'s.
"""

from __future__ import annotations

import math
import re
from typing import Any

from django.db import transaction

from alerts.models import DatasetProfile
from experiments import events
from experiments.errors import ApiError
from experiments.models import Run

MAX_FEATURES = 10_000
MAX_CLASSES = 10_000
MAX_HASHES = 2_000_000
_HASH = re.compile(r"[0-9a-f]{8,32}")
_FEATURE_STATS = ("min", "max", "mean", "std")
_FEATURE_COUNTS = ("nan", "inf")


def _count(value: Any, where: str) -> int:
    if type(value) is not int or value < 0:
        raise ApiError(f"must be a non-negative integer, got {value!r:.40}", where)
    return value


def _stat(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if type(value) not in (int, float) or not math.isfinite(value):
        raise ApiError(f"must be a finite number or null, got {value!r:.40}", where)
    return float(value)


def profile_check(profile: Any) -> dict:
    """The profile as stored, or ``ApiError`` naming the first bad field."""
    if type(profile) is not dict:
        raise ApiError("must be a JSON object", "profile")
    out: dict[str, Any] = {"rows": _count(profile.get("rows"), "profile.rows")}
    out["sampled_from"] = _count(profile.get("sampled_from", out["rows"]), "profile.sampled_from")
    out["duplicates"] = _count(profile.get("duplicates", 0), "profile.duplicates")
    features = profile.get("features", [])
    if type(features) is not list or len(features) > MAX_FEATURES:
        raise ApiError(f"must be a list of at most {MAX_FEATURES} features", "profile.features")
    checked = []
    for i, feature in enumerate(features):
        where = f"profile.features[{i}]"
        if type(feature) is not dict:
            raise ApiError("must be an object", where)
        name = feature.get("name", str(i))
        if type(name) is not str or len(name) > 200:
            raise ApiError("must be a string of at most 200 characters", f"{where}.name")
        item: dict[str, Any] = {"name": name}
        for stat in _FEATURE_STATS:
            item[stat] = _stat(feature.get(stat), f"{where}.{stat}")
        for count in _FEATURE_COUNTS:
            item[count] = _count(feature.get(count, 0), f"{where}.{count}")
        checked.append(item)
    out["features"] = checked
    classes = profile.get("classes")
    if classes is not None:
        if type(classes) is not dict or len(classes) > MAX_CLASSES:
            raise ApiError(f"must be an object of at most {MAX_CLASSES} label: count", "profile.classes")
        out["classes"] = {str(k)[:200]: _count(v, f"profile.classes[{k!r:.40}]") for k, v in classes.items()}
    for name in ("y_nan", "nan_rows", "inf_rows"):
        if name in profile:
            out[name] = _count(profile[name], f"profile.{name}")
    return out


def hashes_check(hashes: Any) -> list[str]:
    if type(hashes) is not list or len(hashes) > MAX_HASHES:
        raise ApiError(f"must be a list of at most {MAX_HASHES} hex strings", "hashes")
    for i, value in enumerate(hashes):
        if type(value) is not str or not _HASH.fullmatch(value):
            raise ApiError(f"must be 8 to 32 lower-case hex digits, got {value!r:.40}", f"hashes[{i}]")
    return hashes


def profile_store(*, run: Run, name: str, split: str, profile: Any, hashes: Any) -> DatasetProfile:
    """Store (or replace) the profile of ``name``/``split`` and ask for a diagnosis pass."""
    checked = profile_check(profile)
    checked_hashes = hashes_check(hashes)
    if len(checked_hashes) not in (0, checked["rows"]):
        raise ApiError(f"holds {len(checked_hashes)} hashes for {checked['rows']} rows", "hashes")
    with transaction.atomic():
        stored, _ = DatasetProfile.objects.update_or_create(
            run=run, name=name, split=split, defaults={"profile": checked, "hashes": checked_hashes}
        )
        events.emit(run, {"type": "media", "kinds": ["dataset"]})
    return stored


def profiles_of(run: Run) -> list[dict]:
    return [
        {"name": p.name, "split": p.split, "profile": p.profile, "hashed_rows": len(p.hashes)}
        for p in DatasetProfile.objects.filter(run=run).order_by("name", "split")
    ]
