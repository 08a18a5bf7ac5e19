"""A small CNN on scikit-learn's bundled 8x8 digits, logged with the tracker.

Real training (no downloads): a learning curve per optimisation step, train/val loss and
accuracy per epoch, and per epoch on the validation set a confusion matrix with class
names and one-vs-rest ROC / precision-recall curves. ``tracker.watch`` records gradient,
parameter, update and activation statistics and histograms, and the learning rate of a
warm-up + cosine schedule; the system sampler records CPU / memory / GPU and throughput;
a checkpoint is saved every epoch, keeping the best two by val/acc. Under a minute on
two CPU cores.

    TRACKER_SERVER=http://127.0.0.1:8000 TRACKER_API_KEY=trk_... python examples/train_digits.py
    python examples/train_digits.py --offline      # then: python -m tracker sync tracker-runs

``train(config, run)`` is the entry point sweeps call: it returns the final val accuracy
and stops early when the server asks (``tracker.should_stop()``). ``--resume RUN_ID`` (or
``config["resume_from"]``) starts from the best checkpoint of an earlier run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script from a checkout: make `tracker` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tracker

DEFAULTS: dict[str, Any] = {
    "epochs": 15,
    "lr": 3e-3,
    "batch_size": 64,
    "width": 16,
    "weight_decay": 0.0,
    "dropout": 0.1,
    "val_fraction": 0.2,
    "seed": 0,
    "warmup_steps": 30,
    "watch": "all",  # tracker.watch(log=...): "gradients", "parameters", "all", or None
    "log_freq": 25,
    "keep_checkpoints": 2,  # keep the best k by val/acc (0: no checkpoints)
}
CLASS_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def load_data(val_fraction: float, seed: int):
    """Digits as (N, 1, 8, 8) float tensors scaled to [0, 1], split stratified."""
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(digits.target, dtype=torch.long)
    train_idx, val_idx = train_test_split(
        list(range(len(y))), test_size=val_fraction, random_state=seed, stratify=digits.target
    )
    return x[train_idx], y[train_idx], x[val_idx], y[val_idx]


def build_model(width: int, dropout: float):
    from collections import OrderedDict

    from torch import nn

    # Named layers, so per-layer charts read "conv1", not "0".
    return nn.Sequential(
        OrderedDict(
            [
                ("conv1", nn.Conv2d(1, width, 3, padding=1)),
                ("relu1", nn.ReLU()),
                ("conv2", nn.Conv2d(width, 2 * width, 3, padding=1)),
                ("relu2", nn.ReLU()),
                ("pool", nn.MaxPool2d(2)),  # 8x8 -> 4x4
                ("flatten", nn.Flatten()),
                ("dropout", nn.Dropout(dropout)),
                ("fc1", nn.Linear(2 * width * 4 * 4, 64)),
                ("relu3", nn.ReLU()),
                ("fc2", nn.Linear(64, 10)),
            ]
        )
    )


def warmup_cosine(warmup_steps: int, total_steps: int, floor: float = 0.05):
    """LR multiplier: linear warm-up to 1, then cosine decay to ``floor``."""
    import math

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def evaluate(model, x, y, with_logits: bool = False):
    """(loss, accuracy) of ``model`` on (x, y) in eval mode; and the logits if asked."""
    import torch
    from torch.nn import functional as F

    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss = F.cross_entropy(logits, y).item()
        acc = (logits.argmax(1) == y).float().mean().item()
    model.train()
    return (loss, acc, logits) if with_logits else (loss, acc)


def train(config: dict[str, Any], run: tracker.Run | None = None) -> float:
    """Train with ``config`` (missing keys take ``DEFAULTS``); return the final val accuracy.

    Metrics go to ``run`` (default: the current run). Every metric uses the global
    optimisation step as its step, so per-epoch points line up with the per-step curve.
    ``train/loss`` is the batch loss at every step; at each epoch's last step come
    ``train/epoch_loss`` and ``train/acc`` (whole training set, eval mode) and
    ``val/loss``, ``val/acc``. (A per-epoch ``train/loss`` at the same step would
    replace that step's batch loss: the server keeps the newest value per step.)
    At the same step: the validation confusion matrix, ROC and PR curves, and a
    checkpoint (keep-best by ``val/acc``).
    """
    import torch
    from torch.nn import functional as F

    cfg = {**DEFAULTS, **config}
    run = run if run is not None else tracker.run
    if run is None:
        raise RuntimeError("train: call tracker.init(...) first or pass a run")
    torch.set_num_threads(2)
    torch.manual_seed(cfg["seed"])
    x_train, y_train, x_val, y_val = load_data(cfg["val_fraction"], cfg["seed"])
    model = build_model(cfg["width"], cfg["dropout"])
    if cfg.get("resume_from"):  # a run id: start from its best checkpoint
        model.load_state_dict(tracker.load_checkpoint(cfg["resume_from"], which="best"))
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    steps_per_epoch = -(-len(y_train) // cfg["batch_size"])
    schedule = warmup_cosine(cfg["warmup_steps"], steps_per_epoch * int(cfg["epochs"]))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    run.summary["batch_size"] = cfg["batch_size"]  # the system sampler turns steps/s into samples/s
    if cfg["watch"]:
        run.watch(model, optimizer, log=cfg["watch"], log_freq=int(cfg["log_freq"]))
    generator = torch.Generator().manual_seed(cfg["seed"])
    step, val_acc = 0, 0.0
    for epoch in range(int(cfg["epochs"])):
        order = torch.randperm(len(y_train), generator=generator)
        for start in range(0, len(order), cfg["batch_size"]):
            batch = order[start : start + cfg["batch_size"]]
            loss = F.cross_entropy(model(x_train[batch]), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            run.log({"train/loss": loss.item()}, step=step)
            step += 1
        train_loss, train_acc = evaluate(model, x_train, y_train)
        val_loss, val_acc, logits = evaluate(model, x_val, y_val, with_logits=True)
        run.log(
            {
                "epoch": epoch,
                "train/epoch_loss": train_loss,
                "train/acc": train_acc,
                "val/loss": val_loss,
                "val/acc": val_acc,
            },
            step=step - 1,
        )
        probabilities = logits.softmax(1)
        run.log_confusion_matrix(y_val, logits.argmax(1), labels=CLASS_NAMES, step=step - 1, split="val")
        run.log_roc_curve(y_val, probabilities, labels=CLASS_NAMES, step=step - 1, split="val")
        run.log_pr_curve(y_val, probabilities, labels=CLASS_NAMES, step=step - 1, split="val")
        if cfg["keep_checkpoints"]:
            run.save_checkpoint(
                model,
                step=step - 1,
                metrics={"val/acc": val_acc, "val/loss": val_loss},
                keep_best=int(cfg["keep_checkpoints"]),
                metric="val/acc",
            )
        best = run.summary.get("best/val_acc", 0.0)
        run.summary["best/val_acc"] = max(best, val_acc)
        if run.should_stop():
            print(f"stopping after epoch {epoch}: the server asked to stop", file=sys.stderr)
            break
    run.unwatch(model)
    return val_acc


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description="Train a small CNN on the 8x8 digits and track it.")
    parser.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    parser.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    parser.add_argument("--project", default="digits")
    parser.add_argument("--offline", action="store_true", help="record locally; upload with tracker sync")
    parser.add_argument(
        "--resume", type=int, metavar="RUN_ID", help="print the best checkpoint of a run and exit"
    )
    args = parser.parse_args(argv)
    config = {**DEFAULTS, "epochs": args.epochs, "lr": args.lr}
    if args.resume is not None:
        config["resume_from"] = args.resume
    mode = "offline" if args.offline else None
    with tracker.init(project=args.project, config=config, mode=mode) as run:
        val_acc = train(config, run)
    if run.id is not None:
        where = f"run {run.id}: {run.url}"
    else:
        where = f"offline run in {run.dir}" if run.dir else "not recorded: tracker disabled"
    print(f"final val/acc {val_acc:.4f} ({where})")
    return val_acc


if __name__ == "__main__":
    main()
