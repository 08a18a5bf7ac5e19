"""Every analyzer against a real small PyTorch training built to provoke it, logged with
the real SDK (hooks, media, system metrics) to a real server; and a healthy training on
which none fires. Each training takes a second or two on one CPU core.

The server's own live passes are off here (TRACKER_DIAGNOSE_INTERVAL=0), so each test
runs the pass itself, after ``tracker.finish()`` has stored everything, and reads what
it stored. ``tests/test_diagnostics_live.py`` covers the live and Celery paths.
"""

import contextlib
import itertools
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from sklearn.datasets import load_digits, make_moons  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

import tracker  # noqa: E402
from experiments.diagnostics.models import Finding as FindingRow  # noqa: E402
from experiments.diagnostics.runner import run_diagnose  # noqa: E402
from tests.processes import ServerProcess, process_env  # noqa: E402

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def diagnostics_server(django_db_setup, django_db_blocker, tmp_path_factory):
    """One server for the module (a start costs ~3 s), without live passes."""
    with django_db_blocker.unblock():
        env = {**process_env(), "TRACKER_DIAGNOSE_INTERVAL": "0"}
    proc = ServerProcess(env, log_path=tmp_path_factory.mktemp("diagnostics") / "server.log")
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def server(diagnostics_server, transactional_db):
    """conftest's ``sdk`` fixture points the SDK at this module's server."""
    return diagnostics_server


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """One intra-op thread: on a busy shared machine OpenMP's spinning threads make these
    tiny trainings ten times slower, and results are reproducible."""
    monkeypatch.setenv("TRACKER_SYSTEM_INTERVAL", "0")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    return torch.tensor(data.data / 16.0, dtype=torch.float32), torch.tensor(data.target)


def mlp(*widths: int, act=nn.ReLU) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(widths):
        layers += [nn.Linear(a, b), act()]
    return nn.Sequential(*layers[:-1])


def diagnose(run_id: int):
    """One pass; returns {kind: [finding, ...]} of what it found."""
    result = run_diagnose(run_id=run_id)
    assert result is not None
    assert result.errors == {}
    found: dict[str, list] = {}
    for f in result.all:
        found.setdefault(f.kind, []).append(f)
    return found


def only(found: dict, kind: str):
    assert kind in found, f"no {kind} finding; found {sorted(found)}"
    assert len(found[kind]) == 1
    return found[kind][0]


@contextlib.contextmanager
def run_of(name: str, config: dict | None = None):
    run = tracker.init(project="diagnostics", name=name, config=config or {})
    try:
        yield run
    finally:
        result = tracker.finish(timeout=30)
        assert result.sent, result


def test_overfitting_of_a_wide_mlp_on_100_digits_says_where_to_stop(sdk, digits):
    x, y = digits
    torch.manual_seed(0)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    train, val = order[:100], order[100:600]
    model = mlp(64, 256, 256, 10)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    logged = []
    with run_of("overfit", {"lr": 1e-3, "width": 256, "train_examples": 100}) as run:
        for step in range(150):
            loss = F.cross_entropy(model(x[train]), y[train])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            tracker.log({"train/loss": loss.item()}, step=step)
            if step % 10 == 9:
                with torch.no_grad():
                    val_loss = F.cross_entropy(model(x[val]), y[val]).item()
                tracker.log({"val/loss": val_loss, "train/epoch_loss": loss.item()}, step=step)
                logged.append((step, val_loss, loss.item()))

    found = diagnose(run.id)
    finding = only(found, "overfitting")
    steps, val_losses, _ = map(np.array, zip(*logged, strict=True))
    best = int(np.argmin(val_losses))
    # val/loss rose ~14% from its best but gave back only ~4% of its fall from 2.1, with the
    # accuracy flat (0.886 -> 0.878): a note, sized to its effect, that still says where to stop.
    assert finding.severity == "info"
    assert finding.evidence["given_back_pct"] < 5
    assert (finding.step_start, finding.step_end) == (steps[best], steps[-1])
    assert finding.evidence["best_step"] == steps[best]
    assert finding.evidence["best_value"] == pytest.approx(val_losses[best], rel=1e-3)
    assert finding.evidence["evaluations_since_best"] == len(steps) - 1 - best
    rise = (np.median(val_losses[-3:]) - val_losses[best]) / val_losses[best]
    assert rise > 0.1
    assert finding.evidence["rise_pct"] == pytest.approx(100 * rise, rel=1e-2)
    assert finding.evidence["train_recent"] < finding.evidence["train_at_best"]  # training still improves
    assert finding.remedies[0].startswith(f"Early stopping at step {steps[best]}")
    assert "saved no checkpoint" in finding.remedies[0]  # none was: no checkpoint step named
    assert any("weight decay" in r.lower() for r in finding.remedies)
    assert finding.marks == [{"step": steps[best], "label": "early stop here"}]
    assert "divergence" not in found and "underfitting" not in found

    # Stored, and read back through the API as the SDK user would.
    rows = tracker.Api().run(run.id).findings()
    stored = next(f for f in rows if f["kind"] == "overfitting")
    assert stored["step_start"] == steps[best] and stored["remedies"] == finding.remedies
    assert stored["evidence"]["best_step"] == steps[best]


