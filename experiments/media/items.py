"""Media uploads: a run's confusion matrices, ROC/PR curves, histograms, model summary,
text series (strings logged with ``tracker.log``) and images (PNG, ``tracker.log_image``).

Each kind has one validator (registered with ``@_kind``) that checks an uploaded item's
``data`` and returns it normalised, or raises ``ApiError`` naming the field; the items
of a request are stored all or nothing, once per uid. What pages show is derived at read
time (``experiments.media.reads``).
"""

import base64
import binascii
import itertools
import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from experiments import events
from experiments.errors import ApiError
from experiments.models import Media, MediaKind, Run
from experiments.payloads import check_int, check_str

MAX_ITEMS = 1000
MAX_CLASSES = 1000
MAX_CURVES = 1000
MAX_CURVE_POINTS = 10_000
MAX_BINS = 1000
MAX_SUMMARY_ROWS = 10_000
_UID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")

# --- validation ---------------------------------------------------------------------

_VALIDATORS: dict[str, Callable[[Any, str], dict]] = {}


def _kind(kind: str) -> Callable:
    def register(validator: Callable[[Any, str], dict]) -> Callable[[Any, str], dict]:
        _VALIDATORS[kind] = validator
        return validator

    return register


def _list(value: Any, where: str, max_length: int, min_length: int = 0) -> list:
    if type(value) is not list:
        raise ApiError(f"must be a list, got {type(value).__name__}", where)
    if not min_length <= len(value) <= max_length:
        raise ApiError(f"must hold {min_length} to {max_length} items; got {len(value)}", where)
    return value


def _number(value: Any, where: str, *, minimum: float | None = None, allow_null: bool = False) -> Any:
    if value is None and allow_null:
        return None
    if type(value) not in (int, float) or not math.isfinite(value):
        raise ApiError(f"must be a finite number, got {value!r:.40}", where)
    if minimum is not None and value < minimum:
        raise ApiError(f"must be >= {minimum}", where)
    return value


def _numbers(value: Any, where: str, max_length: int, *, minimum: float | None = None, null=False) -> list:
    values = _list(value, where, max_length)
    for i, v in enumerate(values):
        if type(v) is float or type(v) is int:
            if not math.isfinite(v) or (minimum is not None and v < minimum):
                _number(v, f"{where}[{i}]", minimum=minimum)
        else:
            _number(v, f"{where}[{i}]", minimum=minimum, allow_null=null)
    return values


def _text(value: Any, where: str, max_length: int = 200) -> str:
    if type(value) is not str or len(value) > max_length:
        raise ApiError(f"must be a string of at most {max_length} characters", where)
    return value


@_kind(MediaKind.CONFUSION_MATRIX)
def _confusion_matrix(data: Any, where: str) -> dict:
    """``{"labels": [n names], "matrix": [n rows of n counts]}``; rows are true classes."""
    labels = _list(data.get("labels"), f"{where}.labels", MAX_CLASSES, 1)
    for i, label in enumerate(labels):
        _text(label, f"{where}.labels[{i}]")
    matrix = _list(data.get("matrix"), f"{where}.matrix", MAX_CLASSES, 1)
    if len(matrix) != len(labels):
        raise ApiError(f"must have one row per label ({len(labels)}); got {len(matrix)}", f"{where}.matrix")
    for i, row in enumerate(matrix):
        cells = _list(row, f"{where}.matrix[{i}]", len(labels), len(labels))
        for j, cell in enumerate(cells):
            if type(cell) is not int or cell < 0:
                raise ApiError("must be a count (an integer >= 0)", f"{where}.matrix[{i}][{j}]")
    return {"labels": labels, "matrix": matrix}


