"""What users log (issue #12, finding 5): nested dicts flattened with ``/``, bools as
numbers, strings kept as a text series, and a bad value that costs only itself (one
warning per key per run). A bad step still refuses the whole call (tests/sdk/test_values.py)."""

import logging
import math

import numpy as np
import pytest
import torch

import tracker
from experiments.models import Media, Run
from tests.sdk.support import points_of


class Uploads:
    """Stands in for the run's uploader: keeps what ``add_media`` was given."""

    def __init__(self) -> None:
        self.items: list[dict] = []

    def add_media(self, items: list[dict]) -> None:
        self.items.extend(items)


@pytest.fixture
def logged():
    """A run whose rows and text uploads are kept in memory (no server, no disk)."""
    run = tracker.init(project="values", mode="offline")
    rows: list[tuple[int, dict]] = []
    run._submit = lambda row, count: rows.append((row[0], row[2]))
    run._uploader = uploads = Uploads()
    yield run, rows, uploads
    run._submit = lambda row, count: None
    run._uploader = None
    run.finish(timeout=1)


def test_nested_dicts_are_flattened_with_slashes_and_bools_are_numbers(logged):
    run, rows, _ = logged
    run.log({"val": {"acc": 0.9, "deep": {"f1": np.float32(0.5)}}, "loss": torch.tensor(0.25), "ok": True})
    run.log({"val": {"acc": 0.95}, "ok": False})
    assert rows == [
        (0, {"val/acc": 0.9, "val/deep/f1": 0.5, "loss": 0.25, "ok": 1}),
        (1, {"val/acc": 0.95, "ok": 0}),
    ]


def test_strings_are_sent_as_text_media_of_the_step(logged):
    run, rows, uploads = logged
    run.log({"loss": 1.0, "note": "warm-up", "eval": {"sample": "a cat", "acc": 0.5}}, step=3)
    assert rows == [(3, {"loss": 1.0, "eval/acc": 0.5})]
    assert [(i["kind"], i["name"], i["step"], i["data"]) for i in uploads.items] == [
        ("text", "note", 3, {"value": "warm-up"}),
        ("text", "eval/sample", 3, {"value": "a cat"}),
    ]
    assert len({i["uid"] for i in uploads.items}) == 2
    run.log({"note": "only text"})
    assert run.step == 5 and rows[-1:] == [(3, {"loss": 1.0, "eval/acc": 0.5})]  # no empty row


def test_a_bad_value_costs_only_itself_with_one_warning_per_key(logged, caplog):
    run, rows, uploads = logged
    caplog.set_level(logging.WARNING, logger="tracker")
    for step in range(3):
        run.log(
            {
                "loss": 1.0 / (step + 1),
                "hist": [1, 2, 3],
                "obj": object(),
                "big": 10**400,
                "nul": "a\x00b",
                "bad\x00key": 1.0,
                7: 2.0,
                "grid": {3: 1.0, "ok": 2.0},
                "none": None,
                "long": "x" * 10_001,
            },
            step=step,
        )
    assert rows == [(s, {"loss": 1.0 / (s + 1), "grid/ok": 2.0}) for s in range(3)]
    assert uploads.items == []
    warned = [r.getMessage() for r in caplog.records if r.name == "tracker"]
    assert len(warned) == 9, warned  # one per bad key, not one per call
    for fragment in (
        "'hist' is list",
        "'obj' is object",
        "'big' is an integer of 1329 bits",
        "'nul' has a NUL",
        "'bad\\x00key' has a NUL",
        "key 7 is int",
        "key 3 is int",
        "'none' is NoneType",
        "'long' is 10001 characters",
    ):
        assert any(fragment in m for m in warned), fragment
    assert all("not logged (the other keys are" in m for m in warned)


def test_a_bad_step_still_refuses_the_whole_call(logged):
    run, rows, _ = logged
    with pytest.raises(ValueError, match="step must be at most 2"):
        run.log({"loss": 1.0, "note": "x"}, step=2**63)
    with pytest.raises(TypeError, match="expects a dict"):
        run.log([("loss", 1.0)])
    assert rows == [] and run.step == 0


def test_the_fast_path_still_takes_known_floats_as_they_are(logged):
    run, rows, _ = logged
    run.log({"a": 1.0, "b": 2})
    run.log({"a": math.nan, "b": 3})
    run.log({"a": "now text", "b": 4})
    assert rows == [(0, {"a": 1.0, "b": 2}), (1, {"a": "NaN", "b": 3}), (2, {"b": 4})]


@pytest.mark.django_db(transaction=True)
def test_nested_text_and_bad_values_reach_the_server_and_the_run_page(sdk, client, owner, caplog):
    run = tracker.init(project="values")
    for step in range(3):
        tracker.log(
            {
                "train": {"loss": 1.0 / (step + 1)},
                "flag": step % 2 == 0,
                "sample": f"step {step} <b>",
                "bad": [step],
            }
        )
    result = run.finish()
    assert (result.status, result.sent, result.quarantined_batches) == ("finished", True, 0)

    assert points_of(run.id, "train/loss") == [(0, 1.0), (1, 0.5), (2, 1.0 / 3)]
    assert points_of(run.id, "flag") == [(0, 1.0), (1, 0.0), (2, 1.0)]
    stored = Run.objects.get(pk=run.id)
    assert not stored.metrics.filter(key__in=["bad", "sample", "train"]).exists()
    texts = Media.objects.filter(run=stored, kind="text").order_by("step")
    assert [(m.name, m.step, m.data) for m in texts] == [
        ("sample", s, {"value": f"step {s} <b>"}) for s in range(3)
    ]
    assert sum("'bad' is list" in r.getMessage() for r in caplog.records) == 1

    client.force_login(owner)
    page = client.get(f"/runs/{run.id}/").content.decode()
    assert (
        'id="text-section"' in page
        and "step 2 &lt;b&gt;" in page
        and "<b>" not in page.split("text-section")[1]
    )
    listed = client.get(f"/api/v1/runs/{run.id}/media?kind=text").json()["media"]
    assert [m["data"]["value"] for m in listed] == ["step 0 <b>", "step 1 <b>", "step 2 <b>"]