def test_underfitting_of_a_linear_model_on_moons(sdk):
    xs, ys = make_moons(n_samples=600, noise=0.2, random_state=0)
    xs, ys = torch.tensor(xs, dtype=torch.float32), torch.tensor(ys)
    torch.manual_seed(0)
    model = nn.Linear(2, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    with run_of("linear-moons", {"lr": 0.05, "model": "linear"}) as run:
        for step in range(200):
            loss = F.cross_entropy(model(xs[:400]), ys[:400])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            tracker.log({"train/loss": loss.item()}, step=step)
            if step % 20 == 19:
                with torch.no_grad():
                    val_loss = F.cross_entropy(model(xs[400:]), ys[400:]).item()
                    train_acc = (model(xs[:400]).argmax(1) == ys[:400]).float().mean().item()
                    val_acc = (model(xs[400:]).argmax(1) == ys[400:]).float().mean().item()
                tracker.log({"val/loss": val_loss, "train/acc": train_acc, "val/acc": val_acc}, step=step)

    found = diagnose(run.id)
    finding = only(found, "underfitting")
    assert finding.severity == "warning"
    assert finding.evidence["train_acc"] < 0.9
    assert abs(finding.evidence["train_acc"] - finding.evidence["val_acc"]) < 0.05
    assert 0 < finding.step_start < 100  # flat long before the end
    assert finding.step_end == 199
    assert finding.remedies[0].startswith("Use a bigger model")
    assert set(found) == {"underfitting"}


def test_divergence_at_learning_rate_10_names_the_first_nan(sdk, digits):
    x, y = digits
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=10.0)
    losses = []
    generator = torch.Generator().manual_seed(0)
    with run_of("lr-10", {"lr": 10.0}) as run:
        tracker.watch(model, optimizer, log="gradients", log_freq=1)
        for step in range(30):
            batch = torch.randint(0, len(y), (64,), generator=generator)
            loss = F.mse_loss(model(x[batch]).squeeze(1), y[batch].float())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            tracker.log({"train/loss": loss.item()}, step=step)
            losses.append(loss.item())

    found = diagnose(run.id)
    finding = only(found, "divergence")
    first_bad = next(i for i, v in enumerate(losses) if not math.isfinite(v))
    start = int(np.argmin(losses[:first_bad]))
    assert finding.severity == "critical"
    assert finding.evidence["first_nonfinite_step"] == first_bad
    assert finding.evidence["first_nonfinite_value"] == ("inf" if math.isinf(losses[first_bad]) else "NaN")
    assert finding.evidence["nonfinite_points"] == sum(not math.isfinite(v) for v in losses)
    assert (finding.step_start, finding.step_end) == (start, 29)
    assert finding.evidence["growth_before_nonfinite"] > 1e6
    assert "grad/global_norm" in finding.evidence["also_nonfinite"]
    assert finding.remedies[0].startswith("Lower the learning rate: lr/group0 was 10; try 1 (10× lower)")
    assert "clip_grad_norm_" in finding.remedies[1]
    assert "exploding_gradients" in found  # the norms went with it


