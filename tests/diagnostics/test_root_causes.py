"""Root causes, loss spikes and throughput against real small PyTorch trainings built to
provoke them, logged with the real SDK to a real server (``test_training``'s server and
helpers), read back through the findings API the Health panel reads.

- several analyzers firing on one mistake: the API leads with the root cause, gives each
  consequence ``caused_by``, and the header counts the mistake once;
- a loss spike in a run with checkpoints names the checkpoint before it;
- tokens per second and MFU when the run states what they need, nothing when it does not.
"""

import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

import tracker  # noqa: E402
from experiments.models import Checkpoint  # noqa: E402
from tests.diagnostics import test_training as training  # noqa: E402
from tracker.transport import run_path  # noqa: E402

pytestmark = [pytest.mark.django_db(transaction=True)]

# test_training's server (one per module, no live passes), its one-thread guard, data
# and helpers: the fixtures are bound here so that pytest finds them in this module.
diagnostics_server = training.diagnostics_server
server = training.server
one_thread = training.one_thread
digits = training.digits
diagnose, only, run_of, mlp = training.diagnose, training.only, training.run_of, training.mlp


def health(run_id: int) -> dict:
    """``GET /runs/{id}/findings`` over HTTP, as the Health panel reads it."""
    return tracker.Api()._get(run_path(run_id, "findings"))


def kinds_in_order(body: dict) -> list[tuple[str, str | None]]:
    return [(f["kind"], f["caused_by"]["kind"] if f["caused_by"] else None) for f in body["findings"]]


def test_dead_relus_from_a_negative_bias_lead_and_explain_the_vanishing_gradients(sdk, digits):
    x, y = digits
    torch.manual_seed(0)
    model = mlp(64, 128, 128, 10)
    with torch.no_grad():
        model[0].bias.fill_(-20.0)  # every pre-activation of the first ReLU below zero
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(y), generator=generator)
    train, val = order[:1400], order[1400:]
    with run_of("negative-bias", {"lr": 1e-3}) as run:
        tracker.watch(model, optimizer, log="all", log_freq=5)
        for step in range(150):
            batch = train[torch.randint(0, len(train), (64,), generator=generator)]
            loss = F.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            tracker.log({"train/loss": loss.item()}, step=step)
            if step % 50 == 49:
                with torch.no_grad():
                    logits = model(x[val])
                tracker.log({"val/loss": F.cross_entropy(logits, y[val]).item()}, step=step)
                tracker.log_confusion_matrix(y[val], logits.argmax(1), step=step, split="val")

    found = diagnose(run.id)
    dead = only(found, "dead_relu")
    assert dead.subject == "1" and dead.severity == "critical"
    assert dead.evidence["zero_fraction_pct"] == 100
    assert dead.evidence["initial_zero_fraction_pct"] == 100
    assert dead.remedies[0].startswith("The layer was dead from its first step: initialise with")
    assert "vanishing_gradients" in found and "collapsed_class" in found, sorted(found)

    body = health(run.id)
    findings = body["findings"]
    lead = findings[0]
    assert lead["kind"] == "dead_relu" and lead["caused_by"] is None
    explained = {f["kind"]: f for f in findings if f["caused_by"]}
    assert explained["vanishing_gradients"]["caused_by"]["id"] == lead["id"]
    assert explained["vanishing_gradients"]["caused_by"]["kind"] == "dead_relu"
    assert explained["vanishing_gradients"]["caused_by"]["root"] == lead["id"]
    assert explained["collapsed_class"]["caused_by"]["kind"] == "dead_relu"
    # Each consequence comes right after its root, before anything it does not explain.
    roots = [f for f in findings if f["caused_by"] is None]
    assert findings[: len(explained) + 1] == [lead, *[f for f in findings if f["caused_by"]]]
    # One mistake counted once, at the worst severity of its group; the rest count alone.
    assert body["folded"] == len(explained)
    assert body["total"] == len(roots) == len(findings) - len(explained)
    assert body["counts"]["critical"] == sum(
        1 for f in roots if f["severity"] == "critical" or f["id"] == lead["id"]
    )
    # "What to try next" is the cause's remedy, not its consequences'.
    assert body["next"][0]["finding"] == lead["id"]
    assert {item["finding"] for item in body["next"]}.isdisjoint(f["id"] for f in explained.values())