def _curves(data: Any, where: str) -> dict:
    """``{"curves": [{"label", "x", "y", "thresholds"?, "auc", "positives"}], "average": {...}}``."""
    curves = _list(data.get("curves"), f"{where}.curves", MAX_CURVES, 1)
    out = []
    for i, curve in enumerate(curves):
        at = f"{where}.curves[{i}]"
        if type(curve) is not dict:
            raise ApiError("must be a JSON object", at)
        xs = _numbers(curve.get("x"), f"{at}.x", MAX_CURVE_POINTS)
        ys = _numbers(curve.get("y"), f"{at}.y", MAX_CURVE_POINTS)
        if len(xs) != len(ys):
            raise ApiError(f"must have as many points as x ({len(xs)}); got {len(ys)}", f"{at}.y")
        item = {
            "label": _text(curve.get("label", ""), f"{at}.label"),
            "x": xs,
            "y": ys,
            "auc": _number(curve.get("auc"), f"{at}.auc", allow_null=True),
            "positives": int(_number(curve.get("positives", 0), f"{at}.positives", minimum=0)),
        }
        if curve.get("thresholds") is not None:
            thresholds = _numbers(curve["thresholds"], f"{at}.thresholds", MAX_CURVE_POINTS, null=True)
            if len(thresholds) != len(xs):
                raise ApiError("must have one threshold per point", f"{at}.thresholds")
            item["thresholds"] = thresholds
        out.append(item)
    average = data.get("average") or {}
    if type(average) is not dict:
        raise ApiError("must be a JSON object", f"{where}.average")
    averages = {
        _text(k, f"{where}.average"): _number(v, f"{where}.average.{k}", allow_null=True)
        for k, v in average.items()
    }
    return {"curves": out, "average": averages}


_kind(MediaKind.ROC_CURVE)(_curves)
_kind(MediaKind.PR_CURVE)(_curves)


@_kind(MediaKind.HISTOGRAM)
def _histogram(data: Any, where: str) -> dict:
    """``{"edges": [n + 1 increasing], "counts": [n], "nonfinite": k}``."""
    edges = _numbers(data.get("edges"), f"{where}.edges", MAX_BINS + 1)
    counts = _numbers(data.get("counts"), f"{where}.counts", MAX_BINS, minimum=0)
    if len(edges) != len(counts) + 1 or not counts:
        raise ApiError(f"must have one more edge than counts ({len(counts)} counts)", f"{where}.edges")
    if any(b < a for a, b in itertools.pairwise(edges)):
        raise ApiError("must be non-decreasing", f"{where}.edges")
    nonfinite = data.get("nonfinite", 0)
    if type(nonfinite) is not int or nonfinite < 0:
        raise ApiError("must be an integer >= 0", f"{where}.nonfinite")
    return {"edges": edges, "counts": counts, "nonfinite": nonfinite}


_SUMMARY_INTS = ("depth", "params", "trainable", "bytes")


@_kind(MediaKind.MODEL_SUMMARY)
def _model_summary(data: Any, where: str) -> dict:
    """``{"rows": [{"name", "type", "depth", "params", "trainable", "bytes", "shapes"?}], ...totals}``."""
    rows = _list(data.get("rows"), f"{where}.rows", MAX_SUMMARY_ROWS, 1)
    out = []
    for i, row in enumerate(rows):
        at = f"{where}.rows[{i}]"
        if type(row) is not dict:
            raise ApiError("must be a JSON object", at)
        item = {
            "name": _text(row.get("name", ""), f"{at}.name", 500),
            "type": _text(row.get("type", ""), f"{at}.type"),
        }
        for name in _SUMMARY_INTS:
            value = row.get(name, 0)
            if type(value) is not int or value < 0:
                raise ApiError("must be an integer >= 0", f"{at}.{name}")
            item[name] = value
        if row.get("shapes"):
            item["shapes"] = _text(row["shapes"], f"{at}.shapes", 500)
        out.append(item)
    totals = {}
    for name in ("total_params", "trainable_params", "bytes"):
        value = data.get(name, 0)
        if type(value) is not int or value < 0:
            raise ApiError("must be an integer >= 0", f"{where}.{name}")
        totals[name] = value
    return {"rows": out, **totals, "model": _text(data.get("model", ""), f"{where}.model")}


@_kind(MediaKind.TEXT)
def _text_value(data: Any, where: str) -> dict:
    """``{"value": text}``: one value of a text series (``name`` is its key)."""
    limit = settings.TRACKER_MAX_TEXT_LENGTH
    value = check_str(data.get("value"), f"{where}.value", limit, limit_name="TRACKER_MAX_TEXT_LENGTH")
    return {"value": value}


