"""``tracker.log_dataset``: what a data set split looks like, measured on the client and
sent as numbers (never the rows), so the server can catch data bugs before training:
train/validation leakage, NaN or inf inputs, unnormalised features, class imbalance,
duplicates, a validation split unlike the training one.

    tracker.log_dataset("digits", X_train, y_train, split="train")
    tracker.log_dataset("digits", X_val, y_val, split="val")

``X``: a NumPy array, a torch tensor, a pandas DataFrame (when pandas is installed) or a
torch ``Dataset`` (items ``(x, y)`` or ``x``), whose rows are sampled evenly up to
``max_rows``. Each row is flattened (an image is one row of pixels). Per feature (up to
``MAX_FEATURES``; wider rows are summarised as one feature): min, max, mean, std over the
finite values, NaN and inf counts. Rows are identified by a 64-bit BLAKE2b hash of their
values, which is all that leaves the machine of them.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from tracker import _current
from tracker._current import PluginRun
from tracker.transport import RequestFailed, run_path

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger("tracker")

MAX_ROWS = 100_000
MAX_FEATURES = 1_000
MAX_CLASSES = 1_000


def _numpy(values: Any, what: str) -> np.ndarray:
    from tracker.media import to_numpy

    return to_numpy(values, what)


def _is_frame(value: Any) -> bool:
    return type(value).__module__.startswith("pandas") and hasattr(value, "to_numpy")


def _is_dataset(value: Any) -> bool:
    """A torch-style map Dataset: indexable and sized, but not an array-like itself."""
    return (
        hasattr(value, "__getitem__")
        and hasattr(value, "__len__")
        and not hasattr(value, "shape")
        and not isinstance(value, list | tuple)
        and not _is_frame(value)
    )


def _sample(n: int, cap: int) -> np.ndarray:
    import numpy as np

    if n <= cap:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, cap).round().astype(np.int64))


def _from_dataset(dataset: Any, cap: int) -> tuple[np.ndarray, np.ndarray | None, int]:
    import numpy as np

    n = len(dataset)
    xs, ys = [], []
    for i in _sample(n, cap).tolist():
        item = dataset[i]
        if isinstance(item, tuple | list) and len(item) >= 2:
            xs.append(_numpy(item[0], "X").reshape(-1))
            ys.append(_numpy(item[1], "y").reshape(-1)[0] if _numpy(item[1], "y").size == 1 else np.nan)
        else:
            xs.append(_numpy(item, "X").reshape(-1))
    X = np.stack(xs) if xs else np.zeros((0, 0))
    y = np.asarray(ys) if ys else None
    return X, y, n


def _table(X: Any, y: Any, cap: int) -> tuple[np.ndarray, np.ndarray | None, list[str], np.ndarray, int]:
    """(numeric matrix, labels, feature names, row hashes, rows before sampling)."""
    import numpy as np

    names: list[str] = []
    if _is_dataset(X):
        X, y_from, total = _from_dataset(X, cap)
        y = y if y is not None else y_from
        rows = np.arange(len(X))
    elif _is_frame(X):
        total = len(X)
        rows = _sample(total, cap)
        frame = X.iloc[rows]
        import pandas as pd

        hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)
        numeric = frame.select_dtypes(include=["number", "bool"])
        names = [str(c) for c in numeric.columns]
        X = numeric.to_numpy(dtype=np.float64)
        if y is not None:
            y = _labels(y)
            y = y[rows] if len(y) == total else y
        return X, y, names, np.array([f"{h:016x}" for h in hashes.tolist()]), total
    else:
        X = _numpy(X, "X")
        total = len(X) if X.ndim else 0
        rows = _sample(total, cap)
        X = X[rows]
    X = np.asarray(X).reshape(len(X), -1) if len(X) else np.zeros((0, 0))
    if y is not None:
        y = _labels(y)
        if len(y) == total and len(rows) != total:
            y = y[rows]
        if len(y) != len(X):
            raise ValueError(f"tracker.log_dataset: X has {len(X)} rows but y has {len(y)}")
    if X.dtype.kind not in "fiub":
        raise TypeError(f"tracker.log_dataset: X must hold numbers, got dtype {X.dtype}")
    X = X.astype(np.float64) + 0.0  # one representation per value: ints as floats, -0.0 as 0.0
    digests = [hashlib.blake2b(row.tobytes(), digest_size=8).hexdigest() for row in np.ascontiguousarray(X)]
    return X, y, names, np.array(digests), total


def _labels(y: Any) -> np.ndarray:
    if _is_frame(y):
        y = y.to_numpy()
    array = _numpy(y, "y")
    return array.reshape(len(array), -1)[:, 0] if array.ndim > 1 else array


def _finite_or_none(value: float) -> float | None:
    import math

    return float(value) if math.isfinite(value) else None


def _features(X: np.ndarray, names: list[str]) -> list[dict]:
    import warnings

    import numpy as np

    if X.shape[1] > MAX_FEATURES:  # images and the like: one summary of every value
        X, names = X.reshape(-1, 1), ["all values"]
    nan = np.isnan(X)
    inf = np.isinf(X)
    finite = np.where(nan | inf, np.nan, X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column: its stats are None
        stats = {
            "min": np.nanmin(finite, axis=0),
            "max": np.nanmax(finite, axis=0),
            "mean": np.nanmean(finite, axis=0),
            "std": np.nanstd(finite, axis=0),
        }
    nan_counts, inf_counts = nan.sum(axis=0), inf.sum(axis=0)
    return [
        {
            "name": names[j] if j < len(names) else str(j),
            **{stat: _finite_or_none(values[j]) for stat, values in stats.items()},
            "nan": int(nan_counts[j]),
            "inf": int(inf_counts[j]),
        }
        for j in range(X.shape[1])
    ]


def _classes(y: np.ndarray) -> dict[str, int] | None:
    """Class counts when ``y`` looks like class labels (integers or strings, at most
    ``MAX_CLASSES`` of them); None for a regression target."""
    import numpy as np

    if y.dtype.kind == "f":
        finite = y[np.isfinite(y)]
        if not len(finite) or not (finite == np.round(finite)).all():
            return None
        y = finite.astype(np.int64)
    values, counts = np.unique(y.astype(str) if y.dtype.kind in "OUS" else y, return_counts=True)
    if len(values) > MAX_CLASSES:
        return None
    return {str(v): int(c) for v, c in zip(values.tolist(), counts.tolist(), strict=True)}


def profile(X: Any, y: Any = None, *, max_rows: int = MAX_ROWS) -> tuple[dict, list[str]]:
    """(profile, row hashes) of ``X`` / ``y``: what ``log_dataset`` sends."""
    import numpy as np

    matrix, labels, names, hashes, total = _table(X, y, max_rows)
    result: dict[str, Any] = {
        "rows": len(matrix),
        "sampled_from": int(total),
        "duplicates": int(len(hashes) - len(np.unique(hashes))) if len(hashes) else 0,
        "features": _features(matrix, names) if matrix.size else [],
        "nan_rows": int(np.isnan(matrix).any(axis=1).sum()) if matrix.size else 0,
        "inf_rows": int(np.isinf(matrix).any(axis=1).sum()) if matrix.size else 0,
    }
    if labels is not None:
        if labels.dtype.kind == "f":
            result["y_nan"] = int((~np.isfinite(labels)).sum())
        classes = _classes(labels)
        if classes is not None:
            result["classes"] = classes
    return result, [str(h) for h in hashes.tolist()]


def log_dataset(
    name: str,
    X: Any,
    y: Any = None,
    split: str = "train",
    *,
    max_rows: int = MAX_ROWS,
    run: PluginRun | None = None,
) -> dict[str, Any]:
    """Profile one split of a data set and send the profile to the current run (or
    ``run``); returns the profile. Log every split under the same ``name`` (``train``,
    ``val``, ``test``) so the server can compare them. Logging a split again replaces it.
    The server being unreachable costs a warning, never the training."""
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ValueError("tracker.log_dataset: name must be a non-empty string of at most 200 characters")
    if not isinstance(split, str) or not split:
        raise ValueError("tracker.log_dataset: split must be a name such as 'train', 'val' or 'test'")
    run = run if run is not None else _current.require("tracker.log_dataset")
    result, hashes = profile(X, y, max_rows=max_rows)
    client = run.new_client() if run.id is not None else None
    if client is None:
        logger.warning("tracker.log_dataset(%r, split=%r) is not sent: the run is offline", name, split)
        return result
    try:
        client.request(
            "POST",
            run_path(run.id, "datasets"),
            {"name": name, "split": split, "profile": result, "hashes": hashes},
        )
    except RequestFailed as exc:
        logger.warning("tracker.log_dataset(%r, split=%r) was not sent: %s", name, split, exc)
    finally:
        client.close()
    return result