def test_a_learning_rate_far_too_high_leads_and_explains_the_explosion_and_the_gradients(sdk, digits):
    """Linear regression at 2–3× the largest stable step: the loss grows geometrically to
    1e22 without reaching NaN, the gradients with it. Three analyzers fire; the learning
    rate explains the other two."""
    x, y = digits
    torch.manual_seed(0)
    model = nn.Linear(64, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.12)
    generator = torch.Generator().manual_seed(0)
    losses = []
    with run_of("regression-lr-0.12", {"lr": 0.12}) as run:
        tracker.watch(model, optimizer, log="gradients", log_freq=1)
        for step in range(45):
            batch = torch.randint(0, len(y), (64,), generator=generator)
            loss = F.mse_loss(model(x[batch]).squeeze(1), y[batch].float())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            tracker.log({"train/loss": loss.item()}, step=step)
            losses.append(loss.item())

    assert all(np.isfinite(losses)) and losses[-1] > 1e15  # exploded, never NaN
    found = diagnose(run.id)
    high = only(found, "lr_too_high")
    assert high.evidence["learning_rate"] == 0.12
    assert {"divergence", "exploding_gradients"} <= set(found), sorted(found)

    body = health(run.id)
    lead = body["findings"][0]
    assert lead["kind"] == "lr_too_high" and lead["caused_by"] is None
    group = {f["kind"]: f for f in body["findings"][1:3]}
    assert set(group) == {"divergence", "exploding_gradients"}
    for finding in group.values():
        assert finding["caused_by"]["id"] == finding["caused_by"]["root"] == lead["id"]
        assert "blow up" in finding["caused_by"]["why"]
    assert group["divergence"]["severity"] == "critical" and lead["severity"] == "warning"
    # One critical problem (the group at its worst), not a warning and two criticals.
    roots = [f for f in body["findings"] if f["caused_by"] is None]
    assert body["counts"]["critical"] == 1 + sum(f["severity"] == "critical" for f in roots[1:])
    assert body["counts"]["warning"] == sum(f["severity"] == "warning" for f in roots[1:])
    assert body["total"] == len(roots)
    assert body["next"][0]["finding"] == lead["id"]
    assert body["next"][0]["action"].startswith("Lower the learning rate 3–10× (from 0.12 to")
    assert {item["finding"] for item in body["next"]}.isdisjoint(f["id"] for f in group.values())


def test_divergence_still_leads_its_exploding_gradients_at_learning_rate_10(sdk, digits):
    """The existing provoked divergence (test_training): the panel leads with the NaN."""
    x, y = digits
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=10.0)
    generator = torch.Generator().manual_seed(0)
    with run_of("lr-10-root", {"lr": 10.0}) as run:
        tracker.watch(model, optimizer, log="gradients", log_freq=1)
        for step in range(30):
            batch = torch.randint(0, len(y), (64,), generator=generator)
            loss = F.mse_loss(model(x[batch]).squeeze(1), y[batch].float())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            tracker.log({"train/loss": loss.item()}, step=step)

    found = diagnose(run.id)
    assert {"divergence", "exploding_gradients"} <= set(found)
    body = health(run.id)
    # tanh saturated by the exploding weights from step 2: its vanishing gradients come
    # after the blow-up began (step 0), so the divergence explains them too.
    assert kinds_in_order(body) == [
        ("divergence", None),
        ("exploding_gradients", "divergence"),
        ("vanishing_gradients", "divergence"),
        ("no_validation", None),
    ]
    vanishing = body["findings"][2]
    assert vanishing["step_start"] == 2 and body["findings"][0]["step_start"] == 0
    assert body["folded"] == 2 and body["total"] == 2
    assert body["counts"] == {"critical": 1, "warning": 0, "info": 1}  # three criticals, one problem


