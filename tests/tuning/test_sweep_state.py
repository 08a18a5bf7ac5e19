"""A sweep's state reflects its trials: one whose trials all failed is *failed*, saying
why, not finished; a trial's error is shown by its exception's message, not by the
traceback's first line (issue #12, item 2)."""

import pytest

from experiments.models import Project
from tests.factories import sweep as make_sweep
from tuning.models import SweepStatus, Trial, TrialState, error_summary
from tuning.services import sweep_settle


def traceback(message: str = "ValueError: lr must be positive") -> str:
    return (
        "Traceback (most recent call last):\n"
        '  File "/work/examples/train.py", line 12, in train\n'
        '    raise ValueError("lr must be positive")\n'
        f"{message}\n"
    )


def test_error_summary_is_the_exceptions_type_and_message():
    assert error_summary(traceback()) == "ValueError: lr must be positive"
    # A message of several lines, and Python 3.11's position markers.
    multi = (
        "Traceback (most recent call last):\n"
        '  File "t.py", line 1, in <module>\n'
        "    f(x)\n"
        "    ^^^^\n"
        "RuntimeError: cannot reach the tracker server at http://127.0.0.1:8000\n"
        "set TRACKER_PUBLIC_URL\n"
    )
    assert error_summary(multi) == (
        "RuntimeError: cannot reach the tracker server at http://127.0.0.1:8000 set TRACKER_PUBLIC_URL"
    )
    assert (
        error_summary("trial process exited with code 3\nstderr: boom") == "trial process exited with code 3"
    )
    assert error_summary("Traceback ...\nValueError: boom") == "ValueError: boom"
    assert error_summary("") == ""
    assert error_summary(traceback("E: " + "x" * 500), limit=50).endswith("…")
    assert len(error_summary(traceback("E: " + "x" * 500), limit=50)) == 50


SPACE = {"lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True}}


def _sweep(owner, states: list[tuple[str, str]]):
    project = Project.objects.create(owner=owner, name="p")
    sweep = make_sweep(
        project,
        entry_point="m:f",
        objective="val/acc",
        space=SPACE,
        status=SweepStatus.RUNNING,
        n_trials=len(states),
    )
    for n, (state, error) in enumerate(states):
        Trial.objects.create(sweep=sweep, number=n, state=state, error=error)
    sweep_settle(sweep_id=sweep.pk, slot_continues=True)
    sweep.refresh_from_db()
    return sweep


@pytest.mark.django_db
def test_a_sweep_whose_trials_all_failed_is_failed_with_the_reason(owner):
    sweep = _sweep(owner, [(TrialState.FAILED, traceback())] * 3)
    assert sweep.status == SweepStatus.FAILED
    assert sweep.error == "all 3 trials failed: ValueError: lr must be positive"
    assert sweep.finished_at is not None


@pytest.mark.django_db
def test_the_commonest_error_names_a_failed_sweep(owner):
    other = traceback("KeyError: 'lr'")
    sweep = _sweep(
        owner, [(TrialState.FAILED, other), (TrialState.FAILED, traceback()), (TrialState.FAILED, other)]
    )
    assert sweep.error == "all 3 trials failed: KeyError: 'lr'"
    Project.objects.all().delete()
    sweep = _sweep(owner, [(TrialState.FAILED, "trial process exited with code 3\n...")])
    assert (sweep.status, sweep.error) == (
        SweepStatus.FAILED,
        "the trial failed: trial process exited with code 3",
    )


@pytest.mark.django_db
def test_failed_and_pruned_trials_without_a_complete_one_fail_the_sweep(owner):
    sweep = _sweep(owner, [(TrialState.PRUNED, ""), (TrialState.FAILED, traceback())])
    assert sweep.status == SweepStatus.FAILED
    assert sweep.error == "no trial completed; 1 of 2 failed: ValueError: lr must be positive"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "states",
    [
        [(TrialState.COMPLETE, ""), (TrialState.FAILED, traceback())],  # one result is a result
        [(TrialState.PRUNED, ""), (TrialState.PRUNED, "")],  # pruning is the search's own verdict
    ],
)
def test_a_sweep_with_a_complete_trial_or_none_failed_is_finished(owner, states):
    sweep = _sweep(owner, states)
    assert (sweep.status, sweep.error) == (SweepStatus.FINISHED, "")


@pytest.mark.django_db
def test_sweep_page_shows_the_failure_and_each_trials_exception_message(client, owner):
    sweep = _sweep(owner, [(TrialState.FAILED, traceback())] * 2)
    client.force_login(owner)
    html = client.get(f"/sweeps/{sweep.pk}/").content.decode()
    assert 'data-status="failed"' in html
    assert "all 2 trials failed: ValueError: lr must be positive" in html
    summary = '<summary class="bad" title="{0}">{0}</summary>'.format("ValueError: lr must be positive")
    assert summary in html
    assert '<summary class="bad" title="ValueError: lr must be positive">Traceback' not in html
    data = client.get(f"/sweeps/{sweep.pk}/data.json").json()
    assert data["status"] == "failed"
    assert data["error"].startswith("all 2 trials failed")
    assert [t["error_summary"] for t in data["trials"]] == ["ValueError: lr must be positive"] * 2