def test_learning_rate_too_high_oscillates_without_a_trend(sdk, digits):
    x, y = digits
    torch.manual_seed(0)
    model = nn.Linear(64, 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=5.0, momentum=0.99)
    generator = torch.Generator().manual_seed(0)
    losses = []
    with run_of("lr-5-momentum-0.99", {"lr": 5.0, "momentum": 0.99}) as run:
        tracker.watch(model, optimizer, log=None)  # learning rates only
        for step in range(200):
            batch = torch.randint(0, len(y), (64,), generator=generator)
            loss = F.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            tracker.log({"train/loss": loss.item()}, step=step)
            losses.append(loss.item())

    found = diagnose(run.id)
    finding = only(found, "lr_too_high")
    assert finding.evidence["learning_rate"] == 5.0  # from lr/group0, logged by watch
    assert finding.evidence["improvement_pct"] < 30
    assert finding.evidence["swing_pct"] >= 25
    assert finding.evidence["initial_loss"] == pytest.approx(np.median(losses[:3]), rel=1e-3)
    assert finding.step_end == 199
    assert finding.remedies[0] == "Lower the learning rate 3–10× (from 5 to 0.5–1.667)."
    assert "lr/group0" in finding.keys
    assert "lr_too_low" not in found and "divergence" not in found


