"""``TrackerCallback`` in a real Hugging Face ``Trainer`` on CPU against a live server: a
tiny BERT built from a config (nothing downloaded) on generated tokens; what it logs
equals ``trainer.state.log_history``; the server's stop flag ends the training."""

import pytest

import tracker
from experiments.models import Checkpoint, Media, Run
from tests.integrations.support import points_by_step

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from transformers import Trainer  # noqa: E402

from tests.integrations.hf_training import tiny_bert, tokens, training_args  # noqa: E402
from tracker.integrations.huggingface import TrackerCallback  # noqa: E402


def _args(tmp_path, **kwargs):
    return training_args(str(tmp_path / "out"), **kwargs)


def test_logged_loss_and_learning_rate_equal_the_trainers_log_history(sdk, tmp_path):
    callback = TrackerCallback(project="hf", name="tiny-bert")
    trainer = Trainer(
        model=tiny_bert(),
        args=_args(tmp_path),
        train_dataset=tokens(96, 0),
        eval_dataset=tokens(32, 1),
        callbacks=[callback],
    )
    trainer.train()

    run = Run.objects.get(pk=callback.run.id)
    assert (run.project.name, run.name, run.status) == ("hf", "tiny-bert", "finished")
    assert run.config["model"]["hidden_size"] == 16 and run.config["trainer"]["learning_rate"] == 5e-3

    stored = points_by_step(run.id)
    history = trainer.state.log_history
    curves = [e for e in history if "loss" in e and "train_runtime" not in e]
    evals = [e for e in history if "eval_loss" in e]
    assert len(curves) == 6 and len(evals) == 3
    # Every value of every log_history entry, at its step, under train/ or eval/; nothing else.
    expected: dict = {}
    results = {
        "train_runtime",
        "train_samples_per_second",
        "train_steps_per_second",
        "total_flos",
        "train_loss",
    }
    for entry in history:
        for key, value in entry.items():
            if key != "step" and key not in results:  # end-of-training figures go to the summary
                name = f"eval/{key[5:]}" if key.startswith("eval_") else f"train/{key}"
                expected.setdefault((name, entry["step"], 0), []).append(value)
    assert {k: v for k, v in stored.items() if not k[0].startswith("grad/")} == expected
    for entry in curves:
        step = entry["step"]
        # Per-layer gradient norms, measured after clipping (max_grad_norm=1): the global one
        # is the trainer's pre-clipping norm, capped at 1.
        assert stored[("grad/global_norm", step, 0)][0] == pytest.approx(
            min(entry["grad_norm"], 1.0), rel=1e-4
        )
        assert ("grad/bert.encoder.layer.0.attention.self.query/norm", step, 0) in stored
    # The learning rate warmed up, then decayed: the curve is the scheduler's.
    rates = [stored[("train/learning_rate", e["step"], 0)][0] for e in curves]
    assert rates.index(max(rates)) in (0, 1) and rates[-1] < max(rates)
    # The end-of-training figures are results, in the summary.
    final = history[-1]
    assert run.summary["train/loss"] == final["train_loss"] and run.summary["train/global_step"] == 12

    assert Media.objects.get(run=run, kind="model_summary").data["model"] == "BertForSequenceClassification"
    # Saved at steps 4, 8 and 12 with eval/loss; the server keeps the 2 best and the latest.
    saved = {c.step: c.metrics for c in Checkpoint.objects.filter(run=run)}
    by_step = {e["step"]: e["eval_loss"] for e in evals}
    best_two = sorted(by_step, key=by_step.get)[:2]
    assert set(saved) == {*best_two, 12}
    assert all(saved[s] == {"eval/loss": by_step[s]} for s in saved)
    state = tracker.load_checkpoint(run.id, which="latest")
    assert torch.equal(state["classifier.weight"], trainer.model.classifier.weight.detach())


def test_the_servers_stop_flag_sets_should_training_stop(sdk, tmp_path):
    """What a sweep's pruner does (it sets the run's ``stop_requested``, as the Stop button
    does) reaches the trainer as ``control.should_training_stop`` through the real server."""

    class RequestStopAt(transformers.TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 5:
                Run.objects.filter(pk=callback.run.id).update(stop_requested=True)

    callback = TrackerCallback(project="hf")
    max_steps = 5000
    trainer = Trainer(
        model=tiny_bert(),
        args=_args(
            tmp_path, max_steps=max_steps, eval_strategy="no", save_strategy="no", metric_for_best_model=None
        ),
        train_dataset=tokens(64, 0),
        callbacks=[RequestStopAt(), callback],
    )
    trainer.train()
    assert 5 < trainer.state.global_step < max_steps
    run = Run.objects.get(pk=callback.run.id)
    assert (run.status, run.stop_requested) == ("finished", True)
    assert (
        max(step for key, step, _ in points_by_step(run.id) if key == "train/loss")
        <= trainer.state.global_step
    )
