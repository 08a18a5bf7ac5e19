"""The diagnostics machinery on stored series: GPU analyzers on recorded GPU-like
series, per-project thresholds, dismissals across passes, the analyzer contract (run
against every registered analyzer), failures, and the live coalescing."""

import asyncio
import itertools
import math
import time

import numpy as np
import pytest

from experiments import events as run_events
from experiments import services
from experiments.diagnostics import base, schedule, store
from experiments.diagnostics.models import AnalyzerSettings, Finding, RunDiagnosis
from experiments.diagnostics.runner import run_diagnose
from experiments.models import RunStatus
from tests.diagnostics.support import GIB, gpu_series, ingest, make_run, overfitting_series

pytestmark = pytest.mark.django_db


def kinds(result) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in result.all:
        out.setdefault(f.kind, []).append(f)
    return out


def test_gpu_memory_pressure_from_a_recorded_series(owner):
    run = make_run(owner, config={"batch_size": 256})
    rng = np.random.default_rng(0)
    # The caching allocator grows in steps as batches of longer sequences arrive, then holds.
    reserved = np.concatenate([np.full(10, 40.0), np.full(10, 62.0), np.full(20, 76.5)])
    allocated = np.concatenate([np.full(10, 35.0), np.full(10, 52.0), np.full(20, 60.0)])
    util = 90 + rng.normal(0, 3, 40)
    ingest(run, gpu_series(reserved, allocated, util, 4.0 + rng.normal(0, 0.1, 40)))

    found = kinds(run_diagnose(run_id=run.pk))
    (finding,) = found["gpu_memory_pressure"]
    assert finding.subject == "gpu0"
    assert finding.severity == "warning"  # 95.6%: under the 97% critical line
    assert finding.evidence["peak_reserved_bytes"] == int(76.5 * GIB)
    assert finding.evidence["total_bytes"] == 80 * GIB
    assert finding.evidence["peak_reserved_share_pct"] == pytest.approx(95.6, abs=0.05)
    assert finding.evidence["peak_allocated_bytes"] == 60 * GIB
    assert (finding.step_start, finding.step_end) == (400, 780)  # every sample at >= 90% of the card
    assert finding.remedies[0].startswith("Halve the batch size (batch_size=256 → 128)")
    assert "expandable_segments" in finding.remedies[1]  # 16.5 GiB reserved but never allocated
    assert "autocast" in " ".join(finding.remedies)
    assert "gpu_underused" not in found


def test_memory_at_the_limit_is_critical_and_a_roomy_card_is_fine(owner):
    full = make_run(owner, name="full")
    ingest(full, gpu_series([78.0] * 12, [77.0] * 12, [95] * 12, [3.0] * 12))
    (finding,) = kinds(run_diagnose(run_id=full.pk))["gpu_memory_pressure"]
    assert finding.severity == "critical"
    assert len(finding.remedies) == 4  # allocated ~ reserved: no fragmentation advice

    roomy = make_run(owner, name="roomy")
    ingest(roomy, gpu_series([30.0] * 12, [25.0] * 12, [95] * 12, [3.0] * 12))
    assert run_diagnose(run_id=roomy.pk).all == []


def test_an_input_bound_gpu_is_under_used_while_an_erratic_one_is_not_judged(owner):
    rng = np.random.default_rng(1)
    starved = make_run(owner, name="starved", config={"num_workers": 2})
    ingest(
        starved,
        gpu_series([20.0] * 30, [15.0] * 30, 12 + rng.normal(0, 4, 30), 2.0 + rng.normal(0, 0.05, 30)),
    )
    (finding,) = kinds(run_diagnose(run_id=starved.pk))["gpu_underused"]
    assert finding.severity == "warning"  # under 20%
    assert finding.evidence["median_utilization_pct"] == pytest.approx(12, abs=2)
    assert finding.evidence["throughput_cv_pct"] < 5
    assert finding.remedies[0].startswith("More DataLoader workers (num_workers=2 → 4)")

    erratic = make_run(owner, name="erratic")
    ingest(erratic, gpu_series([20.0] * 30, [15.0] * 30, [12] * 30, np.tile([0.5, 6.0], 15)))
    assert run_diagnose(run_id=erratic.pk).all == []


# --- thresholds, dismissals, failures -------------------------------------------------


