"""Lightning: ``Trainer(logger=TrackerLogger(project="digits"))``.

    from tracker.integrations.lightning import TrackerLogger
    trainer = L.Trainer(logger=TrackerLogger(project="digits"), max_epochs=5)

What it records: every ``self.log`` metric at the trainer's step; the hyperparameters
(``save_hyperparameters``) as the run's config; the model summary (``tracker.watch``:
pass ``watch="gradients"`` for per-layer gradient norms too); every checkpoint that
``ModelCheckpoint`` saves, uploaded as it is written, with its keep-best-k policy
(``save_top_k`` by ``monitor``); the end as finished or failed (with the traceback).

Unlike the stock loggers it logs on every rank: under DDP each rank records its own
values (``sync_dist=False``) into the one run of the job, which shows per-rank curves and
mean ± std. The Stop button and a sweep's pruner (``tracker.should_stop()``) stop the
trainer, on all ranks at the same step.

The run is started when Lightning first has something to record (the hyperparameters,
at the start of ``fit``), so that its config holds them; or ``tracker.init`` first, and
the logger uses that run.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from argparse import Namespace
from typing import Any

import lightning.pytorch as pl
from lightning.fabric.utilities.logger import _convert_params, _sanitize_callable_params
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers.logger import Logger
from lightning.pytorch.loggers.utilities import _scan_checkpoints

from tracker.core import Run
from tracker.integrations import RunHolder, agreed_stop

logger = logging.getLogger("tracker")

__all__ = ["TrackerLogger"]


class TrackerLogger(Logger):
    """A Lightning ``Logger`` that records the run on the tracker server.

    ``project``, ``name``, ``group``, ``tags``, ``config``, ``mode``, ``server``,
    ``api_key`` and any other keyword go to ``tracker.init``. ``run``: log to this run
    (default: the current run, else a new one). ``watch``: what ``tracker.watch`` hooks
    on the model ("gradients", "parameters", "all"; None: only its summary), every
    ``log_freq`` training steps. ``checkpoints``: upload what ``ModelCheckpoint``
    saves. ``keep_best``: how many best checkpoints the server keeps (default: the
    callback's ``save_top_k``, when it monitors a metric).
    """

    def __init__(
        self,
        project: str | None = None,
        *,
        run: Run | None = None,
        watch: str | None = None,
        log_freq: int = 100,
        checkpoints: bool = True,
        keep_best: int | None = None,
        save_dir: str | None = None,
        **init_kwargs: Any,
    ) -> None:
        super().__init__()
        self._holder = RunHolder(run, project=project, **init_kwargs)
        self._project = project or os.environ.get("TRACKER_PROJECT") or "uncategorized"
        self._version = time.strftime("%Y%m%d-%H%M%S")
        self._watch = watch
        self._log_freq = log_freq
        self._checkpoints = checkpoints
        self._keep_best = keep_best
        self._save_dir = save_dir
        self._logged_ckpt_time: dict[str, float] = {}
        self._error = ""
        self._late_params_warned = False

    # -- what Lightning asks of a logger -------------------------------------------------
    @property
    def name(self) -> str:
        return self._project

    @property
    def version(self) -> str:
        """A local name for this logger's folder (checkpoints go to save_dir/name/version);
        the run's server id is ``run.id``."""
        return self._version

    @property
    def save_dir(self) -> str | None:
        return self._save_dir

    @property
    def run(self) -> Run:
        """The tracker run (started now if there is none yet; after ``fit``, the run
        it recorded)."""
        return self._holder.last or self._holder.get(rank=_rank())

    @property
    def experiment(self) -> Any:
        """The run, for ``self.logger.experiment.log(...)``; Lightning touches this at
        set-up, before the hyperparameters are known, so it starts the run only on use."""
        return _LazyRun(self)

    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        params = _sanitize_callable_params(_convert_params(params))
        if not self._holder.started:
            self._holder.get(config=params, rank=_rank())
            return
        run = self._holder.get()
        late = {k: v for k, v in params.items() if run.config.get(k, _MISSING) != v}
        if late:
            # The server takes a run's config when the run starts; later ones go to the summary.
            if not self._late_params_warned:
                self._late_params_warned = True
                logger.warning(
                    "tracker: the run had started before Lightning logged its hyperparameters; "
                    "%s are kept in the run summary under hparams/",
                    ", ".join(sorted(late)),
                )
            for key, value in late.items():
                run.summary[f"hparams/{key}"] = value

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        run = self._holder.get(rank=_rank())
        if step is None:
            run.log(metrics)
        else:
            run.log(metrics, step=int(step))

    def log_graph(self, model: Any, input_array: Any = None) -> None:
        """Called once at the start of ``fit`` with the LightningModule: its summary (and
        hooks, with ``watch=``), and the callback that makes the trainer stop on request."""
        run = self._holder.get(rank=_rank())
        run.watch(model, log=self._watch, log_freq=self._log_freq)
        trainer = getattr(model, "_trainer", None)
        if trainer is not None and not any(isinstance(c, _StopAndErrors) for c in trainer.callbacks):
            trainer.callbacks.append(_StopAndErrors(self))

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        if not self._checkpoints or not self._holder.started:
            return
        run = self._holder.get()
        monitor = getattr(checkpoint_callback, "monitor", None)
        top_k = getattr(checkpoint_callback, "save_top_k", 1)
        keep_best = (
            self._keep_best if self._keep_best is not None else (top_k if monitor and top_k > 0 else None)
        )
        step = getattr(checkpoint_callback, "_last_global_step_saved", None)
        for mtime, path, score, _tag in _scan_checkpoints(checkpoint_callback, self._logged_ckpt_time):
            value = _finite(score)
            metrics = {monitor: value} if monitor and value is not None else None
            policy = {"keep_best": keep_best, "metric": monitor} if metrics and keep_best else {}
            try:
                run.save_checkpoint(path, step=step, metrics=metrics, **policy)
            except (OSError, ValueError) as exc:  # a checkpoint that cannot be sent must not stop training
                logger.warning("tracker: checkpoint %s not uploaded: %s", path, exc)
            self._logged_ckpt_time[path] = mtime

    def finalize(self, status: str) -> None:
        """Lightning ends a stage: "success" finishes the run this logger started (resumed
        if the trainer goes on, e.g. ``test`` after ``fit``), "failed" marks it failed."""
        if status == "failed":
            self._holder.end(1, error=self._error or "Lightning ended the training as failed")
        else:
            self._holder.end(0)
        self._error = ""


class _LazyRun:
    """``logger.experiment``: the run, started on first attribute use."""

    def __init__(self, owner: TrackerLogger) -> None:
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._owner._holder.get(rank=_rank()), name)


