"""Hugging Face: ``Trainer(..., callbacks=[TrackerCallback(project="glue")])``.

    from tracker.integrations.huggingface import TrackerCallback
    trainer = Trainer(model, args, train_dataset=..., callbacks=[TrackerCallback(project="glue")])

(pass ``report_to="none"`` in ``TrainingArguments`` to keep the other loggers out.)

What it records, at the trainer's ``global_step``: every ``Trainer.log`` entry (train
loss, learning rate, gradient norm, epoch; eval and test metrics) under ``train/``,
``eval/`` and ``test/`` as ``TrainerState.log_history`` holds them; per-layer gradient
norms (``grad/<layer>/norm``, ``grad/global_norm``, the names ``tracker.watch`` uses)
measured in ``on_pre_optimizer_step`` on logging steps; the model's config and the
training arguments as the run's config, and the model summary; the model's weights at
every save (``load_checkpoint`` gives the state dict back), with the trainer's
``save_total_limit`` and ``metric_for_best_model`` as the keep-best policy; the end of
training. Each rank logs with its rank (``args.process_index``).

The Stop button and a sweep's pruner (``tracker.should_stop()``) set
``control.should_training_stop`` (agreed by all ranks), so sweeps prune HF trainings.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.integrations.integration_utils import rewrite_logs

from tracker.core import Run
from tracker.integrations import RunHolder, agreed_stop, world_reduce_any

logger = logging.getLogger("tracker")

__all__ = ["TrackerCallback"]

# What the trainer logs once, at the end of training: a result, not a curve.
_FINAL = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos", "train_loss")


class TrackerCallback(TrainerCallback):
    """A ``TrainerCallback`` that records the training on the tracker server.

    ``project``, ``name``, ``group``, ``tags``, ``config``, ``mode``, ``server``,
    ``api_key`` and any other keyword go to ``tracker.init``. ``run``: log to this run
    (default: the current run, else one started at ``on_train_begin`` and finished at
    ``on_train_end``). ``grad_norms``: per-layer gradient norms on logging steps.
    ``checkpoints``: upload the model's weights at every save.
    """

    def __init__(
        self,
        project: str | None = None,
        *,
        run: Run | None = None,
        grad_norms: bool = True,
        checkpoints: bool = True,
        **init_kwargs: Any,
    ) -> None:
        self._holder = RunHolder(run, project=project, **init_kwargs)
        self._grad_norms = grad_norms
        self._checkpoints = checkpoints
        self._eval: dict[str, float] = {}
        self._reduce: Any = None

    @property
    def run(self) -> Run | None:
        """The run logged to (None before training begins; after it, the run it recorded)."""
        return self._holder.last

    def _live(self) -> Run | None:
        return self._holder.get() if self._holder.started else None

    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        **kw: Any,
    ) -> None:
        config: dict[str, Any] = {"trainer": args.to_sanitized_dict()}
        model_config = getattr(model, "config", None)
        if model_config is not None:
            config["model"] = model_config if isinstance(model_config, dict) else model_config.to_dict()
        run = self._holder.get(config=config, rank=args.process_index)
        if model is not None:
            run.watch(model, log=None)  # the model summary
        self._reduce = world_reduce_any()

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: Any = None,
        **kw: Any,
    ) -> None:
        run = self._live()
        if run is None or not logs:
            return
        final = {k: v for k, v in logs.items() if k in _FINAL}
        for key, value in final.items():
            run.summary[f"train/{key.removeprefix('train_')}"] = value
        values = {k: v for k, v in logs.items() if k not in _FINAL}
        if values:
            run.log(rewrite_logs(values), step=state.global_step)

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: Any = None,
        **kw: Any,
    ) -> None:
        self._eval = dict(metrics or {})  # on_log records them; kept for the next checkpoint
        self._check_stop(state, control)

    def on_pre_optimizer_step(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        **kw: Any,
    ) -> None:
        run = self._live()
        step = state.global_step + 1  # the step this optimizer step completes
        logging_step = state.logging_steps and step % state.logging_steps == 0
        if run is None or model is None or not self._grad_norms:
            return
        if logging_step or (step == 1 and args.logging_first_step):
            norms = grad_norms(model)
            if norms:
                run.log_aside(norms, step)

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        self._check_stop(state, control)

    def on_save(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        **kw: Any,
    ) -> None:
        run = self._live()
        if run is None or model is None or not self._checkpoints or not state.is_world_process_zero:
            return
        metrics: dict[str, float] = {}
        policy: dict[str, Any] = {}
        best = args.metric_for_best_model
        if best:
            name = best if best.startswith("eval_") else f"eval_{best}"
            value = self._eval.get(name)
            if isinstance(value, int | float) and math.isfinite(value):
                key = next(iter(rewrite_logs({name: value})))
                metrics[key] = float(value)
                if args.save_total_limit:
                    policy = {"keep_best": int(args.save_total_limit), "metric": key}
        try:
            run.save_checkpoint(
                model,
                step=state.global_step,
                metrics=metrics or None,
                filename=f"checkpoint-{state.global_step}.pt",
                **policy,
            )
        except (OSError, ValueError) as exc:  # a checkpoint that cannot be sent must not stop training
            logger.warning("tracker: checkpoint of step %s not uploaded: %s", state.global_step, exc)

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        run = self._live()
        if run is not None:
            run.summary["train/global_step"] = state.global_step
        self._holder.end(0)

    def _check_stop(self, state: TrainerState, control: TrainerControl) -> None:
        run = self._live()
        if run is None:
            return
        if agreed_stop(run, self._reduce) and not control.should_training_stop:
            logger.warning(
                "tracker: the server asked run %s to stop; stopping the trainer at step %d",
                run.id,
                state.global_step,
            )
            control.should_training_stop = True


def grad_norms(model: Any) -> dict[str, float]:
    """L2 norms of the gradients per layer (a module with parameters of its own, named by
    its path; ``root`` for the model's own) and over all of them, as ``tracker.watch``
    names them: one transfer to the host for all."""
    import torch

    named = [(name, p.grad) for name, p in model.named_parameters() if p.grad is not None]
    if not named:
        return {}
    norms = torch.stack([torch.linalg.vector_norm(g.detach(), dtype=torch.float32) for _, g in named])
    squares = norms.square().tolist()
    by_layer: dict[str, float] = {}
    for (name, _), square in zip(named, squares, strict=True):
        layer = name.rpartition(".")[0] or "root"
        by_layer[layer] = by_layer.get(layer, 0.0) + square
    out = {f"grad/{layer}/norm": math.sqrt(total) for layer, total in by_layer.items()}
    out["grad/global_norm"] = math.sqrt(sum(squares))
    return out
