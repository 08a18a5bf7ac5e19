"""Comparisons on real stored runs (ingested through the ingestion service, read back
through the query layer): deltas, best steps, time to target, directions, diffs, and the
group statistics against numpy/scipy on the same numbers."""

import math

import numpy as np
import pytest
from scipy import stats

from experiments.compare import noise
from experiments.compare.baselines import baseline_active, baseline_history, baseline_set
from experiments.compare.comparison import compare, comparison_dict, gate
from experiments.compare.curves import comparison_curves
from experiments.compare.diffs import class_deltas_between, per_class
from experiments.compare.sides import side_of_group, side_of_run
from experiments.directions import direction_override_set, metric_direction, project_directions
from experiments.errors import ApiError, NotFound
from experiments.models import Baseline, Project, Run
from tests.compare.support import T0, log, make_group, make_run

pytestmark = pytest.mark.django_db


def row_of(result, key: str) -> dict:
    return next(row for row in result.metrics if row["key"] == key)


@pytest.fixture
def pair(owner):
    """A baseline run and a new run with hand-checkable numbers."""
    base = make_run(
        owner, "base", config={"lr": 0.1, "opt": {"name": "sgd"}, "epochs": 5}, python_version="3.11"
    )
    new = make_run(
        owner, "new", config={"lr": 0.05, "opt": {"name": "adam"}, "epochs": 5}, python_version="3.12"
    )
    log(base, "val/loss", [1.0, 0.8, 0.6, 0.5, 0.55])
    log(base, "val/acc", [0.5, 0.6, 0.7, 0.8, 0.78])
    log(base, "train/loss", [2.0, 1.0, 0.5], steps=[0, 2, 4])
    log(new, "val/loss", [0.9, 0.6, 0.45, 0.4, 0.42])
    log(new, "val/acc", [0.55, 0.7, 0.75, 0.74, 0.72])
    log(new, "train/loss", [1.5, 1.2, 0.9, 0.6, 0.3])
    return base, new


def test_deltas_best_steps_and_verdicts_match_the_hand_computed_values(pair):
    base, new = pair
    result = compare(side_of_run(base), [side_of_run(new)])

    assert result.keys == ["val/acc", "val/loss", "train/loss"]  # validation first
    loss = row_of(result, "val/loss")
    assert loss["direction"] == "min"
    assert loss["reference"]["final"]["value"] == 0.55 and loss["reference"]["final"]["step"] == 4
    assert loss["reference"]["best"]["value"] == 0.5 and loss["reference"]["best"]["step"] == 3
    side = loss["sides"][0]
    assert side["final"]["value"] == 0.42 and side["best"]["value"] == 0.4 and side["best"]["step"] == 3
    assert side["delta"]["final"]["abs"] == pytest.approx(-0.13)
    assert side["delta"]["final"]["rel"] == pytest.approx(-0.13 / 0.55)
    assert side["delta"]["final"]["improvement"] == pytest.approx(0.13)  # lower loss is better
    assert side["delta"]["best"]["abs"] == pytest.approx(-0.1)
    assert side["verdict"] == "better" and side["test"] is None  # one run each: no noise estimate
    # The baseline's best (0.5) is first reached at step 2 (0.45), 20 s after the start.
    assert side["time_to_target"] == {"target": 0.5, "runs": 1, "reached": 1, "step": 2, "seconds": 20.0}
    assert loss["reference_time_to_best"]["step"] == 3

    acc = row_of(result, "val/acc")
    assert acc["direction"] == "max"
    side = acc["sides"][0]
    assert side["best"]["value"] == 0.75 and side["best"]["step"] == 2
    assert side["delta"]["final"]["abs"] == pytest.approx(-0.06)
    assert side["delta"]["final"]["better"] == "worse" and side["verdict"] == "worse"
    assert side["time_to_target"]["reached"] == 0 and side["time_to_target"]["step"] is None


