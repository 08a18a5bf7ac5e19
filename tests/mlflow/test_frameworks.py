"""The stock MLflow integrations of Lightning and Hugging Face, unmodified, logging to
our server: tiny CPU models built from code or configs, nothing downloaded."""

import os

import pytest

import tracker
from experiments.models import Checkpoint, Run


def _lightning_trainer(tmp_path, logger, **extra):
    import lightning.pytorch as pl

    return pl.Trainer(
        default_root_dir=tmp_path,
        max_epochs=2,
        limit_train_batches=4,
        limit_val_batches=2,
        log_every_n_steps=1,
        logger=logger,
        accelerator="cpu",
        enable_progress_bar=False,
        enable_model_summary=False,
        **extra,
    )


def test_lightnings_mlflow_logger_logs_metrics_hyperparameters_checkpoints_and_status(mlflow_env, tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.demos.boring_classes import BoringModel
    from lightning.pytorch.loggers import MLFlowLogger

    class Model(BoringModel):
        def __init__(self, lr: float = 0.1, width: int = 32) -> None:
            super().__init__()
            self.save_hyperparameters()

        def training_step(self, batch, batch_idx):
            out = super().training_step(batch, batch_idx)
            self.log("train_loss", out["loss"])
            return out

        def validation_step(self, batch, batch_idx):
            out = super().validation_step(batch, batch_idx)
            self.log("val_loss", out["x"])
            return out

    logger = MLFlowLogger(
        tracking_uri=os.environ["MLFLOW_TRACKING_URI"],
        experiment_name="lightning",
        run_name="boring",
        log_model=True,
    )
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val_loss", save_top_k=1)
    _lightning_trainer(tmp_path, logger, callbacks=[checkpoints]).fit(Model(lr=0.05))

    run = tracker.Api().runs("lightning")[0]
    assert run.name == "boring" and run.status == "finished"
    assert run.config["lr"] == 0.05 and run.config["width"] == 32
    keys = {p["key"] for p in run.history()}
    assert {"train_loss", "val_loss", "epoch"} <= keys
    steps = [p["step"] for p in run.history("train_loss")]
    assert len(steps) == 8 and steps == sorted(steps)
    # The checkpoint Lightning uploaded is an artifact and one of the run's checkpoints.
    stored = Run.objects.get(pk=run.id)
    saved = Checkpoint.objects.get(run=stored)
    assert saved.filename.endswith(".ckpt") and saved.step == 8
    import mlflow

    folder = saved.filename.removesuffix(".ckpt")  # Lightning uploads <stem>/<stem>.ckpt + metadata
    files = {f.path for f in mlflow.MlflowClient().list_artifacts(logger.run_id, folder)}
    assert f"{folder}/{saved.filename}" in files and f"{folder}/metadata.yaml" in files

    # A training that raises ends its run failed.
    class Broken(Model):
        def training_step(self, batch, batch_idx):
            raise ValueError("loss is NaN")

    failing = MLFlowLogger(
        tracking_uri=os.environ["MLFLOW_TRACKING_URI"], experiment_name="lightning", run_name="broken"
    )
    with pytest.raises(ValueError, match="loss is NaN"):
        _lightning_trainer(tmp_path, failing).fit(Broken())
    assert Run.objects.get(pk=int(failing.run_id, 16)).status == "failed"
    assert mlflow.get_run(failing.run_id).info.status == "FAILED"


def test_hugging_face_trainer_reports_loss_learning_rate_and_eval_metrics(mlflow_env, tmp_path, monkeypatch):
    import numpy as np
    import torch
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "hf")
    monkeypatch.setenv("HF_MLFLOW_LOG_ARTIFACTS", "0")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=64,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
        num_labels=2,
    )
    model = BertForSequenceClassification(config)
    rng = np.random.default_rng(0)

    def examples(n: int) -> list[dict]:
        ids = rng.integers(1, 64, size=(n, 12))
        return [
            {
                "input_ids": torch.tensor(row),
                "attention_mask": torch.ones(12, dtype=torch.long),
                "labels": torch.tensor(int(row[0] % 2)),
            }
            for row in ids
        ]

    args = TrainingArguments(
        output_dir=str(tmp_path / "hf"),
        max_steps=6,
        per_device_train_batch_size=4,
        per_device_eval_batch_size=8,
        logging_steps=2,
        eval_strategy="steps",
        eval_steps=3,
        learning_rate=1e-3,
        save_strategy="no",
        report_to=["mlflow"],
        run_name="tiny-bert",
        use_cpu=True,
        disable_tqdm=True,
    )
    Trainer(model=model, args=args, train_dataset=examples(24), eval_dataset=examples(8)).train()

    run = tracker.Api().runs("hf")[0]
    assert run.name == "tiny-bert" and run.status == "finished"
    assert run.config["learning_rate"] == 0.001 and run.config["hidden_size"] == 16
    by_key: dict[str, list] = {}
    for point in run.history():
        by_key.setdefault(point["key"], []).append(point["step"])
    assert by_key["loss"] == [2, 4, 6]
    assert by_key["learning_rate"] == [2, 4, 6]
    assert by_key["eval_loss"] == [3, 6]