def test_a_projects_thresholds_override_the_defaults_and_can_turn_an_analyzer_off(owner):
    run = make_run(owner)
    ingest(run, overfitting_series())
    assert "overfitting" in kinds(run_diagnose(run_id=run.pk))
    assert Finding.objects.filter(run=run, kind="overfitting").exists()

    settings = AnalyzerSettings.objects.create(
        project=run.project, analyzer="overfitting", thresholds={"min_rise": 2.0}
    )
    assert "overfitting" not in kinds(run_diagnose(run_id=run.pk))  # a 44% rise is under 200%
    assert not Finding.objects.filter(run=run, kind="overfitting").exists()

    settings.thresholds = {}
    settings.enabled = False
    settings.save()
    result = run_diagnose(run_id=run.pk)
    assert "overfitting" in result.skipped and "overfitting" not in kinds(result)
    other = make_run(owner, project="other")
    ingest(other, overfitting_series())
    assert "overfitting" in kinds(run_diagnose(run_id=other.pk))  # another project keeps the defaults


def test_thresholds_are_validated_by_name_and_type():
    assert base.validate_thresholds("overfitting", {"patience": 5}) == {"patience": 5.0}
    with pytest.raises(ValueError, match="has no threshold 'patiense'"):
        base.validate_thresholds("overfitting", {"patiense": 5})
    with pytest.raises(ValueError, match="must be a number"):
        base.validate_thresholds("overfitting", {"patience": "5"})
    with pytest.raises(ValueError, match="no analyzer is named"):
        base.validate_thresholds("nope", {})


def test_a_dismissal_holds_across_passes_and_the_finding_keeps_its_id(owner):
    run = make_run(owner)
    ingest(run, overfitting_series(12))
    run_diagnose(run_id=run.pk)
    row = Finding.objects.get(run=run, kind="overfitting")
    store.finding_dismiss(run=run, finding_id=row.pk, user=owner, note="tiny data set, expected")

    more = overfitting_series(15)
    steps, val = more["val/loss"]
    ingest(
        run,
        {"val/loss": (steps[12:], val[12:]), "train/loss": (steps[12:], more["train/loss"][1][12:])},
        seq=1,
    )
    run_diagnose(run_id=run.pk)
    again = Finding.objects.get(run=run, kind="overfitting")
    assert again.pk == row.pk
    assert again.evidence["evaluations_since_best"] == 11  # updated in place
    health = store.run_health(run)
    assert health["total"] == 0 and health["dismissed"] == 1 and health["next"] == []
    (shown,) = health["findings"]
    assert shown["dismissed"] is True and shown["dismissed_by"] == "owner"
    assert shown["dismiss_note"] == "tiny data set, expected"

    store.finding_dismiss(run=run, finding_id=row.pk, user=owner, dismissed=False)
    assert store.run_health(run)["total"] == 1


def test_a_failing_analyzer_keeps_its_previous_findings_and_says_so(owner, monkeypatch):
    run = make_run(owner)
    ingest(run, overfitting_series())
    run_diagnose(run_id=run.pk)
    before = Finding.objects.get(run=run, kind="overfitting")

    def broken(self, data, limits):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(base.analyzer("overfitting"), "analyze", broken)
    result = run_diagnose(run_id=run.pk)
    assert result.errors == {"overfitting": "ZeroDivisionError: division by zero"}
    assert Finding.objects.get(run=run, kind="overfitting").pk == before.pk
    assert RunDiagnosis.objects.get(run=run).errors == result.errors
    assert store.run_health(run)["analyzer_errors"] == result.errors


def test_every_pass_tells_the_page_and_says_whether_findings_changed(
    owner, django_capture_on_commit_callbacks, monkeypatch
):
    events = []
    monkeypatch.setattr(run_events, "_listeners", [lambda run_id, project_id, event: events.append(event)])
    run = make_run(owner)
    ingest(run, overfitting_series())
    with django_capture_on_commit_callbacks(execute=True):
        events.clear()
        assert run_diagnose(run_id=run.pk).changed
    counts = {"counts": {"critical": 1, "warning": 0, "info": 0}, "total": 1}
    assert events == [{"type": "findings", "changed": True, **counts}]
    with django_capture_on_commit_callbacks(execute=True):
        events.clear()
        assert not run_diagnose(run_id=run.pk).changed
    assert events == [{"type": "findings", "changed": False, **counts}]


def test_finishing_a_run_enqueues_its_diagnosis(owner, django_capture_on_commit_callbacks, monkeypatch):
    from experiments import tasks
    from experiments.diagnostics import tasks as diagnostics_tasks
    from experiments.payloads import parse_run_end

    queued = []
    monkeypatch.setattr(diagnostics_tasks.run_diagnose, "delay", queued.append)
    monkeypatch.setattr(tasks.run_finalize, "delay", lambda run_id: None)
    run = make_run(owner)
    with django_capture_on_commit_callbacks(execute=True):
        services.run_finish(run=run, end=parse_run_end({"status": "finished"}))
    assert queued == [run.pk]
    assert schedule.request_pass(run.pk) is False  # no server loop here: nothing to keep a timer on


