"""Stored series for diagnostics tests: runs, series ingested through the ingest service,
and recorded-like training and GPU series."""

import math

import numpy as np

from experiments import services
from experiments.models import Run
from experiments.payloads import parse_batch
from tests import factories

GIB = 2**30


def make_run(owner, name="run", project="diag", **fields) -> Run:
    return factories.run(owner, name, project=project, **fields)


def ingest(run: Run, series: dict[str, tuple], seq: int = 0, t0: float = 1.7e9) -> None:
    """Store ``{key: (steps, values)}`` through the ingest service, as the API would."""
    by_step: dict[int, dict] = {}
    for key, (steps, values) in series.items():
        for step, value in zip(steps, values, strict=True):
            value = float(value)
            by_step.setdefault(int(step), {})[key] = (
                value if math.isfinite(value) else str(value).replace("inf", "Infinity").replace("nan", "NaN")
            )
    rows = [[step, t0 + step, values] for step, values in sorted(by_step.items())]
    services.batch_ingest(run=run, batch=parse_batch({"writer": "test", "seq": seq, "rows": rows}))


def overfitting_series(n_evals: int = 15) -> dict[str, tuple]:
    """Validation loss best at step 40, then rising ~4% per evaluation; training falling."""
    steps = np.arange(10, 10 * n_evals + 1, 10)
    val = np.where(steps <= 40, 1.0 - steps / 100, 0.6 + (steps - 40) * 0.004)
    train = 1.0 / (1 + steps / 20)
    return {"val/loss": (steps, val), "train/loss": (steps, train)}


# --- GPU, from recorded GPU-like series ---------------------------------------------


def gpu_series(reserved_gib, allocated_gib, util, steps_per_s, total_gib=80.0) -> dict[str, tuple]:
    """What the SDK's sampler logs every few seconds on an 80 GiB card (bytes, %)."""
    steps = np.arange(0, 20 * len(reserved_gib), 20)
    return {
        "sys/gpu0/memory_reserved": (steps, np.asarray(reserved_gib) * GIB),
        "sys/gpu0/memory_allocated": (steps, np.asarray(allocated_gib) * 0.8 * GIB),
        "sys/gpu0/memory_peak": (steps, np.asarray(allocated_gib) * GIB),
        "sys/gpu0/memory_total": (steps, np.full(len(steps), total_gib * GIB)),
        "sys/gpu0/utilization": (steps, np.asarray(util)),
        "sys/steps_per_s": (steps, np.asarray(steps_per_s)),
    }