class _StopAndErrors(Callback):
    """Added to the trainer by ``TrackerLogger``: at every batch end all ranks agree on
    whether the server asked to stop (so they leave the loop at the same step), and an
    exception's traceback is kept for the failed run."""

    def __init__(self, owner: TrackerLogger) -> None:
        self._owner = owner

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, idx: int
    ) -> None:
        holder = self._owner._holder
        run = holder.get() if holder.started else None
        reduce = None
        if trainer.world_size > 1:

            def reduce(flag: bool) -> bool:
                return trainer.strategy.reduce_boolean_decision(flag, all=False)

        if agreed_stop(run, reduce) and not trainer.should_stop:
            logger.warning("tracker: the server asked run %s to stop; stopping the trainer", run and run.id)
            trainer.should_stop = True

    def on_exception(self, trainer: pl.Trainer, pl_module: Any, exception: BaseException) -> None:
        self._owner._error = "".join(traceback.format_exception(exception))


_MISSING = object()


def _rank() -> int | None:
    """This process's rank as Lightning knows it, and, for ranks that Lightning launched
    itself (no ``RANK`` in the environment), told to ``tracker.init`` through ``RANK`` and
    ``WORLD_SIZE`` so that all ranks join one run."""
    rank = getattr(rank_zero_only, "rank", None)
    if rank is None:
        return None
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and "RANK" not in os.environ:
            os.environ["RANK"] = str(dist.get_rank())
            os.environ["WORLD_SIZE"] = str(dist.get_world_size())
    except ImportError:
        pass
    return int(rank)


def _finite(score: Any) -> float | None:
    import math

    if score is None:
        return None
    try:
        value = float(score.item() if hasattr(score, "item") else score)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
