"""``TrackerLogger`` in real Lightning trainings on CPU against a live server: it records
what Lightning's own CSVLogger writes beside it, every rank of a DDP job in one run, a
failed training as failed, and the Stop button stops the trainer."""

import csv
import json
import os
import subprocess
import sys

import pytest

import tracker
from experiments.models import Checkpoint, Media, Run
from tests.integrations.support import points_by_step, press_stop
from tests.processes import ROOT

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

torch = pytest.importorskip("torch")
L = pytest.importorskip("lightning.pytorch")

from lightning.pytorch.callbacks import ModelCheckpoint  # noqa: E402
from lightning.pytorch.loggers import CSVLogger  # noqa: E402

from tracker.integrations.lightning import TrackerLogger  # noqa: E402

MODEL = '''
import torch
import lightning.pytorch as L


class Regression(L.LightningModule):
    """A linear model on generated data: real losses that fall, in milliseconds."""

    def __init__(self, lr=0.05, width=4, fail_at=None, samples=256):
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(width, 1)

    def forward(self, x):
        return self.layer(x)

    def training_step(self, batch, idx):
        if self.hparams.fail_at is not None and self.global_step == self.hparams.fail_at:
            raise RuntimeError("the loss function exploded on purpose")
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)
        self.log("train_loss", loss)
        self.log("rank_value", float(self.global_rank) + self.global_step / 1000)
        return loss

    def validation_step(self, batch, idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    def loader(self, seed):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(self.hparams.samples, self.hparams.width, generator=g)
        y = x @ torch.arange(1.0, self.hparams.width + 1).unsqueeze(1) + 0.1 * torch.randn(
            self.hparams.samples, 1, generator=g
        )
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)

    def train_dataloader(self):
        return self.loader(0)

    def val_dataloader(self):
        return self.loader(1)
'''

namespace: dict = {}
exec(compile(MODEL, "regression_model", "exec"), namespace)
Regression = namespace["Regression"]


def _trainer(tmp_path, loggers, **kwargs) -> "L.Trainer":
    options = dict(
        accelerator="cpu",
        devices=1,
        logger=loggers,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        log_every_n_steps=4,
    )
    options.update(kwargs)
    return L.Trainer(**options)


def test_it_logs_what_lightnings_csv_logger_writes_with_config_summary_and_best_checkpoints(sdk, tmp_path):
    csv_logger = CSVLogger(tmp_path / "csv", name="regression")
    ours = TrackerLogger(project="lightning", name="regression", tags=["lightning"])
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val_loss", save_top_k=2)
    model = Regression(lr=0.05)
    trainer = _trainer(tmp_path, [ours, csv_logger], max_epochs=4, callbacks=[checkpoints])
    trainer.fit(model)

    run = Run.objects.get(pk=ours.run.id)
    assert (run.project.name, run.name, run.tags, run.status) == (
        "lightning",
        "regression",
        ["lightning"],
        "finished",
    )
    assert run.config == {"lr": 0.05, "width": 4, "fail_at": None, "samples": 256}

    # Every value of Lightning's CSV file, at its step, and nothing else.
    with open(os.path.join(csv_logger.log_dir, "metrics.csv")) as handle:
        rows = list(csv.DictReader(handle))
    expected: dict[tuple[str, int, int], list[float]] = {}
    for row in rows:
        step = int(row.pop("step"))
        for key, value in row.items():
            if value != "":
                expected.setdefault((key, step, 0), []).append(float(value))
    stored = points_by_step(run.id)
    assert len(rows) > 16 and {k for k, _, _ in expected} == {"train_loss", "rank_value", "val_loss", "epoch"}
    # CSVLogger merges the rows of one step into one line: compare the values per key and step.
    assert {k: sorted(set(v)) for k, v in stored.items()} == {k: sorted(set(v)) for k, v in expected.items()}

    # The model summary, as the run page shows it.
    summary = Media.objects.get(run=run, kind="model_summary")
    assert summary.data["total_params"] == 5 and summary.data["model"] == "Regression"

    # Checkpoints: uploaded as saved, the server keeping the 2 best by val_loss and the latest.
    kept = list(Checkpoint.objects.filter(run=run).order_by("step"))
    best_two = sorted(float(v) for v in checkpoints.best_k_models.values())
    assert sorted(c.metrics["val_loss"] for c in kept if c.metrics)[:2] == pytest.approx(best_two, rel=1e-6)
    assert len(kept) <= 3 and kept[-1].step == trainer.global_step
    assert all(c.best_metric == "val_loss" for c in kept)
    state = tracker.load_checkpoint(run.id, which="best", weights_only=False)
    assert torch.equal(
        state["state_dict"]["layer.weight"],
        torch.load(checkpoints.best_model_path, weights_only=False)["state_dict"]["layer.weight"],
    )


