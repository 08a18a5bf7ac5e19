"""Each data finding on a real small training built to provoke it, through the SDK, the
server and a diagnosis pass; and healthy trainings (several seeds and data sets) on
which none fires."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits, load_wine

import tracker
from alerts.models import DatasetProfile
from tests import factories
from tests.datachecks.support import data_findings, split, standardised, train

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def project(owner, sdk):
    return factories.project(owner, name="data")


def test_validation_rows_copied_into_training_are_a_leak_with_their_indices(project):
    X, y = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = split(X, y, seed=0)
    copied = np.arange(0, 100, 2)  # 50 validation rows copied into training, at its end
    X_leaky = np.vstack([X_train, X_val[copied]])
    y_leaky = np.concatenate([y_train, y_val[copied]])
    run_id = train("digits", X_leaky, y_leaky, X_val, y_val)

    findings = data_findings(run_id)
    leak = findings["data_leakage"]
    assert leak.severity == "critical"
    assert leak.evidence["overlap_rows"] == 50
    assert leak.evidence["eval_rows"] == len(X_val)
    assert leak.evidence["val_indices"] == copied[:10].tolist()
    assert leak.evidence["train_indices"] == list(range(len(X_train), len(X_train) + 10))
    assert leak.title == "Leakage: 50 val rows are also in train"
    assert "drop the 50 shared rows" in leak.remedies[0]
    assert "duplicate_rows" not in findings  # each split on its own has no repeats


def test_raw_unscaled_features_are_named_with_the_remedy(project):
    X, y = load_wine(return_X_y=True)
    X_train, X_val, y_train, y_val = split(X, y, seed=0)
    run_id = train("wine", X_train, y_train, X_val, y_val)
    finding = data_findings(run_id)["unnormalized_features"]
    assert finding.evidence["largest_feature"] == "12"  # proline, in the hundreds to thousands
    assert finding.evidence["ratio"] > 1000
    assert "StandardScaler().fit(X_train)" in finding.remedies[0]
    assert finding.subject == "wine/train"


def test_nan_and_inf_inputs_are_counted(project):
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_val, y_train, y_val = split(X, y, seed=0)
    X_train, X_val = standardised(X_train, X_val)
    X_train[[3, 7, 11], 5] = np.nan
    X_train[20, 0] = np.inf
    run_id = train("cancer", X_train, y_train, X_val, y_val)
    finding = data_findings(run_id)["nonfinite_inputs"]
    assert (finding.evidence["nan_values"], finding.evidence["inf_values"]) == (3, 1)
    assert finding.evidence["features"] == ["0", "5"]
    assert finding.severity == "critical" and finding.subject == "cancer/train"


def test_class_imbalance_suggests_weights(project):
    X, y = load_digits(return_X_y=True)
    keep = (y != 0) | (np.cumsum(y == 0) <= 12)  # class 0 down to 12 rows
    X_train, X_val, y_train, y_val = split(standardised(X[keep], X[keep])[0], y[keep], seed=0)
    run_id = train("digits", X_train, y_train, X_val, y_val)
    finding = data_findings(run_id)["class_imbalance"]
    counts = finding.evidence["counts"]
    assert counts["0"] == 9 and finding.evidence["ratio"] >= 5
    weights = finding.evidence["class_weights"]
    assert weights["0"] == pytest.approx(sum(counts.values()) / (10 * 9), rel=1e-3)
    assert "CrossEntropyLoss(weight=" in finding.remedies[0]


def test_a_validation_split_from_a_sorted_file_differs_from_training(project):
    X, y = load_breast_cancer(return_X_y=True)
    order = np.argsort(y, kind="stable")  # sorted by class, then split without shuffling
    X, y = X[order], y[order]
    X_std = standardised(X, X)[0]
    cut = int(0.75 * len(X))
    run_id = train("cancer", X_std[:cut], y[:cut], X_std[cut:], y[cut:])
    finding = data_findings(run_id)["split_mismatch"]
    assert finding.evidence["class_distance"] == pytest.approx(212 / 426, abs=1e-3)  # class 0: none in val
    assert finding.evidence["val_share_pct"] == 0
    assert "stratify=y" in finding.remedies[0]


def test_duplicated_rows_are_counted(project):
    X, y = load_wine(return_X_y=True)
    X_train, X_val, y_train, y_val = split(standardised(X, X)[0], y, seed=0)
    X_dup = np.vstack([X_train, X_train[:10]])
    y_dup = np.concatenate([y_train, y_train[:10]])
    run_id = train("wine", X_dup, y_dup, X_val, y_val)
    finding = data_findings(run_id)["duplicate_rows"]
    assert finding.evidence["duplicates"] == 10 and finding.evidence["rows"] == len(X_dup)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("loader", [load_digits, load_wine, load_breast_cancer])
def test_healthy_trainings_get_no_data_finding(project, loader, seed):
    X, y = loader(return_X_y=True)
    X_train, X_val, y_train, y_val = split(X, y, seed=seed)
    if loader is not load_digits:  # digits' pixels share one scale already
        X_train, X_val = standardised(X_train, X_val)
    run_id = train(loader.__name__, X_train, y_train, X_val, y_val, seed=seed)
    assert DatasetProfile.objects.filter(run_id=run_id).count() == 2
    assert data_findings(run_id) == {}


def test_pandas_frames_tensors_and_datasets_are_profiled_alike(project):
    import pandas as pd
    import torch
    from torch.utils.data import TensorDataset

    X, y = load_wine(return_X_y=True)
    run = tracker.init(project="data", name="inputs")
    as_array = tracker.log_dataset("wine", X, y, split="train")
    as_frame = tracker.log_dataset("wine", pd.DataFrame(X), pd.Series(y), split="val")
    as_tensor = tracker.log_dataset("wine", torch.tensor(X), torch.tensor(y), split="test")
    sampled = tracker.log_dataset(
        "wine-ds", TensorDataset(torch.tensor(X), torch.tensor(y)), split="train", max_rows=50
    )
    run_id = run.id
    tracker.finish()
    for profile in (as_frame, as_tensor):
        assert profile["classes"] == as_array["classes"] == {"0": 59, "1": 71, "2": 48}
        assert profile["features"][12]["max"] == as_array["features"][12]["max"] == 1680.0
    assert (sampled["rows"], sampled["sampled_from"]) == (50, 178)
    stored = {(p.name, p.split): p for p in DatasetProfile.objects.filter(run_id=run_id)}
    assert set(stored) == {("wine", "train"), ("wine", "val"), ("wine", "test"), ("wine-ds", "train")}
    assert len(stored["wine", "train"].hashes) == 178
    assert stored["wine", "train"].hashes == stored["wine", "test"].hashes  # the same rows
    # The same rows in train and test: a leak, found without the rows ever being sent.
    leak = data_findings(run_id)["data_leakage"]
    assert leak.evidence["overlap_rows"] == 178