def test_evidence_is_stored_as_json(owner):
    assert store.json_safe(
        {"a": np.float64(1.5), "b": [math.nan, math.inf, -math.inf], "c": np.int64(3)}
    ) == {
        "a": 1.5,
        "b": ["NaN", "Infinity", "-Infinity"],
        "c": 3,
    }


# --- the contract, against every registered analyzer -------------------------------


@pytest.fixture(params=[cls.name for cls in base.analyzers()])
def analyzer_cls(request):
    return base.analyzer(request.param)


def test_every_analyzer_documents_its_thresholds(analyzer_cls):
    assert analyzer_cls.name and analyzer_cls.title
    assert set(analyzer_cls.threshold_help) == set(analyzer_cls.thresholds)
    assert all(isinstance(v, int | float) for v in analyzer_cls.thresholds.values())


@pytest.mark.parametrize("status", [RunStatus.RUNNING, RunStatus.FINISHED])
def test_every_analyzer_says_nothing_without_data(analyzer_cls, owner, status):
    from experiments.diagnostics.data import RunData

    empty = make_run(owner, name="empty", status=status)
    assert analyzer_cls().analyze(RunData(empty), dict(analyzer_cls.thresholds)) == []
    one = make_run(owner, name="one-point", status=status)
    ingest(one, {"train/loss": ([0], [2.3]), "val/loss": ([0], [2.4]), "grad/global_norm": ([0], [1.0])})
    assert analyzer_cls().analyze(RunData(one), dict(analyzer_cls.thresholds)) == []


def test_an_analyzer_registers_itself_by_being_defined(monkeypatch):
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))

    class Always(base.Analyzer):
        name = "always"
        title = "Always"

        def analyze(self, run, limits):
            return []

    assert base.analyzer("always") is Always
    assert "always" in [a.name for a in base.analyzers()]
    with pytest.raises(TypeError, match="two analyzers are named 'always'"):
        type("Other", (base.Analyzer,), {"name": "always"})


# --- live coalescing -----------------------------------------------------------------


def test_live_passes_are_coalesced_per_run_with_a_trailing_pass():
    started: list[tuple[int, float]] = []

    def slow_pass(run_id: int) -> None:
        started.append((run_id, time.monotonic()))
        time.sleep(0.05)

    async def scenario() -> None:
        debouncer = schedule.Debouncer(0.3, run_pass=slow_pass, first_delay=0.05)
        t0 = time.monotonic()
        for _ in range(20):  # a burst of batches of run 1 over ~0.8 s
            debouncer.request(1)
            await asyncio.sleep(0.04)
        debouncer.request(2)
        await asyncio.sleep(0.5)  # the trailing pass of run 1 happens after the burst
        debouncer.request(3, urgent=True)  # a run ending: now
        await asyncio.sleep(0.1)
        assert started[0][1] - t0 == pytest.approx(0.05, abs=0.04)

    asyncio.run(scenario())
    ones = [t for run, t in started if run == 1]
    assert 3 <= len(ones) <= 4  # ~0.85 s of requests at most one pass per 0.3 s, plus the trailing one
    assert all(b - a >= 0.29 for a, b in itertools.pairwise(ones))
    assert [run for run, _ in started].count(2) == 1
    assert [run for run, _ in started].count(3) == 1


def test_huge_evidence_survives_the_database_and_a_repeat_pass_is_no_change(owner):
    # PostgreSQL's jsonb gives 3.3e31 back as a 32-digit integer; JSON out must still work.
    import orjson

    run = make_run(owner)
    steps = list(range(12))
    ingest(run, {"train/loss": (steps, [10.0 ** (3 * s) for s in range(11)] + [math.nan])})
    first = run_diagnose(run_id=run.pk)
    assert first.changed and kinds(first)["divergence"][0].evidence["growth_before_nonfinite"] == 1e30
    assert not run_diagnose(run_id=run.pk).changed
    (finding,) = orjson.loads(orjson.dumps(store.run_health(run)))["findings"]
    assert finding["evidence"]["growth_before_nonfinite"] == 1e30
    assert finding["evidence"]["last_finite_value"] == 1e30


def test_only_a_servers_request_threads_schedule_live_passes(monkeypatch):
    from asgiref.sync import sync_to_async

    seen: list[int] = []
    monkeypatch.setattr(schedule, "debouncer", schedule.Debouncer(5, run_pass=seen.append, first_delay=0.01))

    async def server() -> bool:  # a view's ORM code runs in a sync thread of the server's loop
        scheduled = await sync_to_async(schedule.request_pass)(7)
        await asyncio.sleep(0.2)
        return scheduled

    assert asyncio.run(server()) is True
    assert seen == [7]

    async def test_process() -> bool:  # a loop in the caller's own thread (Playwright's sync API)
        return schedule.request_pass(8)

    assert asyncio.run(test_process()) is False
    assert seen == [7]
