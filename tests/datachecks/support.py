"""Small real trainings for the data checks: an MLP on scikit-learn's bundled data sets,
each split profiled with ``tracker.log_dataset`` against a live server."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import tracker
from experiments.diagnostics.models import Finding
from experiments.diagnostics.runner import run_diagnose


def train(name: str, X_train, y_train, X_val, y_val, *, epochs: int = 3, seed: int = 0) -> int:
    """Profile the splits, train an MLP a few epochs logging its curves, finish; returns the run id."""
    torch.manual_seed(seed)
    run = tracker.init(project="data", name=f"{name}-{seed}")
    tracker.log_dataset(name, X_train, y_train, split="train")
    tracker.log_dataset(name, X_val, y_val, split="val")
    Xt = torch.tensor(np.nan_to_num(X_train), dtype=torch.float32)
    yt = torch.tensor(y_train, dtype=torch.long)
    Xv = torch.tensor(np.nan_to_num(X_val), dtype=torch.float32)
    yv = torch.tensor(y_val, dtype=torch.long)
    classes = int(max(yt.max(), yv.max())) + 1
    model = nn.Sequential(nn.Linear(Xt.shape[1], 32), nn.ReLU(), nn.Linear(32, classes))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    step = 0
    for epoch in range(epochs):
        for batch in torch.randperm(len(Xt)).split(64):
            loss = nn.functional.cross_entropy(model(Xt[batch]), yt[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            tracker.log({"train/loss": loss.item()}, step=step)
            step += 1
        with torch.no_grad():
            logits = model(Xv)
            tracker.log(
                {
                    "val/loss": nn.functional.cross_entropy(logits, yv).item(),
                    "val/acc": (logits.argmax(1) == yv).float().mean().item(),
                    "epoch": epoch,
                },
                step=step,
            )
    run_id = run.id
    tracker.finish()
    return run_id


def data_findings(run_id: int) -> dict[str, Finding]:
    """The data analyzer's findings after a diagnosis pass, by kind."""
    run_diagnose(run_id=run_id)
    return {f.kind: f for f in Finding.objects.filter(run_id=run_id, analyzer="data")}


def split(X, y, seed: int, val: float = 0.25):
    from sklearn.model_selection import train_test_split

    return train_test_split(X, y, test_size=val, random_state=seed, stratify=y)


def standardised(X_train, X_val):
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_val)
