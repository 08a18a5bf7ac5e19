"""Keras 3: ``model.fit(..., callbacks=[TrackerCallback(project="mnist")])``.

    from tracker.integrations.keras import TrackerCallback
    model.fit(x, y, validation_split=0.2, epochs=5, callbacks=[TrackerCallback(project="mnist")])

What it records, at the global batch step (training batches done so far): each epoch's
logs as ``History`` holds them, training metrics under ``train/`` and validation metrics
(``val_*``) under ``val/``, with ``epoch``; every ``batch_freq``-th batch's running values
under ``batch/``; the model summary (the text ``model.summary()`` prints) as
``model/summary``. With the torch backend (``KERAS_BACKEND=torch``) a Keras model is a
``torch.nn.Module``: ``watch="gradients"`` hooks it with ``tracker.watch``.

The Stop button and a sweep's pruner (``tracker.should_stop()``) set
``model.stop_training``.
"""

from __future__ import annotations

import logging
from typing import Any

import keras

from tracker.core import Run
from tracker.integrations import RunHolder, agreed_stop
from tracker.values import MAX_TEXT_LENGTH

logger = logging.getLogger("tracker")

__all__ = ["TrackerCallback"]


class TrackerCallback(keras.callbacks.Callback):
    """A Keras callback that records ``fit`` on the tracker server.

    ``project``, ``name``, ``group``, ``tags``, ``config``, ``mode``, ``server``,
    ``api_key`` and any other keyword go to ``tracker.init``. ``run``: log to this run
    (default: the current run, else one started when ``fit`` begins and finished when
    it ends). ``batch_freq``: log batch values every that many batches (None: epochs
    only). ``watch``: ``tracker.watch`` the model ("gradients", "parameters", "all";
    torch backend only) every ``log_freq`` batches.
    """

    def __init__(
        self,
        project: str | None = None,
        *,
        run: Run | None = None,
        batch_freq: int | None = 1,
        watch: str | None = None,
        log_freq: int = 100,
        **init_kwargs: Any,
    ) -> None:
        super().__init__()
        if batch_freq is not None and (type(batch_freq) is not int or batch_freq < 1):
            raise ValueError(
                f"TrackerCallback: batch_freq must be a positive int or None, got {batch_freq!r}"
            )
        self._holder = RunHolder(run, project=project, **init_kwargs)
        self._batch_freq = batch_freq
        self._watch = watch
        self._log_freq = log_freq
        self._batches = 0  # training batches done, over every fit of this callback

    @property
    def run(self) -> Run | None:
        """The run logged to (None before training begins; after it, the run it recorded)."""
        return self._holder.last

    def _live(self) -> Run | None:
        return self._holder.get() if self._holder.started else None

    def on_train_begin(self, logs: Any = None) -> None:
        params = dict(self.params or {})
        config = {"epochs": params.get("epochs"), "steps_per_epoch": params.get("steps")}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            config["optimizer"] = optimizer.get_config()
        run = self._holder.get(config={"keras": config})
        lines: list[str] = []
        try:
            self.model.summary(print_fn=lambda text, *args, **kwargs: lines.append(str(text)))
        except ValueError as exc:  # a subclassed model not built yet has no summary
            logger.info("tracker: no Keras model summary: %s", exc)
        if lines:
            run.log_aside({"model/summary": "\n".join(lines)[:MAX_TEXT_LENGTH]}, self._batches)
        if self._watch is not None:
            if keras.backend.backend() != "torch":
                logger.warning("tracker: watch= needs KERAS_BACKEND=torch; the model is not watched")
            else:
                run.watch(self.model, log=self._watch, log_freq=self._log_freq)

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self._batches += 1
        run = self._live()
        if run is None:
            return
        if logs and self._batch_freq is not None and self._batches % self._batch_freq == 0:
            run.log({f"batch/{k}": v for k, v in logs.items()}, step=self._batches - 1)
        if agreed_stop(run) and not self.model.stop_training:
            logger.warning("tracker: the server asked run %s to stop; stopping fit", run.id)
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        run = self._live()
        if run is None or not logs:
            return
        values: dict[str, Any] = {"epoch": epoch}
        for key, value in logs.items():
            values[f"val/{key[4:]}" if key.startswith("val_") else f"train/{key}"] = value
        run.log(values, step=max(self._batches - 1, 0))

    def on_train_end(self, logs: Any = None) -> None:
        self._holder.end(0)