MAX_IMAGE_BYTES = 4 * 1024 * 1024  # decoded PNG bytes (tracker.images.MAX_PNG_BYTES)
MAX_IMAGE_SIDE = 8192
MAX_CAPTION = 1000
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@_kind(MediaKind.IMAGE)
def _image(data: Any, where: str) -> dict:
    """``{"png": base64, "width", "height", "caption"?}``: a PNG whose header says it is
    ``width`` x ``height``. Stored as sent; the page shows it as a data: URL."""
    encoded = data.get("png")
    if type(encoded) is not str or not encoded:
        raise ApiError("must be a base64 string of a PNG", f"{where}.png")
    if len(encoded) > (MAX_IMAGE_BYTES + 2) // 3 * 4:
        raise ApiError(f"must be at most {MAX_IMAGE_BYTES:,} bytes of PNG", f"{where}.png")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError("must be valid base64", f"{where}.png") from None
    # The signature, then the IHDR chunk: length 13, type, width, height.
    if len(raw) < 33 or not raw.startswith(_PNG_SIGNATURE) or raw[12:16] != b"IHDR":
        raise ApiError("must be a PNG (it has no PNG signature and header)", f"{where}.png")
    width, height = struct.unpack(">II", raw[16:24])
    for name, value in (("width", width), ("height", height)):
        declared = data.get(name)
        if type(declared) is not int or declared != value:
            raise ApiError(f"must be the PNG's {name} ({value})", f"{where}.{name}")
        if not 1 <= value <= MAX_IMAGE_SIDE:
            raise ApiError(f"must be 1 to {MAX_IMAGE_SIDE} pixels", f"{where}.{name}")
    caption = data.get("caption") or ""
    check_str(caption, f"{where}.caption", MAX_CAPTION)
    return {"png": encoded, "width": width, "height": height, "caption": caption}


@dataclass
class MediaItem:
    uid: str
    kind: str
    name: str
    step: int
    data: dict


def parse_media(body: Any) -> list[MediaItem]:
    """``{"items": [{"uid", "kind", "name", "step", "data"}, ...]}`` → items, or ApiError."""
    if type(body) is not dict:
        raise ApiError("request body must be a JSON object")
    items = _list(body.get("items"), "items", MAX_ITEMS, 1)
    parsed = []
    for i, item in enumerate(items):
        at = f"items[{i}]"
        if type(item) is not dict:
            raise ApiError("must be a JSON object", at)
        uid = item.get("uid")
        if type(uid) is not str or not _UID.fullmatch(uid):
            raise ApiError("must be 1 to 64 letters, digits or _.:-", f"{at}.uid")
        kind = item.get("kind")
        if kind not in _VALIDATORS:
            raise ApiError(f"must be one of {', '.join(sorted(_VALIDATORS))}; got {kind!r:.40}", f"{at}.kind")
        name = item.get("name")
        if type(name) is not str or not 1 <= len(name) <= 200 or not name.isprintable():
            raise ApiError("must be 1 to 200 printable characters", f"{at}.name")
        step = check_int(item.get("step"), f"{at}.step", minimum=0)
        data = item.get("data")
        if type(data) is not dict:
            raise ApiError("must be a JSON object", f"{at}.data")
        parsed.append(MediaItem(uid, kind, name, step, _VALIDATORS[kind](data, f"{at}.data")))
    return parsed


# --- writes -------------------------------------------------------------------------


def media_store(*, run: Run, items: list[MediaItem]) -> int:
    """Store the items not stored before (by uid), all or nothing; returns how many were
    new. Tells the run's page which kinds changed."""
    with transaction.atomic():
        uids = [item.uid for item in items]
        seen = set(Media.objects.filter(run=run, uid__in=uids).values_list("uid", flat=True))
        fresh = {item.uid: item for item in items if item.uid not in seen}
        Media.objects.bulk_create(
            [
                Media(run=run, kind=i.kind, name=i.name, step=i.step, uid=i.uid, data=i.data)
                for i in fresh.values()
            ],
            ignore_conflicts=True,
        )
        if fresh:
            events.emit(run, {"type": "media", "kinds": sorted({i.kind for i in fresh.values()})})
    return len(fresh)
