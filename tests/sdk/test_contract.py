"""The SDK contract, over both transports: what a training script logs (points with
their exact values, NaN and infinities included, config, summary, tags, the finish status,
media and checkpoints) is stored the same whether it went over HTTP as it was logged or
was recorded offline and synced later (``transport`` fixture, tests/sdk/conftest.py)."""

import math

import numpy as np
import pytest
import torch

import tracker
from experiments.models import Run
from tests.media.support import assert_same, model
from tests.sdk.support import points_of, stored_state, train
from tracker.uploader import sync_uploads

pytestmark = pytest.mark.django_db(transaction=True)


def test_online_and_offline_then_sync_store_the_same_run(transport):
    run = train(transport.mode)
    state = stored_state(transport.stored(run))
    assert state["points_count"] == 250 * 2 + 5 * 3
    assert len(state["points"]) == 250 * 2 + 5 * 3
    assert state["status"] == "finished"
    assert state["config"] == {"lr": 0.01, "opt": "adam"}
    assert state["summary"] == {"best/val_acc": 0.8}
    assert state["tags"] == ["a"]
    nan_points = [p for p in state["points"] if p[0] == "val/nan"]
    assert [(p[1], p[2]) for p in nan_points] == [(step, "NaN") for step in (49, 99, 149, 199, 249)]
    assert {p[2] for p in state["points"] if p[0] == "val/inf"} == {-math.inf}
    loss = [p for p in state["points"] if p[0] == "train/loss"]
    assert [(p[1], p[2]) for p in loss] == [(step, 2.0 / (step + 1)) for step in range(250)]


def test_it_stores_every_logged_point_with_its_exact_value(transport):
    special = [math.nan, math.inf, -math.inf, np.float32(0.25), torch.tensor(1.5), np.int64(7), True]
    with transport.init(project="digits", config={"lr": 1e-3, "layers": [16, 32]}) as run:
        for step in range(600):
            tracker.log({"train/loss": 1 / (step + 1), "train/acc": step / 600}, step=step)
        for offset, value in enumerate(special):
            tracker.log({"val/odd": value}, step=600 + offset)
        run.summary["best/val_acc"] = 0.98
    run_id = transport.stored(run)

    stored = tracker.Api().run(run_id)
    assert stored.status == "finished"
    assert stored.config == {"lr": 1e-3, "layers": [16, 32]}
    assert stored.summary == {"best/val_acc": 0.98}
    loss = stored.history(["train/loss"])
    assert [p["step"] for p in loss] == list(range(600))
    assert [p["value"] for p in loss] == [1 / (step + 1) for step in range(600)]
    assert {p["key"] for p in loss} == {"train/loss"} and {p["rank"] for p in loss} == {0}
    assert all(p["wall_time"] > 1.6e9 for p in loss)
    odd = [p["value"] for p in stored.history("val/odd")]
    assert math.isnan(odd[0]) and odd[1:] == [math.inf, -math.inf, 0.25, 1.5, 7.0, 1.0]
    # points_count counts every stored point, so a batch stored twice would show here.
    assert Run.objects.get(pk=run_id).points_count == 600 * 2 + len(special)
    assert points_of(run_id, "train/acc")[-1] == (599, 599 / 600)


def test_it_counts_steps_itself_when_none_is_given(transport):
    run = transport.init(project="digits")
    for value in (0.5, 0.4, 0.3):
        tracker.log({"loss": value})
    tracker.log({"loss": 0.1}, step=10)
    tracker.log({"loss": 0.05})
    run.finish()
    run_id = transport.stored(run)
    assert points_of(run_id, "loss") == [(0, 0.5), (1, 0.4), (2, 0.3), (10, 0.1), (11, 0.05)]


def test_it_marks_the_run_failed_with_the_traceback_when_the_block_raises(transport):
    with pytest.raises(ZeroDivisionError), transport.init(project="digits") as run:
        tracker.log({"train/loss": 0.5}, step=0)
        1 / 0  # noqa: B018 - the training bug under test
    run_id = transport.stored(run)

    stored = Run.objects.get(pk=run_id)
    assert stored.status == "failed"
    assert stored.exit_code == 1
    assert "ZeroDivisionError: division by zero" in stored.error
    assert "Traceback (most recent call last)" in stored.error
    assert points_of(run_id, "train/loss") == [(0, 0.5)]


def test_checkpoints_and_media_are_stored_and_uploaded_once(transport):
    net = model()
    run = transport.init(project="digits")
    tracker.log({"val/acc": 0.7}, step=4)
    tracker.save_checkpoint(net, metrics={"val/acc": 0.7})
    tracker.log_confusion_matrix([0, 1, 1], [0, 1, 0], labels=["a", "b"])
    run.finish()
    if transport.offline:
        spooled = sorted(p.suffix for p in (run.dir / "uploads").iterdir())
        assert spooled == [".json", ".json", ".pt"]
    run_id = transport.stored(run)
    if transport.offline:
        assert "2 media items and checkpoints uploaded" in transport.synced.stdout  # sync uploads them too

    stored = Run.objects.get(pk=run_id)
    assert_same(tracker.load_checkpoint(stored.pk, which=4), net.state_dict())
    assert stored.media.get().data["matrix"] == [[1, 0], [1, 1]]
    assert sync_uploads(run.dir) == 0  # nothing twice
    assert not list((run.dir / "uploads").iterdir())


def test_nested_dicts_bools_and_strings_are_stored_the_same(transport):
    run = transport.init(project="digits")
    for step in range(3):
        tracker.log({"val": {"acc": step / 4, "ok": step > 0}, "note": f"epoch {step}", "bad": [step]})
    run.finish()
    run_id = transport.stored(run)

    assert points_of(run_id, "val/acc") == [(0, 0.0), (1, 0.25), (2, 0.5)]
    assert points_of(run_id, "val/ok") == [(0, 0.0), (1, 1.0), (2, 1.0)]
    texts = Run.objects.get(pk=run_id).media.filter(kind="text").order_by("step")
    assert [(m.name, m.step, m.data["value"]) for m in texts] == [("note", s, f"epoch {s}") for s in range(3)]
    assert not Run.objects.get(pk=run_id).metrics.filter(key__in=["bad", "note", "val"]).exists()