def test_learning_rate_too_low_hardly_moves_the_weights(sdk, digits):
    x, y = digits
    torch.manual_seed(0)
    model = mlp(64, 64, 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    with run_of("lr-1e-4", {"lr": 1e-4}) as run:
        tracker.watch(model, optimizer, log="parameters", log_freq=10)
        for step in range(200):
            batch = torch.randint(0, len(y), (64,), generator=generator)
            loss = F.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            tracker.log({"train/loss": loss.item()}, step=step)

    found = diagnose(run.id)
    finding = only(found, "lr_too_low")
    assert finding.evidence["learning_rate"] == 1e-4
    assert finding.evidence["improvement_pct"] < 5
    assert finding.evidence["update_ratio"] < 1e-4  # the weights hardly change per step
    assert (finding.step_start, finding.step_end) == (0, 199)
    assert finding.remedies[0].startswith("Raise the learning rate 10× (from 0.0001 to 0.001)")
    assert "underfitting" not in found and "lr_too_high" not in found


def test_exploding_gradients_from_corrupted_batches_point_at_those_steps(sdk, digits):
    x, y = digits
    torch.manual_seed(0)
    model = mlp(64, 64, 10)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    corrupted = [39, 79, 119, 159]
    with run_of("corrupted-batches") as run:
        tracker.watch(model, optimizer, log="gradients", log_freq=1)
        for step in range(170):
            batch = torch.randint(0, len(y), (64,), generator=generator)
            inputs = x[batch] * (50.0 if step in corrupted else 1.0)  # unscaled pixels slip in
            loss = F.cross_entropy(model(inputs), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            tracker.log({"train/loss": loss.item()}, step=step)

    found = diagnose(run.id)
    finding = only(found, "exploding_gradients")
    assert finding.evidence["spike_steps"] == corrupted
    assert (finding.step_start, finding.step_end) == (39, 169)
    assert finding.evidence["max_over_typical"] > 10
    assert finding.evidence["max_norm_step"] in corrupted
    assert [m["step"] for m in finding.marks] == corrupted
    assert "clip_grad_norm_" in finding.remedies[0]
    assert "39, 79, 119, 159" in finding.remedies[2]
    assert "divergence" not in found  # the loss recovers after each spike


def test_vanishing_gradients_in_a_20_layer_sigmoid_mlp(sdk, digits):
    x, y = digits
    torch.manual_seed(0)
    model = mlp(64, *[32] * 19, 10, act=nn.Sigmoid)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    generator = torch.Generator().manual_seed(0)
    with run_of("sigmoid-20") as run:
        tracker.watch(model, optimizer, log="gradients", log_freq=1)
        for step in range(30):
            batch = torch.randint(0, len(y), (64,), generator=generator)
            loss = F.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            tracker.log({"train/loss": loss.item()}, step=step)

    found = diagnose(run.id)
    finding = only(found, "vanishing_gradients")
    history = {key: [p["value"] for p in tracker.Api().run(run.id).history(key)] for key in ("grad/0/norm",)}
    first = np.median(history["grad/0/norm"][15:])
    assert finding.evidence["layers"] == 20
    assert (finding.evidence["first_layer"], finding.evidence["last_layer"]) == ("0", "38")  # model order
    assert finding.evidence["first_layer_norm"] == pytest.approx(first, rel=1e-3)
    assert finding.evidence["orders_of_magnitude"] > 6
    assert finding.severity == "critical"
    assert (finding.step_start, finding.step_end) == (0, 29)
    assert finding.keys == ["grad/0/norm", "grad/38/norm"]
    assert "ReLU" in finding.remedies[0]


def test_dead_relus_after_a_too_large_adam_step(sdk, digits):
    x, y = digits
    torch.manual_seed(0)
    model = mlp(64, 128, 128, 10)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    generator = torch.Generator().manual_seed(0)
    with run_of("adam-0.05", {"lr": 0.05}) as run:
        tracker.watch(model, optimizer, log="all", log_freq=5)
        for step in range(150):
            batch = torch.randint(0, len(y), (64,), generator=generator)
            loss = F.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            tracker.log({"train/loss": loss.item()}, step=step)

    found = diagnose(run.id)
    dead = {f.subject: f for f in found.get("dead_relu", [])}
    assert set(dead) == {"1"}  # the first ReLU; the second keeps ~16% alive
    finding = dead["1"]
    zero = tracker.Api().run(run.id).history("act/1/zero_frac")
    values = np.array([p["value"] for p in zero])
    steps = [p["step"] for p in zero]
    since = max(i for i in range(len(values)) if values[i] < 0.9) + 1
    assert finding.step_start == steps[since] and finding.step_end == steps[-1]
    recent = np.median(values[-len(values) // 3 :])
    assert finding.evidence["zero_fraction_pct"] == pytest.approx(100 * recent, rel=0.02)
    assert finding.evidence["initial_zero_fraction_pct"] < 60
    assert finding.keys == ["act/1/zero_frac"]
    assert finding.remedies[0].startswith("Lower the learning rate")


def test_a_collapsed_rare_class_and_the_imbalance_from_the_confusion_matrix(sdk, digits):
    x, y = digits
    threes, eights = (y == 3).nonzero().squeeze(1), (y == 8).nonzero().squeeze(1)
    train = torch.cat([threes[:120], eights[:6]])
    val = torch.cat([threes[120:], eights[6:12]])
    y_train, y_val = (y[train] == 8).long(), (y[val] == 8).long()
    torch.manual_seed(0)
    model = nn.Linear(64, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with run_of("3-vs-rare-8") as run:
        for step in range(30):
            loss = F.cross_entropy(model(x[train]), y_train)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            tracker.log({"train/loss": loss.item()}, step=step)
            if step % 10 == 9:
                with torch.no_grad():
                    logits = model(x[val])
                tracker.log({"val/loss": F.cross_entropy(logits, y_val).item()}, step=step)
                predicted = logits.argmax(1)
                tracker.log_confusion_matrix(y_val, predicted, labels=["3", "8"], step=step, split="val")

    found = diagnose(run.id)
    collapsed = only(found, "collapsed_class")
    assert collapsed.evidence["classes"] == ["8"]
    assert collapsed.evidence["recall"] == [0.0]
    assert collapsed.evidence["support"] == [6]
    assert collapsed.evidence["most_predicted_class"] == "3"
    assert (collapsed.step_start, collapsed.step_end) == (9, 29)  # collapsed in every matrix
    imbalance = only(found, "class_imbalance")
    assert imbalance.evidence["largest_class"] == "3" and imbalance.evidence["smallest_class"] == "8"
    assert imbalance.evidence["ratio"] == pytest.approx(len(threes[120:]) / 6, rel=1e-3)
    assert "CrossEntropyLoss(weight=" in imbalance.remedies[0]


def test_no_validation_metric_is_said_once_the_run_ends(sdk, digits):
    x, y = digits
    torch.manual_seed(0)
    model = mlp(64, 32, 10)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    with run_of("train-only") as run:
        for step in range(60):
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            tracker.log({"train/loss": loss.item()}, step=step)

    found = diagnose(run.id)
    finding = only(found, "no_validation")
    assert finding.severity == "info"
    assert (finding.step_start, finding.step_end) == (0, 59)
    assert finding.evidence == {"training_metrics": ["train/loss"], "training_points": 60}
    assert "train_test_split" in finding.remedies[0]


def test_a_healthy_training_gets_no_finding(sdk, digits, monkeypatch):
    monkeypatch.setenv("TRACKER_SYSTEM_INTERVAL", "0.2")  # system metrics too
    x, y = digits
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(y), generator=generator)
    train, val = order[:1400], order[1400:]
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=3e-3)
    config = {"lr": 1e-2, "weight_decay": 3e-3, "dropout": 0.3, "batch_size": 64, "epochs": 12}
    with run_of("healthy", config) as run:
        tracker.watch(model, optimizer, log="all", log_freq=10)
        step = 0
        for _epoch in range(12):
            model.train()
            shuffled = train[torch.randperm(len(train), generator=generator)]
            for start in range(0, len(shuffled), 64):
                batch = shuffled[start : start + 64]
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

    found = diagnose(run.id)
    assert found == {}, {k: [f.title for f in v] for k, v in found.items()}
    assert not FindingRow.objects.filter(run_id=run.id).exists()
    api_run = tracker.Api().run(run.id)
    assert api_run.findings() == []
    keys = {m for m in api_run.data["metrics"]}
    # The analyzers had their inputs: gradients, activations, update ratios, LRs, validation.
    assert {"grad/global_norm", "act/1/zero_frac", "update/0/ratio", "lr/group0", "val/loss"} <= keys
    assert any(k.startswith("sys/") for k in keys)


def test_a_run_stopped_while_still_improving_is_not_converged(sdk, digits):
    x, y = digits
    torch.manual_seed(0)
    model = mlp(64, 64, 10)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    val_losses = []
    with run_of("stopped-early") as run:
        for step in range(60):
            batch = torch.randint(0, 1400, (64,), generator=generator)
            loss = F.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            tracker.log({"train/loss": loss.item()}, step=step)
            if step % 10 == 9:
                with torch.no_grad():
                    val_loss = F.cross_entropy(model(x[1400:]), y[1400:]).item()
                    acc = (model(x[:1400]).argmax(1) == y[:1400]).float().mean().item()
                tracker.log({"val/loss": val_loss, "train/acc": acc}, step=step)
                val_losses.append(val_loss)

    found = diagnose(run.id)
    finding = only(found, "not_converged")
    assert val_losses == sorted(val_losses, reverse=True)  # still falling at every evaluation
    assert finding.severity == "info"
    assert finding.evidence["last_value"] == pytest.approx(val_losses[-1], rel=1e-3)
    assert finding.evidence["drop_last_third_pct"] > 10
    assert (finding.step_start, finding.step_end) == (39, 59)
    assert finding.remedies[0].startswith("Train longer")
    assert set(found) == {"not_converged"}