def test_by_best_judges_on_best_values(pair):
    base, new = pair
    result = compare(side_of_run(base), [side_of_run(new)], keys=["val/acc"], by="best")
    side = result.metrics[0]["sides"][0]
    assert side["delta"]["best"]["abs"] == pytest.approx(-0.05) and side["verdict"] == "worse"
    with pytest.raises(ApiError) as bad:
        compare(side_of_run(base), [side_of_run(new)], by="median")
    assert bad.value.field == "by"


def test_a_metric_one_side_lacks_is_refused_naming_the_metric(pair):
    base, new = pair
    log(new, "val/f1", [0.3])
    with pytest.raises(NotFound) as missing:
        compare(side_of_run(base), [side_of_run(new)], keys=["val/f1"])
    assert missing.value.field == "metric" and "val/f1" in missing.value.message
    result = compare(side_of_run(base), [side_of_run(new)])
    assert "val/f1" not in result.keys and result.missing[str(new.pk)] == []
    assert result.missing[str(base.pk)] == ["val/f1"]


def test_delta_curve_is_run_minus_baseline_on_the_steps_both_have(pair):
    base, new = pair
    curves = {
        c["key"]: c
        for c in comparison_curves(side_of_run(base), [side_of_run(new)], ["val/loss", "train/loss"], 1500)
    }
    loss = curves["val/loss"]
    assert [line["role"] for line in loss["lines"]] == ["reference", "side"]
    assert loss["lines"][0]["value"] == [1.0, 0.8, 0.6, 0.5, 0.55]
    assert loss["deltas"][0]["step"] == [0, 1, 2, 3, 4]
    assert loss["deltas"][0]["value"] == pytest.approx([-0.1, -0.2, -0.15, -0.1, -0.13])
    train = curves["train/loss"]["deltas"][0]
    assert train["step"] == [0, 2, 4]  # the baseline logged train/loss every other step
    assert train["value"] == pytest.approx([-0.5, -0.1, -0.2])


def test_a_diverged_run_is_worse_and_fails_the_gate(owner, pair):
    base, _ = pair
    bad = make_run(owner, "diverged")
    log(bad, "val/loss", [0.9, 0.5, math.nan])
    result = compare(side_of_run(base), [side_of_run(bad)], keys=["val/loss"])
    row = result.metrics[0]
    side = row["sides"][0]
    assert math.isnan(side["final"]["value"]) and side["verdict"] == "worse"
    assert gate({**row, "by": "final"}, tolerance=0.5)["fails"] is True


def test_gate_tolerance_is_relative_to_the_baseline_value_or_absolute(pair):
    base, new = pair
    row = {**row_of(compare(side_of_run(base), [side_of_run(new)]), "val/acc"), "by": "final"}
    # new is 0.06 below 0.78: 7.7% worse.
    assert gate(row)["fails"] is True
    assert gate(row, tolerance=0.05)["fails"] is True
    assert gate(row, tolerance=0.08)["fails"] is False
    assert gate(row, tolerance=0.08)["allowed"] == pytest.approx(0.0624)
    assert gate(row, abs_tolerance=0.07)["fails"] is False
    assert gate(row, abs_tolerance=0.05)["fails"] is True


def test_direction_is_inferred_from_the_name_and_overridden_per_project(owner, pair):
    base, new = pair
    assert [
        metric_direction(k) for k in ("val/mae", "perplexity", "epoch_time", "val/iou", "map", "val/auc")
    ] == [
        "min",
        "min",
        "min",
        "max",
        "max",
        "max",
    ]
    project = base.project
    direction_override_set(project=project, key="val/acc", direction="min")
    assert project_directions(project, ["val/acc", "val/loss"]) == {"val/acc": "min", "val/loss": "min"}
    other, _ = Project.objects.get_or_create(owner=owner, name="other")
    assert project_directions(other, ["val/acc"]) == {"val/acc": "max"}  # per project

    row = row_of(compare(side_of_run(base), [side_of_run(new)]), "val/acc")
    assert row["direction"] == "min" and row["direction_source"] == "override"
    assert row["reference"]["best"]["value"] == 0.5  # the best is now the minimum
    assert row["sides"][0]["verdict"] == "better"  # 0.72 < 0.78

    direction_override_set(project=project, key="val/acc", direction=None)
    assert project_directions(project, ["val/acc"]) == {"val/acc": "max"}