def test_a_failing_training_step_marks_the_run_failed_with_its_traceback(sdk, tmp_path):
    ours = TrackerLogger(project="lightning")
    trainer = _trainer(tmp_path, ours, max_epochs=2, enable_checkpointing=False)
    with pytest.raises(RuntimeError, match="exploded on purpose"):
        trainer.fit(Regression(fail_at=5))
    run = Run.objects.get(pk=ours.run.id)
    assert run.status == "failed" and run.exit_code == 1
    assert "exploded on purpose" in run.error and "training_step" in run.error
    assert max(step for _, step, _ in points_by_step(run.id)) <= 5


class _PressStopAt(L.Callback):
    """Presses the admin's Stop action on the run once training reached ``step``."""

    def __init__(self, step, press):
        self.step, self.press, self.pressed_at = step, press, None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, idx):
        if self.pressed_at is None and trainer.global_step >= self.step:
            self.pressed_at = trainer.global_step
            self.press()


def test_pressing_stop_stops_the_trainer(sdk, tmp_path, client, owner):
    ours = TrackerLogger(project="lightning")
    presser = _PressStopAt(10, lambda: press_stop(client, owner, ours.run.id))
    max_steps = 20_000  # minutes of training, were it not stopped
    trainer = _trainer(
        tmp_path,
        ours,
        max_steps=max_steps,
        callbacks=[presser],
        enable_checkpointing=False,
        limit_val_batches=0,
    )
    trainer.fit(Regression(samples=4096))
    assert presser.pressed_at == 10
    assert trainer.should_stop and trainer.global_step < max_steps
    run = Run.objects.get(pk=ours.run.id)
    assert run.stop_requested and run.status == "finished"
    # What was trained up to the stop is stored.
    steps = [step for key, step, _ in points_by_step(run.id) if key == "train_loss"]
    assert max(steps) >= 8


DDP_SCRIPT = (
    MODEL
    + """

import json, os, sys
from tracker.integrations.lightning import TrackerLogger

if __name__ == "__main__":
    logger = TrackerLogger(project="ddp")
    trainer = L.Trainer(
        accelerator="cpu", devices=2, strategy="ddp", logger=logger, max_epochs=1,
        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
        log_every_n_steps=2, limit_val_batches=0,
    )
    trainer.fit(Regression(samples=128))
    with open(f"rank{trainer.global_rank}.json", "w") as out:
        json.dump({"run": logger.run.id, "steps": trainer.global_step}, out)
"""
)


@pytest.mark.timeout(600)  # two processes each import torch and Lightning: slow on a busy machine
def test_a_two_process_ddp_training_logs_both_ranks_to_one_run(sdk, tmp_path):
    # Lightning's own launcher (strategy="ddp", devices=2) starts the second rank: no torchrun.
    script = tmp_path / "train_ddp.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in (
        "RANK",
        "WORLD_SIZE",
        "LOCAL_RANK",
        "TORCHELASTIC_RUN_ID",
        "TRACKER_JOIN_KEY",
        "MASTER_PORT",
    ):
        env.pop(name, None)
    out = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=480
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    ranks = {r: json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)}
    assert ranks[0]["run"] == ranks[1]["run"], out.stderr[-3000:]

    run = Run.objects.get(project__name="ddp")
    assert (run.id, run.status, run.world_size) == (ranks[0]["run"], "finished", 2)
    stored = points_by_step(run.id)
    # 128 samples, 16 a batch, split over 2 ranks: 4 steps each, logged every 2nd.
    by_rank = {
        r: sorted(step for key, step, rank in stored if key == "rank_value" and rank == r) for r in (0, 1)
    }
    assert by_rank == {0: [1, 3], 1: [1, 3]}
    # Each rank's own value, not rank 0's copied: rank r logged r + step / 1000 (float32).
    for rank in (0, 1):
        values = {step: v for (key, step, r), v in stored.items() if key == "rank_value" and r == rank}
        assert values == {1: [pytest.approx(rank + 0.001)], 3: [pytest.approx(rank + 0.003)]}
    assert all(any(k == "train_loss" and r == rank for k, _, r in stored) for rank in (0, 1))
