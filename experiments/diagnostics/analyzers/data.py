"""Data checks, from the data set profiles ``tracker.log_dataset`` uploads (stored by the
alerts app, ``alerts.models.DatasetProfile``): train/validation leakage, NaN or inf
inputs, unnormalised features, class imbalance, duplicate rows, and a validation split
whose classes or features differ from training. They judge the data, not the curves, so
they speak before the first step is logged."""

from __future__ import annotations

import math
from typing import Any

from experiments.diagnostics import stats
from experiments.diagnostics.base import Analyzer, Finding
from experiments.diagnostics.data import TRAIN_SPLITS, VAL_SPLITS, RunData
from experiments.diagnostics.models import FindingSeverity

EXAMPLES = 10


def _profiles(run: RunData) -> list[Any]:
    from alerts.models import DatasetProfile  # the alerts app stores them

    return list(DatasetProfile.objects.filter(run=run.run).order_by("name", "split"))


def _is_train(split: str) -> bool:
    return split.lower() in TRAIN_SPLITS


def _is_eval(split: str) -> bool:
    return split.lower() in VAL_SPLITS


def _where(p: Any) -> str:
    return f"{p.name}/{p.split}"


class DataChecks(Analyzer):
    name = "data"
    title = "Data checks (tracker.log_dataset)"
    priority = 5  # a data bug invalidates everything measured on it
    thresholds = {
        "leakage_min_rows": 1,
        "scale_ratio": 100.0,
        "imbalance_ratio": 5.0,
        "duplicate_pct": 1.0,
        "class_shift": 0.2,
        "feature_shift": 1.0,
        "min_rows": 20,
    }
    threshold_help = {
        "leakage_min_rows": "evaluation rows also found in training that make a leak",
        "scale_ratio": "unnormalised: the largest feature magnitude is this many times the smallest",
        "imbalance_ratio": "imbalance: the largest class has this many times the examples of the smallest",
        "duplicate_pct": "duplicates: this percentage of a split's rows repeat an earlier row",
        "class_shift": "split mismatch: total variation distance between the splits' class shares",
        "feature_shift": "split mismatch: a feature's mean differs by this many standard deviations",
        "min_rows": "rows a split needs before its balance or distribution is judged",
    }

    def analyze(self, run: RunData, limits: dict[str, float]) -> list[Finding]:
        profiles = _profiles(run)
        if not profiles:
            return []
        findings: list[Finding | None] = []
        trains = [p for p in profiles if _is_train(p.split)]
        evals = [p for p in profiles if _is_eval(p.split)]
        for evaluation in evals:
            for train in self._partners(evaluation, trains):
                findings.append(self._leakage(train, evaluation, limits))
                findings.append(self._shift(train, evaluation, limits))
        for p in profiles:
            findings.append(self._nonfinite(p))
            findings.append(self._duplicates(p, limits))
        for p in trains:
            findings.append(self._scales(p, limits))
            findings.append(self._imbalance(p, limits))
        return [f for f in findings if f is not None]

    @staticmethod
    def _partners(evaluation: Any, trains: list[Any]) -> list[Any]:
        """The training split of the same data set, else every training split."""
        same = [t for t in trains if t.name == evaluation.name]
        return same or trains

    # -- leakage -------------------------------------------------------------------------
    def _leakage(self, train: Any, evaluation: Any, limits) -> Finding | None:
        if not train.hashes or not evaluation.hashes:
            return None
        first_in_train: dict[str, int] = {}
        for i, h in enumerate(train.hashes):
            first_in_train.setdefault(h, i)
        shared = [(i, first_in_train[h]) for i, h in enumerate(evaluation.hashes) if h in first_in_train]
        if len(shared) < max(1, limits["leakage_min_rows"]):
            return None
        rows = len(evaluation.hashes)
        share = len(shared) / rows
        examples = shared[:EXAMPLES]
        return Finding(
            kind="data_leakage",
            subject=f"{_where(train)}~{_where(evaluation)}",
            severity=FindingSeverity.CRITICAL,
            title=f"Leakage: {len(shared)} {evaluation.split} rows are also in {train.split}",
            summary=(
                f"{len(shared)} of the {rows} rows of {_where(evaluation)} ({stats.pct(share)}) are "
                "identical to "
                f"rows of {_where(train)}: e.g. {evaluation.split} row {examples[0][0]} = {train.split} row "
                f"{examples[0][1]}."
            ),
            explanation=(
                "A model is scored on examples it was trained on, so the validation numbers measure memory, "
                "not generalisation: they look better than the model is, and early stopping, model selection "
                "and hyperparameter search all chase the leak."
            ),
            remedies=[
                "Split before any augmentation, oversampling or de-duplication, and de-duplicate "
                "across splits: "
                f"drop the {len(shared)} shared rows from {evaluation.split}.",
                "Split by the unit that repeats (patient, user, document, video) with GroupShuffleSplit / "
                "GroupKFold, not by row.",
                "Re-run the evaluation on the cleaned split before trusting any result of this run.",
            ],
            evidence={
                "overlap_rows": len(shared),
                "overlap_pct": stats.rounded(100 * share, 3),
                "eval_rows": rows,
                "train_rows": len(train.hashes),
                f"{evaluation.split}_indices": [i for i, _ in examples],
                f"{train.split}_indices": [j for _, j in examples],
            },
        )

    # -- distribution shift between splits --------------------------------------------------
    def _shift(self, train: Any, evaluation: Any, limits) -> Finding | None:
        a, b = train.profile, evaluation.profile
        if min(a.get("rows", 0), b.get("rows", 0)) < limits["min_rows"]:
            return None
        evidence: dict[str, Any] = {}
        parts: list[str] = []
        classes_a, classes_b = a.get("classes"), b.get("classes")
        if classes_a and classes_b:
            labels = sorted(set(classes_a) | set(classes_b))
            total_a, total_b = sum(classes_a.values()), sum(classes_b.values())
            shares_a = {k: classes_a.get(k, 0) / total_a for k in labels}
            shares_b = {k: classes_b.get(k, 0) / total_b for k in labels}
            distance = 0.5 * sum(abs(shares_a[k] - shares_b[k]) for k in labels)
            if distance >= limits["class_shift"]:
                worst = max(labels, key=lambda k: abs(shares_a[k] - shares_b[k]))
                evidence |= {
                    "class_distance": stats.rounded(distance, 3),
                    "class": worst,
                    f"{train.split}_share_pct": stats.rounded(100 * shares_a[worst], 3),
                    f"{evaluation.split}_share_pct": stats.rounded(100 * shares_b[worst], 3),
                }
                parts.append(
                    f"class {worst} is {stats.pct(shares_a[worst])} of {train.split} but "
                    f"{stats.pct(shares_b[worst])} of {evaluation.split}"
                )
        shifted = []
        features_a, features_b = a.get("features") or [], b.get("features") or []
        if len(features_a) == len(features_b):
            for fa, fb in zip(features_a, features_b, strict=True):
                if None in (fa.get("mean"), fb.get("mean"), fa.get("std"), fb.get("std")):
                    continue
                spread = max(fa["std"], fb["std"])
                if spread <= 0:
                    continue
                gap = abs(fa["mean"] - fb["mean"]) / spread
                if gap >= limits["feature_shift"]:
                    shifted.append((gap, fa["name"], fa["mean"], fb["mean"]))
        if shifted:
            shifted.sort(reverse=True)
            gap, feature, mean_a, mean_b = shifted[0]
            evidence |= {
                "shifted_features": len(shifted),
                "feature": feature,
                f"{train.split}_mean": stats.rounded(mean_a, 4),
                f"{evaluation.split}_mean": stats.rounded(mean_b, 4),
                "std_gap": stats.rounded(gap, 3),
            }
            parts.append(
                f"{len(shifted)} feature(s) differ in mean, most {feature!s} "
                f"({stats.fmt(mean_a)} vs {stats.fmt(mean_b)}, {stats.fmt(gap)} std apart)"
            )
        if not parts:
            return None
        return Finding(
            kind="split_mismatch",
            subject=f"{_where(train)}~{_where(evaluation)}",
            severity=FindingSeverity.WARNING,
            title=f"{evaluation.split.capitalize()} split unlike {train.split}",
            summary=f"{_where(evaluation)} against {_where(train)}: " + "; ".join(parts) + ".",
            explanation=(
                "A validation split drawn from a different distribution than training measures something "
                "else than the model learnt: its score moves for reasons unrelated to the model, and choices "
                "made on it do not carry over."
            ),
            remedies=[
                "Draw the splits at random from the same pool, stratified by class: "
                "train_test_split(X, y, test_size=0.2, stratify=y, shuffle=True).",
                "If the data is ordered (by time, source, class), shuffle before splitting, or make "
                "the shift "
                "deliberate and name it (a time-based split).",
            ],
            evidence=evidence,
        )

    # -- one split -----------------------------------------------------------------------
    def _nonfinite(self, p: Any) -> Finding | None:
        bad = [f for f in p.profile.get("features", []) if f.get("nan") or f.get("inf")]
        if not bad:
            return None
        nan = sum(f["nan"] for f in bad)
        inf = sum(f["inf"] for f in bad)
        rows = p.profile.get("rows", 0)
        affected = p.profile.get("nan_rows", 0) + p.profile.get("inf_rows", 0)
        names = [f["name"] for f in bad[:EXAMPLES]]
        return Finding(
            kind="nonfinite_inputs",
            subject=_where(p),
            severity=FindingSeverity.CRITICAL,
            title=f"NaN/inf in the inputs of {_where(p)}",
            summary=(
                f"{len(bad)} feature(s) of {_where(p)} hold {nan} NaN and {inf} infinite values "
                f"(in about {affected} of {rows} rows), e.g. {', '.join(names)}."
            ),
            explanation=(
                "One NaN in a batch's inputs makes that batch's loss and gradients NaN, and one optimiser "
                "step with them makes the weights NaN for good. Infinite values do the same once multiplied."
            ),
            remedies=[
                "Impute missing values (e.g. sklearn.impute.SimpleImputer(strategy='median')) fitted on the "
                "training split, or drop the rows.",
                "Find where they come from: a division by zero or log(0) in feature engineering, a "
                "failed parse.",
                "Assert torch.isfinite(x).all() in the data pipeline while debugging.",
            ],
            evidence={"nan_values": nan, "inf_values": inf, "features": names, "rows": rows},
        )

    def _duplicates(self, p: Any, limits) -> Finding | None:
        rows = p.profile.get("rows", 0)
        duplicates = p.profile.get("duplicates", 0)
        if not rows or not duplicates or 100 * duplicates / rows < limits["duplicate_pct"]:
            return None
        return Finding(
            kind="duplicate_rows",
            subject=_where(p),
            severity=FindingSeverity.WARNING,
            title=f"{duplicates} duplicate rows in {_where(p)}",
            summary=(
                f"{duplicates} of the {rows} rows of {_where(p)} ({stats.pct(duplicates / rows)}) "
                "repeat an earlier row."
            ),
            explanation=(
                "Repeated rows weigh some examples more than others without anyone deciding so, and when the "
                "data is split afterwards their copies land on both sides: a leak."
            ),
            remedies=[
                "De-duplicate before splitting (pandas: df.drop_duplicates()), unless the repetition is a "
                "deliberate oversampling.",
            ],
            evidence={
                "duplicates": duplicates,
                "rows": rows,
                "duplicate_pct": stats.rounded(100 * duplicates / rows, 3),
            },
        )

    def _scales(self, p: Any, limits) -> Finding | None:
        magnitudes = []
        for f in p.profile.get("features", []):
            if f.get("min") is None or f.get("max") is None:
                continue
            magnitude = max(abs(f["min"]), abs(f["max"]))
            if magnitude > 0:
                magnitudes.append((magnitude, f["name"]))
        if len(magnitudes) < 2:
            return None
        magnitudes.sort()
        (small, small_name), (big, big_name) = magnitudes[0], magnitudes[-1]
        ratio = big / small
        if ratio < limits["scale_ratio"]:
            return None
        orders = math.log10(ratio)
        return Finding(
            kind="unnormalized_features",
            subject=_where(p),
            severity=FindingSeverity.WARNING,
            title=f"Unnormalised features: scales differ {orders:.1f} orders of magnitude",
            summary=(
                f"In {_where(p)}, feature {big_name} reaches {stats.fmt(big)} while {small_name} stays "
                "within "
                f"{stats.fmt(small)} ({stats.fmt(ratio)}×)."
            ),
            explanation=(
                "Gradient descent takes one step size for every weight: the large-scale features "
                "dominate the "
                "first layer's activations and gradients, the small ones are learnt slowly or not at "
                "all, and "
                "the learning rate that is stable for one is far too small for the other."
            ),
            remedies=[
                "Standardise the inputs with statistics of the training split only: "
                "scaler = sklearn.preprocessing.StandardScaler().fit(X_train); X = scaler.transform(X).",
                "Or normalise inside the model (nn.BatchNorm1d / nn.LayerNorm on the inputs), or "
                "log-transform "
                "heavy-tailed features.",
            ],
            evidence={
                "largest_feature": big_name,
                "largest_magnitude": stats.rounded(big, 4),
                "smallest_feature": small_name,
                "smallest_magnitude": stats.rounded(small, 4),
                "ratio": stats.rounded(ratio, 3),
            },
        )

    def _imbalance(self, p: Any, limits) -> Finding | None:
        classes = p.profile.get("classes") or {}
        counts = {k: v for k, v in classes.items() if v > 0}
        if len(counts) < 2 or sum(counts.values()) < limits["min_rows"]:
            return None
        big = max(counts, key=counts.get)
        small = min(counts, key=counts.get)
        ratio = counts[big] / counts[small]
        if ratio < limits["imbalance_ratio"]:
            return None
        total = sum(counts.values())
        weights = {k: stats.rounded(total / (len(counts) * v), 4) for k, v in sorted(counts.items())}
        return Finding(
            kind="class_imbalance",
            subject=f"data:{_where(p)}",
            severity=FindingSeverity.WARNING,
            title=f"Imbalanced {p.split} set: class {big} has {stats.fmt(ratio)}× the examples of {small}",
            summary=(
                f"In {_where(p)}, class {big} has {counts[big]} rows and class {small} {counts[small]} "
                f"({len(counts)} classes, {total} rows)."
            ),
            explanation=(
                "Trained on uneven classes, a model gains most by getting the common ones right and "
                "may neglect "
                "the rare ones, and plain accuracy hides it."
            ),
            remedies=[
                "Weight the loss by inverse class frequency: "
                f"nn.CrossEntropyLoss(weight=torch.tensor({list(weights.values())})) "
                f"(classes {', '.join(weights)}).",
                "Or oversample the rare classes: torch.utils.data.WeightedRandomSampler with weights "
                "1/count.",
                "Judge by macro-F1 or balanced accuracy.",
            ],
            evidence={
                "counts": dict(sorted(counts.items())),
                "ratio": stats.rounded(ratio, 3),
                "class_weights": weights,
            },
        )
