"""A tiny Hugging Face training, shared by the tests and the sweep trials they start
(``tests.integrations.hf_training:train``). No Django here: a trial process imports it.

A BERT built from a config (nothing downloaded) classifies random token sequences by
whether token 7 occurs: a real, learnable task that trains in seconds on a CPU.
"""

from __future__ import annotations

import time
from typing import Any


def tokens(n: int, seed: int) -> Any:
    import torch

    class Tokens(torch.utils.data.Dataset):
        def __init__(self) -> None:
            g = torch.Generator().manual_seed(seed)
            self.ids = torch.randint(1, 30, (n, 12), generator=g)
            self.labels = (self.ids == 7).any(dim=1).long()

        def __len__(self) -> int:
            return len(self.ids)

        def __getitem__(self, i: int) -> dict:
            mask = torch.ones(12, dtype=torch.long)
            return {"input_ids": self.ids[i], "attention_mask": mask, "labels": self.labels[i]}

    return Tokens()


def tiny_bert() -> Any:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=32,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
        num_labels=2,
    )
    return BertForSequenceClassification(config)


def training_args(output_dir: str, **kwargs: Any) -> Any:
    from transformers import TrainingArguments

    options: dict[str, Any] = dict(
        output_dir=output_dir,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=16,
        learning_rate=5e-3,
        warmup_steps=3,
        logging_steps=2,
        eval_strategy="steps",
        eval_steps=4,
        save_strategy="steps",
        save_steps=4,
        save_total_limit=2,
        metric_for_best_model="loss",
        max_steps=12,
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    options.update(kwargs)
    return TrainingArguments(**options)


def train(config: dict, run: Any) -> None:
    """A sweep trial: the Trainer with ``TrackerCallback`` (which logs ``eval/loss``, the
    sweep's objective, to the trial's run), ``delay`` s per step so a pruner's answer
    arrives while it trains. Returns nothing: the objective is the logged metric."""
    import tempfile

    import torch

    torch.set_num_threads(1)  # a tiny model: threads only contend for the CPU

    from transformers import Trainer, TrainerCallback

    from tracker.integrations.huggingface import TrackerCallback

    class Pace(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            time.sleep(float(config.get("delay", 0.0)))

    with tempfile.TemporaryDirectory() as out:
        args = training_args(
            out, learning_rate=float(config["lr"]), max_steps=int(config["steps"]), save_strategy="no"
        )
        trainer = Trainer(
            model=tiny_bert(),
            args=args,
            train_dataset=tokens(96, 0),
            eval_dataset=tokens(32, 1),
            callbacks=[Pace(), TrackerCallback()],
        )
        trainer.train()
        run.summary["trained_steps"] = trainer.state.global_step