def test_config_and_environment_diffs(pair):
    base, new = pair
    result = compare(side_of_run(base), [side_of_run(new)])
    config = {row["key"]: [cell["value"] for cell in row["values"]] for row in result.config}
    assert config == {"lr": [0.1, 0.05], "opt.name": ["sgd", "adam"]}  # epochs is equal: left out
    env = {row["key"]: row for row in result.environment}
    assert env["python_version"]["differs"] is True
    assert [c["value"] for c in env["python_version"]["values"]] == ["3.11", "3.12"]


def test_resources_read_duration_throughput_and_peak_memory_leniently(owner):
    from datetime import timedelta

    base = make_run(owner, "base", finished_at=T0 + timedelta(seconds=100), status="finished")
    new = make_run(
        owner,
        "new",
        finished_at=T0 + timedelta(seconds=50),
        status="finished",
        summary={"gpu/peak_memory": 2e9},
    )
    log(base, "val/loss", [1.0, 0.5])
    log(base, "system/gpu0/memory_allocated", [1e9, 3e9])
    log(new, "val/loss", [1.0, 0.4])
    base, new = Run.objects.get(pk=base.pk), Run.objects.get(pk=new.pk)  # points_count moved on
    result = compare(side_of_run(base), [side_of_run(new)])
    rows = {r["name"]: r for r in result.resources}
    assert [c["value"] for c in rows["duration_seconds"]["values"]] == [100.0, 50.0]
    assert rows["duration_seconds"]["values"][1]["delta"]["better"] == "better"
    assert [c["value"] for c in rows["points_per_second"]["values"]] == [0.04, 0.04]
    assert [c["value"] for c in rows["peak_gpu_memory"]["values"]] == [3e9, 2e9]


def test_per_class_recall_and_precision_deltas_from_two_matrices():
    labels = ["cat", "dog"]
    reference = (labels, [[8, 2], [4, 6]])  # cat recall 0.8 precision 8/12; dog recall 0.6 precision 0.75
    other = (labels, [[9, 1], [2, 8]])  # cat recall 0.9 precision 9/11; dog recall 0.8 precision 8/9
    assert per_class(*reference)["cat"] == {"recall": 0.8, "precision": pytest.approx(8 / 12)}
    rows = {r["label"]: r for r in class_deltas_between(reference, other)}
    assert rows["cat"]["recall"]["delta"] == pytest.approx(0.1)
    assert rows["dog"]["precision"]["delta"] == pytest.approx(8 / 9 - 0.75)
    assert class_deltas_between(reference, None) is None


# --- groups ---------------------------------------------------------------------------


def test_group_summaries_and_welch_test_agree_with_numpy_and_scipy(owner):
    a_finals, b_finals = [0.91, 0.92, 0.935, 0.925], [0.90, 0.905, 0.899]
    a = side_of_group("wide", make_group(owner, "wide", a_finals))
    b = side_of_group("narrow", make_group(owner, "narrow", b_finals))

    result = compare(b, [a], keys=["val/acc"])
    row = result.metrics[0]
    ref, side = row["reference"], row["sides"][0]
    assert ref["final"]["value"] == pytest.approx(np.mean(b_finals))
    assert ref["final"]["std"] == pytest.approx(np.std(b_finals, ddof=1))
    assert side["final"]["value"] == pytest.approx(np.mean(a_finals)) and side["final"]["n"] == 4
    assert side["final"]["std"] == pytest.approx(np.std(a_finals, ddof=1))
    expected = stats.ttest_ind(a_finals, b_finals, equal_var=False)
    assert side["test"]["method"] == "welch"
    assert side["test"]["t"] == pytest.approx(expected.statistic)
    assert side["test"]["df"] == pytest.approx(expected.df)
    assert side["test"]["p"] == pytest.approx(expected.pvalue, rel=1e-9)
    assert expected.pvalue < 0.05 and side["verdict"] == "better"
    low, high = side["test"]["interval"]
    assert low < np.mean(a_finals) - np.mean(b_finals) < high and low > 0
    assert compare(b, [a], keys=["val/acc"]).metrics[0]["sides"][0]["test"]["interval"] == [low, high]

    # The curves: mean ± sample std of the runs at every step.
    curve = comparison_curves(b, [a], ["val/acc"], 1500)[0]["lines"][1]
    per_step = np.array([[f * (s + 1) / 5 for s in range(5)] for f in a_finals])
    assert curve["step"] == [0, 1, 2, 3, 4] and curve["n"] == [4] * 5
    assert curve["value"] == pytest.approx(per_step.mean(axis=0).tolist())
    assert curve["std"] == pytest.approx(per_step.std(axis=0, ddof=1).tolist())