def train_with_checkpoints(x, y, spike_at: int | None, steps: int = 300, every: int = 50):
    """Adam on digits, a checkpoint every ``every`` steps; at ``spike_at`` one batch of
    unscaled pixels (×50) goes through the optimizer, as a bad shard would."""
    torch.manual_seed(0)
    model = mlp(64, 64, 10)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for step in range(steps):
        batch = torch.randint(0, len(y), (64,), generator=generator)
        inputs = x[batch] * (50.0 if step == spike_at else 1.0)
        loss = F.cross_entropy(model(inputs), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        tracker.log({"train/loss": loss.item()}, step=step)
        losses.append(loss.item())
        if step % every == every - 1:
            tracker.save_checkpoint(model, step=step)
    return losses


def test_a_loss_spike_in_a_run_with_checkpoints_names_the_checkpoint_before_it(sdk, digits):
    x, y = digits
    with run_of("spike-at-220") as run:
        losses = train_with_checkpoints(x, y, spike_at=220)

    found = diagnose(run.id)
    assert "divergence" not in found  # it came back down
    spike = only(found, "loss_spike")
    stored = Checkpoint.objects.get(run_id=run.id, step=199)
    assert stored.filename == "checkpoint-step199.pt"
    assert spike.evidence["spike_step"] == 220
    assert spike.evidence["spike_value"] == pytest.approx(losses[220], rel=1e-3)
    assert spike.evidence["resume_checkpoint_step"] == 199
    assert spike.evidence["resume_checkpoint"] == "checkpoint-step199.pt"
    level = np.median(losses[200:220])
    assert spike.evidence["level_before"] == pytest.approx(level, rel=1e-3)
    assert spike.evidence["factor_over_level"] > 3
    assert spike.step_start == 220 and 220 < spike.step_end < 271
    assert "checkpoint-step199.pt, saved at step 199" in spike.summary
    assert spike.remedies[0].startswith(
        f"Resume from checkpoint checkpoint-step199.pt (step 199): tracker.load_checkpoint({run.id}, "
        "which=199), and skip the batches of steps 200–220."
    )
    assert {"step": 199, "label": "checkpoint checkpoint-step199.pt"} in spike.marks


def test_the_same_training_without_a_spike_or_without_checkpoints_gets_no_spike_finding(sdk, digits):
    x, y = digits
    with run_of("checkpoints-no-spike") as calm:
        train_with_checkpoints(x, y, spike_at=None)
    with run_of("spike-no-checkpoints") as bare:
        train_with_checkpoints(x, y, spike_at=220, every=10**9)

    assert "loss_spike" not in diagnose(calm.id)
    assert "loss_spike" not in diagnose(bare.id)


def test_a_divergence_names_the_checkpoint_before_the_blow_up(sdk, digits):
    x, y = digits
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    losses = []
    with run_of("lr-raised-to-10") as run:
        for step in range(60):
            if step == 40:
                for group in optimizer.param_groups:
                    group["lr"] = 10.0  # a schedule gone wrong
            batch = torch.randint(0, len(y), (64,), generator=generator)
            loss = F.mse_loss(model(x[batch]).squeeze(1), y[batch].float())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            tracker.log({"train/loss": loss.item()}, step=step)
            losses.append(loss.item())
            if step % 10 == 9:
                tracker.save_checkpoint(model, step=step)

    found = diagnose(run.id)
    divergence = only(found, "divergence")
    start = divergence.step_start  # where the blow-up began: the last low before it
    first_bad = next(i for i, v in enumerate(losses) if not np.isfinite(v))
    assert 30 <= start < first_bad
    expected = max(s for s in (9, 19, 29, 39, 49, 59) if s <= start)
    assert divergence.evidence["resume_checkpoint_step"] == expected
    assert divergence.evidence["resume_checkpoint"] == f"checkpoint-step{expected}.pt"
    assert f"Resume from checkpoint checkpoint-step{expected}.pt, saved at step {expected}" in (
        divergence.summary
    )
    assert divergence.remedies[1].startswith(f"Resume from checkpoint checkpoint-step{expected}.pt")


class TinyLM(nn.Module):
    """An embedding, one MLP block and a tied read-out: a language model in miniature."""

    def __init__(self, vocab: int = 256, width: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.block = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.embed(tokens)
        h = h + self.block(h)
        return h @ self.embed.weight.T


def train_tiny_lm(config: dict, steps: int = 40, batch: int = 8, length: int = 64) -> tuple[int, float]:
    """Next-byte prediction on a repeated text, logging ``perf/tokens`` each step.
    Returns (parameters, measured seconds per step over the second half)."""
    torch.manual_seed(0)
    text = torch.tensor(list(b"the quick brown fox jumps over the lazy dog. " * 40))
    model = TinyLM()
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    stamps = []
    for step in range(steps):
        starts = torch.randint(0, len(text) - length - 1, (batch,), generator=generator)
        window = torch.stack([text[s : s + length + 1] for s in starts.tolist()])
        logits = model(window[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), window[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        time.sleep(0.01)  # a steadier pace on a busy machine
        tracker.log({"train/loss": loss.item(), "perf/tokens": batch * length}, step=step)
        stamps.append(time.time())
    return params, float(np.median(np.diff(stamps[steps // 2 :])))


def test_tokens_per_second_and_mfu_from_the_tokens_and_parameters_the_training_logs(sdk):
    with run_of("tiny-lm", {"peak_flops": 1e12}) as run:
        params, seconds = train_tiny_lm({})
        run.summary["params"] = params

    found = diagnose(run.id)
    finding = only(found, "throughput")
    tokens = 8 * 64
    assert finding.severity == "info"
    assert finding.evidence["tokens_per_step"] == tokens
    assert finding.evidence["tokens_from"] == "perf/tokens"
    assert finding.evidence["pace_from"] == "the wall times of train/loss"
    assert finding.evidence["steps_per_s"] == pytest.approx(1 / seconds, rel=0.25)
    assert finding.evidence["tokens_per_s"] == pytest.approx(tokens / seconds, rel=0.25)
    expected_mfu = 6 * params * tokens * finding.evidence["steps_per_s"] / 1e12
    assert finding.evidence["flops_per_token"] == pytest.approx(6 * params, rel=1e-3)
    assert finding.evidence["mfu_pct"] == pytest.approx(100 * expected_mfu, rel=1e-2)
    assert finding.evidence["peak_tflops"] == 1 and finding.evidence["peak_from"] == "peak_flops"
    assert finding.title.startswith(f"Throughput: {finding.evidence['tokens_per_s']:.4g} tokens/s, MFU")


def test_no_throughput_finding_without_a_known_peak_or_a_flops_count(sdk):
    with run_of("tiny-lm-no-peak") as no_peak:  # a CPU: no GPU model, no peak_flops
        params, _ = train_tiny_lm({}, steps=15)
        no_peak.summary["params"] = params
    with run_of("tiny-lm-no-params", {"peak_flops": 1e12}) as no_flops:
        train_tiny_lm({}, steps=15)

    assert "throughput" not in diagnose(no_peak.id)
    assert "throughput" not in diagnose(no_flops.id)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_healthy_trainings_that_save_checkpoints_get_no_finding(sdk, digits, seed):
    """test_training's healthy run, per seed, saving a checkpoint every epoch: the new
    analyzers (spikes, throughput) and the folding add nothing to a run that is fine."""
    x, y = digits
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(y), generator=generator)
    train, val = order[:1400], order[1400:]
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=3e-3)
    with run_of(f"healthy-checkpoints-{seed}", {"lr": 1e-2, "batch_size": 32}) as run:
        tracker.watch(model, optimizer, log="all", log_freq=10)
        step = 0
        for _epoch in range(12):
            model.train()
            shuffled = train[torch.randperm(len(train), generator=generator)]
            for start in range(0, len(shuffled), 32):
                batch = shuffled[start : start + 32]
                loss = F.cross_entropy(model(x[batch]), y[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                tracker.log({"train/loss": loss.item()}, step=step)
                step += 1
            model.eval()
            with torch.no_grad():
                train_logits, val_logits = model(x[train]), model(x[val])
            tracker.log(
                {
                    "train/epoch_loss": F.cross_entropy(train_logits, y[train]).item(),
                    "train/acc": (train_logits.argmax(1) == y[train]).float().mean().item(),
                    "val/loss": F.cross_entropy(val_logits, y[val]).item(),
                    "val/acc": (val_logits.argmax(1) == y[val]).float().mean().item(),
                },
                step=step - 1,
            )
            tracker.log_confusion_matrix(y[val], val_logits.argmax(1), step=step - 1, split="val")
            tracker.save_checkpoint(model, step=step - 1)

    found = diagnose(run.id)
    assert found == {}, {k: [f.title for f in v] for k, v in found.items()}
    assert Checkpoint.objects.filter(run_id=run.id).count() == 12
    assert health(run.id)["findings"] == []
