"""``tracker.watch(model, optimizer)``: PyTorch hooks that record what the model is doing.

Every ``log_freq``-th training forward pass of the watched model is a *log step*. On it:

- ``grad/<layer>/norm``: L2 norm of the layer's gradients (all its own parameters),
  measured when autograd has accumulated them (before clipping and the update);
  ``grad/global_norm`` over every watched parameter;
- ``param/<layer>/norm``: L2 norm of the layer's parameters at that moment;
- ``update/<layer>/ratio``: ``|W_after - W_before| / |W_before|`` across the optimizer
  step (needs the optimizer; the parameters are copied for the duration of that step);
- ``act/<module>/mean``, ``/std`` (population), ``/zero_frac`` of every leaf module's
  output (``log="all"``; not of Flatten, Identity and Dropout, which repeat their input);
- histograms (64 bins over the tensor's range) of each parameter's gradient and values
  (media ``grad/<parameter>`` and ``param/<parameter>``).

With an optimizer, ``lr/group<i>`` (each param group's learning rate as used by the
step) is logged at every optimizer step, so warm-up and decay are fully visible.

Statistics are computed on the device as detached scalars and copied to the host in one
transfer per log step; nothing keeps a reference to a tensor after it. Metrics are
logged at the run's current step (the step after the last ``log()``) without moving
the run's step counter. A "layer" is a module with parameters of its own, named by its
path in the model (``features.0``); the model's own parameters are layer ``root``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any

from tracker import _current
from tracker._current import PluginRun
from tracker.uploads import new_uid

logger = logging.getLogger("tracker")

MODES = ("gradients", "parameters", "all")
BINS = 64
# Leaf modules whose output repeats their input's values (reshaped, or dropped at random):
# their activation statistics would only duplicate the previous module's.
_PASS_THROUGH = {
    "Flatten",
    "Unflatten",
    "Identity",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "AlphaDropout",
}


def _first_tensor(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, list | tuple):
        for item in value:
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def model_summary(model: Any) -> dict[str, Any]:
    """The module tree: per module its type, depth, parameter counts (own and nested)
    and their size in bytes, and the shapes of its own parameters."""
    rows = []
    for name, module in model.named_modules():
        params = list(module.parameters())
        own = list(module.parameters(recurse=False))
        rows.append(
            {
                "name": name or "(model)",
                "type": type(module).__name__,
                "depth": name.count(".") + 1 if name else 0,
                "params": sum(p.numel() for p in params),
                "trainable": sum(p.numel() for p in params if p.requires_grad),
                "bytes": sum(p.numel() * p.element_size() for p in params),
                "shapes": ", ".join(f"{n}{list(p.shape)}" for n, p in module.named_parameters(recurse=False))[
                    :500
                ],
            }
        )
        if not own:
            rows[-1].pop("shapes")
    top = rows[0]
    return {
        "model": type(model).__name__,
        "rows": rows,
        "total_params": top["params"],
        "trainable_params": top["trainable"],
        "bytes": top["bytes"],
    }


class Watch:
    """The hooks on one model (and optionally its optimizer) for one run."""

    def __init__(self, run: PluginRun, model: Any, optimizer: Any, log: str, log_freq: int, bins: int = BINS):
        self.run = run
        self.model = model
        self.optimizer = optimizer
        self.log_freq = log_freq
        self.bins = bins
        self.gradients = log in ("gradients", "all")
        self.parameters = log in ("parameters", "all")
        self.activations = log == "all"
        self.handles: list[Any] = []
        self.forwards = 0
        self.capturing = False  # inside a log step's forward pass
        self.pending = False  # a log step's statistics wait to be flushed
        self.step = 0
        # Per log step, filled by the hooks: name -> scalar tensors (on the device).
        self.grad_sq: dict[str, Any] = {}
        self.param_sq: dict[str, Any] = {}
        self.acts: dict[str, Any] = {}
        self.hists: dict[str, tuple[Any, Any]] = {}
        self.before: dict[Any, Any] | None = None
        self.update: dict[str, tuple[Any, Any]] = {}
        self.layer_of: dict[int, tuple[str, str]] = {}  # id(param) -> (layer, parameter name)
        self._install()

    # -- installation -----------------------------------------------------------------
    def _layers(self) -> Iterator[tuple[str, Any]]:
        for name, module in self.model.named_modules():
            if any(True for _ in module.parameters(recurse=False)):
                yield name or "root", module

    def _install(self) -> None:
        model = self.model
        self.handles.append(model.register_forward_pre_hook(self._forward_begins))
        self.handles.append(model.register_forward_hook(self._forward_ends))
        for layer, module in self._layers():
            prefix = "" if layer == "root" else layer + "."
            for pname, param in module.named_parameters(recurse=False):
                if not param.requires_grad:
                    continue
                self.layer_of[id(param)] = (layer, prefix + pname)
                self.handles.append(param.register_post_accumulate_grad_hook(self._grad_ready))
        if self.activations:
            for name, module in model.named_modules():
                leaf = name and not any(True for _ in module.children())
                if leaf and type(module).__name__ not in _PASS_THROUGH:
                    self.handles.append(module.register_forward_hook(self._activation(name)))
        if self.optimizer is not None:
            self.handles.append(self.optimizer.register_step_pre_hook(self._step_begins))
            self.handles.append(self.optimizer.register_step_post_hook(self._step_ends))

    def remove(self) -> None:
        """Flush what a log step left, then remove every hook."""
        if self.pending:
            self.flush()
        for handle in self.handles:
            handle.remove()
        self.handles.clear()
        self.before = None

    # -- hooks --------------------------------------------------------------------------
    def _forward_begins(self, module: Any, args: Any) -> None:
        import torch

        if not (module.training and torch.is_grad_enabled()):
            self.capturing = False
            return
        if self.pending and self.optimizer is None:
            self.flush()  # without an optimizer, the next forward pass ends a log step
        capture = self.forwards % self.log_freq == 0
        self.forwards += 1
        self.capturing = capture
        if capture:
            self.pending = True
            self.step = self.run.step

    def _forward_ends(self, module: Any, args: Any, output: Any) -> None:
        self.capturing = False

    def _activation(self, name: str) -> Any:
        def hook(module: Any, args: Any, output: Any) -> None:
            if not self.capturing:
                return
            import torch

            tensor = _first_tensor(output)
            if tensor is None or not tensor.is_floating_point() or tensor.numel() == 0:
                return
            values = tensor.detach().float()
            std, mean = torch.std_mean(values, correction=0)
            zero = (values == 0).sum() / values.numel()
            self.acts[name] = torch.stack([mean, std, zero])

        return hook

    def _grad_ready(self, param: Any) -> None:
        if not self.pending or param.grad is None:
            return
        import torch

        pname = self.layer_of[id(param)][1]
        grad = param.grad.detach()
        # Overwritten, not added: with gradient accumulation the last call holds the sum.
        self.grad_sq[pname] = torch.linalg.vector_norm(grad, dtype=torch.float32).square()
        self.param_sq[pname] = torch.linalg.vector_norm(param.detach(), dtype=torch.float32).square()
        if self.gradients:
            self.hists["grad/" + pname] = self._histogram(grad)
        if self.parameters:
            self.hists["param/" + pname] = self._histogram(param.detach())

    def _histogram(self, tensor: Any) -> tuple[Any, Any]:
        """(counts, [min, max, non-finite count]) on the tensor's device."""
        import torch

        values = tensor.float().reshape(-1)
        finite = torch.isfinite(values)
        bad = values.numel() - finite.sum()
        values = values[finite] if values.numel() else values
        if values.numel() == 0:
            return torch.zeros(self.bins, device=tensor.device), torch.stack(
                [torch.zeros((), device=tensor.device)] * 2 + [bad.float()]
            )
        low, high = torch.aminmax(values)
        counts = torch.histc(values, bins=self.bins)  # over [min, max] (widened by 1 if equal)
        return counts, torch.stack([low, high, bad.float()])

    def _step_begins(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        step = self.run.step
        lrs = {f"lr/group{i}": float(group["lr"]) for i, group in enumerate(optimizer.param_groups)}
        self.run.log_aside(lrs, step)
        if self.pending and self.parameters:
            self.before = {
                id(p): p.detach().clone()
                for group in optimizer.param_groups
                for p in group["params"]
                if id(p) in self.layer_of
            }

    def _step_ends(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        import torch

        if self.before is not None:
            for group in optimizer.param_groups:
                for p in group["params"]:
                    old = self.before.get(id(p))
                    if old is None:
                        continue
                    pname = self.layer_of[id(p)][1]
                    change = torch.linalg.vector_norm(p.detach() - old, dtype=torch.float32).square()
                    self.update[pname] = torch.stack(
                        [change, torch.linalg.vector_norm(old, dtype=torch.float32).square()]
                    )
            self.before = None
        if self.pending:
            self.flush()

    # -- flushing ---------------------------------------------------------------------
    def flush(self) -> None:
        """Copy the log step's statistics to the host in one transfer and log them."""
        import torch

        self.pending = False
        grad_sq, param_sq, acts, hists, update = (
            self.grad_sq,
            self.param_sq,
            self.acts,
            self.hists,
            self.update,
        )
        self.grad_sq, self.param_sq, self.acts, self.hists, self.update = {}, {}, {}, {}, {}
        parts = (
            [t.reshape(1) for t in grad_sq.values()]
            + [t.reshape(1) for t in param_sq.values()]
            + [t.reshape(-1) for t in acts.values()]
            + [t.reshape(-1) for t in update.values()]
        )
        for counts, extent in hists.values():
            parts += [counts.reshape(-1), extent.reshape(-1)]
        if not parts:
            return
        device = parts[0].device
        values = torch.cat([p.to(device=device, dtype=torch.float32) for p in parts]).cpu().tolist()
        del parts
        at = 0

        def take(n: int) -> list[float]:
            nonlocal at
            at += n
            return values[at - n : at]

        grads = dict(zip(grad_sq, take(len(grad_sq)), strict=True))
        params = dict(zip(param_sq, take(len(param_sq)), strict=True))
        act_values = {name: take(3) for name in acts}
        updates = {name: take(2) for name in update}
        histograms = {name: (take(self.bins), take(3)) for name in hists}

        metrics: dict[str, float] = {}
        by_layer: dict[str, list[str]] = {}
        for pname in grads:
            by_layer.setdefault(self.layer_name(pname), []).append(pname)
        for layer, pnames in by_layer.items():
            if self.gradients:
                metrics[f"grad/{layer}/norm"] = math.sqrt(sum(grads[p] for p in pnames))
            if self.parameters:
                metrics[f"param/{layer}/norm"] = math.sqrt(sum(params[p] for p in pnames))
                if all(p in updates for p in pnames):
                    change = sum(updates[p][0] for p in pnames)
                    size = sum(updates[p][1] for p in pnames)
                    metrics[f"update/{layer}/ratio"] = math.sqrt(change / size) if size > 0 else math.nan
        if self.gradients and grads:
            metrics["grad/global_norm"] = math.sqrt(sum(grads.values()))
        for name, (mean, std, zero) in act_values.items():
            metrics[f"act/{name}/mean"] = mean
            metrics[f"act/{name}/std"] = std
            metrics[f"act/{name}/zero_frac"] = zero
        if metrics:
            self.run.log_aside(metrics, self.step)
        items = []
        for name, (counts, (low, high, bad)) in histograms.items():
            if low == high:
                low, high = low - 1.0, high + 1.0  # torch.histc's range for a constant tensor
            width = (high - low) / self.bins
            edges = [low + i * width for i in range(self.bins)] + [high]
            data = {"edges": edges, "counts": [int(c) for c in counts], "nonfinite": int(bad)}
            items.append(
                {"uid": new_uid(), "kind": "histogram", "name": name, "step": self.step, "data": data}
            )
        if items and self.run.mode != "disabled":
            self.run.uploader.add_media(items)

    def layer_name(self, pname: str) -> str:
        layer, _, _ = pname.rpartition(".")
        return layer or "root"


def _run(run: PluginRun | None) -> PluginRun:
    return run if run is not None else _current.require()


def watch(
    model: Any,
    optimizer: Any = None,
    log: str | None = "gradients",
    log_freq: int = 100,
    *,
    run: PluginRun | None = None,
) -> Watch | None:
    """Hook ``model`` (and ``optimizer``, for learning rates and update ratios); see the
    module docstring for what is recorded. ``log``: "gradients", "parameters" or "all"
    (adds activation statistics); None logs only the model summary and learning rates.
    Watching a model again replaces its hooks. Returns the ``Watch`` (``.remove()``)."""
    run = _run(run)
    if log is not None and log not in MODES:
        raise ValueError(f"tracker.watch: log must be one of {', '.join(MODES)} or None, got {log!r}")
    if type(log_freq) is not int or log_freq < 1:
        raise ValueError(f"tracker.watch: log_freq must be a positive integer, got {log_freq!r}")
    unwatch(model, run=run)
    summary = model_summary(model)
    if run.mode != "disabled":
        item = {"uid": new_uid(), "kind": "model_summary", "name": "model", "step": run.step, "data": summary}
        run.uploader.add_media([item])
    run.summary["model/params"] = summary["total_params"]
    run.summary["model/trainable_params"] = summary["trainable_params"]
    hooks = Watch(run, model, optimizer, log or "", log_freq)
    watches = _watches(run)
    watches.append(hooks)
    return hooks


def _watches(run: PluginRun) -> list[Watch]:
    watches = getattr(run, "_watches", None)
    if watches is None:
        watches = run._watches = []

        def close() -> None:
            for hooks in list(watches):
                hooks.remove()
            watches.clear()

        run.on_finish(close)
    return watches


def unwatch(model: Any = None, *, run: PluginRun | None = None) -> None:
    """Remove the hooks ``watch`` put on ``model`` (every watched model when None)."""
    run = run if run is not None else _current.get()
    if run is None:
        return
    watches = _watches(run)
    for hooks in [w for w in watches if model is None or w.model is model]:
        hooks.remove()
        watches.remove(hooks)