def test_groups_whose_difference_is_within_seed_noise_say_so(owner):
    a = side_of_group("a", make_group(owner, "a", [0.90, 0.95, 0.85]))
    b = side_of_group("b", make_group(owner, "b", [0.88, 0.93, 0.87]))
    side = compare(b, [a], keys=["val/acc"]).metrics[0]["sides"][0]
    expected = stats.ttest_ind([0.90, 0.95, 0.85], [0.88, 0.93, 0.87], equal_var=False).pvalue
    assert side["test"]["p"] == pytest.approx(expected) and expected > 0.05
    assert side["delta"]["final"]["better"] == "better"  # the mean is higher...
    assert side["verdict"] == "within noise"  # ...but not beyond seed noise
    assert gate({**compare(b, [a], keys=["val/acc"]).metrics[0], "by": "final"})["fails"] is False


def test_one_run_against_a_group_uses_the_prediction_test(owner):
    group = [0.90, 0.905, 0.899, 0.902]
    b = side_of_group("seeds", make_group(owner, "seeds", group))
    (single,) = make_group(owner, "solo", [0.85])
    side = compare(b, [side_of_run(single)], keys=["val/acc"]).metrics[0]["sides"][0]
    mean, sd, n = np.mean(group), np.std(group, ddof=1), len(group)
    t = (0.85 - mean) / (sd * math.sqrt(1 + 1 / n))
    assert side["test"]["method"] == "prediction"
    assert side["test"]["t"] == pytest.approx(t)
    assert side["test"]["p"] == pytest.approx(2 * stats.t.sf(abs(t), n - 1))
    assert side["verdict"] == "worse"


@pytest.mark.parametrize(
    ("t", "df"), [(0.3, 1.0), (2.5, 4.2), (-7.0, 12.0), (1.96, 1000.0), (15.0, 3.0), (0.0, 5.0)]
)
def test_student_t_p_values_match_scipy(t, df):
    assert noise.t_two_sided_p(t, df) == pytest.approx(2 * stats.t.sf(abs(t), df), rel=1e-9, abs=1e-300)


def test_ranks_are_folded_into_their_mean_before_comparing(owner, pair):
    base, _ = pair
    ddp = make_run(owner, "ddp")
    log(ddp, "val/loss", [0.8, 0.6, 0.4], rank=0)
    log(ddp, "val/loss", [1.0, 0.8, 0.5], rank=1)
    log(ddp, "val/loss", [0.9, 0.7, 0.6], rank=2)
    side = compare(side_of_run(base), [side_of_run(ddp)], keys=["val/loss"]).metrics[0]["sides"][0]
    assert side["ranks"] == 3
    assert side["final"]["value"] == pytest.approx(0.5) and side["final"]["step"] == 2
    assert side["best"]["value"] == pytest.approx(0.5)  # the mean curve's best, not rank 0's 0.4
    curve = comparison_curves(side_of_run(base), [side_of_run(ddp)], ["val/loss"], 1500)[0]["lines"][1]
    assert curve["value"] == pytest.approx([0.9, 0.7, 0.5])
    assert curve["std"] == pytest.approx(
        np.std([[0.8, 0.6, 0.4], [1.0, 0.8, 0.5], [0.9, 0.7, 0.6]], axis=0).tolist()
    )


