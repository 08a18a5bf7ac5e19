"""The experiment tracker's client SDK.

    import tracker
    with tracker.init(project="digits", config={"lr": 1e-3}) as run:
        for step in range(100):
            tracker.log({"train/loss": loss}, step=step)
            if tracker.should_stop():
                break

Standard library only at import; numpy, torch, orjson and pandas are used when present.
"""

from __future__ import annotations

from typing import Any

from tracker._env import ConfigError, Settings
from tracker._version import __version__
from tracker.alerts import alert
from tracker.api import Api, RunView
from tracker.checkpoints import load_checkpoint, save_checkpoint
from tracker.core import FinishResult, Run, finish, log, should_stop
from tracker.datasets import log_dataset
from tracker.hooks import unwatch, watch
from tracker.images import log_feature_maps, log_image
from tracker.media import log_confusion_matrix, log_pr_curve, log_roc_curve
from tracker.start import InitError, init
from tracker.sweep import Sweep, sweep
from tracker.transport import RequestFailed, TrackerError

__all__ = [
    "Api",
    "ConfigError",
    "FinishResult",
    "InitError",
    "RequestFailed",
    "Run",
    "RunView",
    "Settings",
    "Sweep",
    "TrackerError",
    "__version__",
    "alert",
    "finish",
    "init",
    "load_checkpoint",
    "log",
    "log_confusion_matrix",
    "log_dataset",
    "log_feature_maps",
    "log_image",
    "log_pr_curve",
    "log_roc_curve",
    "save_checkpoint",
    "should_stop",
    "sweep",
    "unwatch",
    "watch",
]


def __getattr__(name: str) -> Any:
    # ``tracker.run`` is the current run (None before init), like ``wandb.run``.
    if name == "run":
        from tracker import _current

        return _current.get()
    raise AttributeError(f"module 'tracker' has no attribute {name!r}")
