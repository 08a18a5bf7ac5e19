"""What the server cannot store is refused where it is logged, with an error naming it,
and costs nothing else: no batch carrying it is ever sent (issue #10, finding 2).

``log()`` refuses the whole call for a bad step (a ValueError or TypeError naming it;
nothing of the call is recorded and the step counter does not move); a bad key or value
costs only itself (dropped with one warning per key: tests/sdk/test_log_values.py); config,
names and tags are refused by ``init`` before the run is created; a summary value by its
assignment.
"""

import re

import pytest

import tracker
from experiments.models import Run


def steps_of(run_id: int, key: str) -> list[int]:
    return [p["step"] for p in tracker.Api().run(run_id).history(key)]


@pytest.mark.django_db(transaction=True)
def test_log_refuses_what_the_server_cannot_store_naming_it_and_the_run_goes_on(sdk):
    run = tracker.init(project="values")
    tracker.log({"loss": 1.0}, step=0)
    refused = [
        ({"loss": 0.5, "acc": 0.1}, 2**63, ValueError, "step must be at most 2\\*\\*63 - 1"),
        ({"loss": 0.5}, 1.5, TypeError, "step must be a non-negative int, got float"),
    ]
    for data, step, error, message in refused:
        with pytest.raises(error, match=message):
            tracker.log(data, step=step)
    # A bad key or value is dropped alone (with a warning); the call's other keys are kept.
    # "big" is beyond 64 bits, but a float can hold it.
    tracker.log({"loss": 0.25, "big": 2**64, "bad\x00key": 1.0, "huge": 10**400}, step=1)
    tracker.log({"loss": 0.125}, step=2**63 - 1)
    with pytest.raises(ValueError, match=re.escape("run.summary['note']['why'] contains a NUL character")):
        run.summary["note"] = {"why": "a\x00b"}
    run.summary["note"] = "fine"
    result = run.finish()

    assert (result.sent, result.pending_batches, result.quarantined_batches) == (True, 0, 0)
    assert steps_of(run.id, "loss") == [0, 1, 2**63 - 1]  # the refused calls stored nothing
    assert [p["value"] for p in tracker.Api().run(run.id).history("big")] == [float(2**64)]
    stored = Run.objects.get(pk=run.id)
    assert (stored.status, stored.summary, stored.points_count) == ("finished", {"note": "fine"}, 4)
    assert not stored.metrics.filter(key__in=["acc", "huge"]).exists()


@pytest.mark.django_db(transaction=True)
def test_init_refuses_a_nul_in_config_or_names_before_creating_anything(sdk):
    with pytest.raises(ValueError, match=re.escape("tracker.init: config['opt']['name'] contains a NUL")):
        tracker.init(project="values", config={"opt": {"name": "ad\x00am"}})
    with pytest.raises(ValueError, match=re.escape("tracker.init: tags[1] contains a NUL")):
        tracker.init(project="values", tags=["ok", "b\x00d"])
    with pytest.raises(ValueError, match=re.escape("tracker.init: project contains a NUL")):
        tracker.init(project="val\x00ues")
    assert not Run.objects.exists()


def test_the_checks_need_no_server():
    run = tracker.init(project="values", mode="disabled")
    with pytest.raises(ValueError, match=re.escape("step must be at most 2**63 - 1")):
        run.log({"x": 1.0}, step=2**63)
    run.log({"x": 1.0}, step=2**63 - 1)
    with pytest.raises(ValueError, match=re.escape("step must be at most 2**63 - 1")):
        run.log({"x": 1.0})  # the next step would be 2**63
    with pytest.raises(ValueError, match=re.escape("run.summary['a\\x00'] contains a NUL")):
        run.summary.update({"a\x00": 1})
    with pytest.raises(ValueError, match=re.escape("run.summary['b'][0] contains a NUL")):
        run.summary.setdefault("b", ["\x00"])
    assert dict(run.summary) == {}
    run.finish()