# --- baselines ------------------------------------------------------------------------


def test_one_active_baseline_per_project_and_the_history_is_kept(owner, pair):
    base, _ = pair
    project = base.project
    first = baseline_set(user=owner, project=project, run=base)
    assert baseline_set(user=owner, project=project, run=base).pk == first.pk  # idempotent
    make_group(owner, "seeds", [0.9, 0.91])
    second = baseline_set(user=owner, project=project, group="seeds", note="3 seeds")
    assert baseline_active(project).pk == second.pk and second.kind == "group"
    assert [b.pk for b in baseline_history(project)] == [second.pk, first.pk]
    first.refresh_from_db()
    assert first.replaced_at is not None
    assert Baseline.objects.active().filter(project=project).count() == 1

    with pytest.raises(NotFound):
        baseline_set(user=owner, project=project, group="no-such-group")
    other = make_run(owner, "elsewhere", project="other")
    with pytest.raises(ApiError) as wrong:
        baseline_set(user=owner, project=project, run=other)
    assert wrong.value.field == "run"


def test_the_database_refuses_two_active_baselines(owner, pair):
    from django.db import IntegrityError, transaction

    base, new = pair
    Baseline.objects.create(project=base.project, run=base, label="base")
    with pytest.raises(IntegrityError), transaction.atomic():
        Baseline.objects.create(project=base.project, run=new, label="new")


def test_comparison_dict_is_plain_json_with_nan_as_strings(owner, pair):
    import orjson

    base, _ = pair
    bad = make_run(owner, "diverged")
    log(bad, "val/loss", [0.9, math.inf])
    data = comparison_dict(compare(side_of_run(base), [side_of_run(bad)], keys=["val/loss"]))
    text = orjson.dumps(data).decode()
    assert '"Infinity"' in text and data["worse"] is True
    assert data["metrics"][0]["sides"][0]["gate"]["fails"] is True


def test_per_class_deltas_come_from_each_runs_last_confusion_matrix(pair):
    from experiments.models import Media

    base, new = pair
    labels = ["cat", "dog"]
    Media.objects.create(
        run=base,
        kind="confusion_matrix",
        name="val",
        step=1,
        uid="a",
        data={"labels": labels, "matrix": [[5, 5], [5, 5]]},
    )
    Media.objects.create(
        run=base,
        kind="confusion_matrix",
        name="val",
        step=4,
        uid="b",
        data={"labels": labels, "matrix": [[8, 2], [4, 6]]},
    )
    Media.objects.create(
        run=base,
        kind="confusion_matrix",
        name="train",
        step=9,
        uid="c",
        data={"labels": labels, "matrix": [[10, 0], [0, 10]]},
    )
    assert compare(side_of_run(base), [side_of_run(new)]).classes is None  # new has none yet
    Media.objects.create(
        run=new,
        kind="confusion_matrix",
        name="val",
        step=4,
        uid="d",
        data={"labels": labels, "matrix": [[9, 1], [2, 8]]},
    )

    (block,) = compare(side_of_run(base), [side_of_run(new)]).classes
    assert block["side"] == str(new.pk)
    cat, dog = block["classes"]
    assert cat["label"] == "cat" and cat["recall"] == {
        "reference": 0.8,
        "value": 0.9,
        "delta": pytest.approx(0.1),
    }
    assert dog["precision"]["reference"] == pytest.approx(0.75)  # val at step 4, not train at step 9
    assert dog["precision"]["delta"] == pytest.approx(8 / 9 - 0.75)


def test_a_deleted_baseline_run_stays_in_the_history_and_comparisons_say_so(owner, pair):
    from experiments.compare.sides import baseline_side

    base, _ = pair
    project = base.project
    baseline = baseline_set(user=owner, project=project, run=base)
    base.delete()
    baseline.refresh_from_db()
    assert baseline.run_id is None and baseline.label == "base"  # history keeps the name
    with pytest.raises(NotFound) as gone:
        baseline_side(owner, project)
    assert "was deleted" in gone.value.message
