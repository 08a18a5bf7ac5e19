"""A small CNN on scikit-learn's bundled 8x8 digits, logged with the tracker.

Real training (no downloads): a learning curve per optimisation step, train/val loss and
accuracy per epoch, a confusion-worthy validation set. Under a minute on two CPU cores.

    TRACKER_SERVER=http://127.0.0.1:8000 TRACKER_API_KEY=trk_... python examples/train_digits.py
    python examples/train_digits.py --offline      # then: python -m tracker sync tracker-runs

``train(config, run)`` is the entry point sweeps call: it returns the final val accuracy
and stops early when the server asks (``tracker.should_stop()``).
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
}


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
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 8x8 -> 4x4
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(2 * width * 4 * 4, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


def evaluate(model, x, y) -> tuple[float, float]:
    import torch
    from torch.nn import functional as F

    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss = F.cross_entropy(logits, y).item()
        acc = (logits.argmax(1) == y).float().mean().item()
    model.train()
    return loss, acc


def train(config: dict[str, Any], run: tracker.Run | None = None) -> float:
    """Train with ``config`` (missing keys take ``DEFAULTS``); return the final val accuracy.

    Metrics go to ``run`` (default: the current run). Every metric uses the global
    optimisation step as its step, so per-epoch points line up with the per-step curve.
    ``train/loss`` is the batch loss at every step; at each epoch's last step come
    ``train/epoch_loss`` and ``train/acc`` (whole training set, eval mode) and
    ``val/loss``, ``val/acc``. (A per-epoch ``train/loss`` at the same step would
    replace that step's batch loss: the server keeps the newest value per step.)
    """
    import torch
    from torch.nn import functional as F

    cfg = {**DEFAULTS, **config}
    log = run.log if run is not None else tracker.log
    should_stop = run.should_stop if run is not None else tracker.should_stop
    torch.set_num_threads(2)
    torch.manual_seed(cfg["seed"])
    x_train, y_train, x_val, y_val = load_data(cfg["val_fraction"], cfg["seed"])
    model = build_model(cfg["width"], cfg["dropout"])
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
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
            log({"train/loss": loss.item()}, step=step)
            step += 1
        train_loss, train_acc = evaluate(model, x_train, y_train)
        val_loss, val_acc = evaluate(model, x_val, y_val)
        log(
            {
                "epoch": epoch,
                "train/epoch_loss": train_loss,
                "train/acc": train_acc,
                "val/loss": val_loss,
                "val/acc": val_acc,
            },
            step=step - 1,
        )
        if run is not None:
            best = run.summary.get("best/val_acc", 0.0)
            run.summary["best/val_acc"] = max(best, val_acc)
        if should_stop():
            print(f"stopping after epoch {epoch}: the server asked to stop", file=sys.stderr)
            break
    return val_acc


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description="Train a small CNN on the 8x8 digits and track it.")
    parser.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    parser.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    parser.add_argument("--project", default="digits")
    parser.add_argument("--offline", action="store_true", help="record locally; upload with tracker sync")
    args = parser.parse_args(argv)
    config = {**DEFAULTS, "epochs": args.epochs, "lr": args.lr}
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
