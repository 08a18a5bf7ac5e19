"""First-party integrations: one line in a framework's loop records a full tracker run.

    Trainer(logger=tracker.integrations.lightning.TrackerLogger(project="digits"))
    Trainer(..., callbacks=[tracker.integrations.huggingface.TrackerCallback(project="glue")])
    model.fit(..., callbacks=[tracker.integrations.keras.TrackerCallback(project="mnist")])

Each module imports its framework; this package and ``import tracker`` import none of them.
What they share is here: which run they log to (``RunHolder``), and how the server's
stop request becomes the framework's own stop flag on every rank at once
(``agreed_stop``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from tracker import _current
from tracker.core import Run
from tracker.start import init

logger = logging.getLogger("tracker")


class RunHolder:
    """The run an integration logs to.

    A run given explicitly, or the current run (the script called ``tracker.init``, or a
    sweep's trial process did), is used as it is and left to its owner to end. Otherwise
    the holder starts one on first use with the integration's ``init`` arguments and ends
    it when the framework ends training (``end``); if the framework goes on afterwards
    (``fit`` then ``test``), the same run is resumed (a new run, offline).
    """

    def __init__(self, run: Run | None = None, **init_kwargs: Any) -> None:
        self._given = run
        self._init_kwargs = init_kwargs
        self._run: Run | None = run
        self._owned = False
        self._ended = False

    @property
    def last(self) -> Run | None:
        """The run logged to last, even if it has ended since (None before any)."""
        return self._run

    @property
    def started(self) -> bool:
        """Whether a run is being logged to (one was given, found or started)."""
        return self._run is not None and not self._ended

    def get(self, config: Mapping[str, Any] | None = None, rank: int | None = None) -> Run:
        """The run to log to, started (with ``config`` merged over the integration's
        own ``config=``) if there is none yet."""
        if self._run is not None and not self._ended:
            return self._run
        if self._run is None and self._given is None:
            current = _current.get()
            if current is not None:
                self._run = current
                return current
        kwargs = dict(self._init_kwargs)
        kwargs["config"] = {**(kwargs.get("config") or {}), **dict(config or {})}
        if rank is not None and kwargs.get("rank") is None:
            kwargs["rank"] = rank
        previous = self._run
        if previous is not None and previous.id is not None:
            kwargs.setdefault("id", previous.id)  # the framework goes on: resume the same run
        self._run = init(**kwargs)
        self._owned = True
        self._ended = False
        return self._run

    def end(self, exit_code: int = 0, error: str = "") -> None:
        """End the run if this holder started it (a given or current run is its owner's)."""
        if self._run is None or not self._owned or self._ended:
            return
        self._ended = True
        self._run.finish(exit_code, error=error)


def agreed_stop(run: Run | None, reduce: Callable[[bool], bool] | None = None) -> bool:
    """Whether the server asked ``run`` to stop (Stop button, sweep pruner), agreed by
    every rank when ``reduce`` is given (any rank asked: all stop at the same step, so no
    rank waits forever in a collective the others left). ``reduce`` must be called at the
    same point on every rank: a training step boundary."""
    flag = run.should_stop() if run is not None else False
    if reduce is not None:
        flag = bool(reduce(flag))
    return flag


def world_reduce_any() -> Callable[[bool], bool] | None:
    """``any`` over the ranks of torch.distributed's default group, or None for one process."""
    import sys

    if "torch" not in sys.modules:
        return None
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return None

    def reduce(flag: bool) -> bool:
        import torch

        device = "cuda" if dist.get_backend() == "nccl" else "cpu"
        value = torch.tensor([1 if flag else 0], device=device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    return reduce
