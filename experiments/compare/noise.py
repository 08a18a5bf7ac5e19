"""Is a difference beyond seed noise? Welch's t-test, a prediction test for one run
against a group, and a bootstrap interval, on per-run values (final or best).

Implemented here with numpy rather than imported from scipy: the server needs three
formulas and the Student t distribution, and scipy would add ~100 MB to every web
process for them. The tests check these against ``scipy.stats`` on the same numbers.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05
BOOTSTRAP_RESAMPLES = 4000


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 3e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom."""
    t, df = float(t), float(df)
    if math.isnan(t) or df <= 0:
        return math.nan
    if math.isinf(t):
        return 0.0
    return betainc(df / 2.0, 0.5, df / (df + t * t))


@dataclass
class TestResult:
    """A test of ``subject - reference`` (means). ``p`` is two-sided; ``interval`` is a
    95% bootstrap interval of the difference of means (groups on both sides only)."""

    method: str
    diff: float
    t: float | None
    df: float | None
    p: float | None
    interval: tuple[float, float] | None = None


def welch(subject: Sequence[float], reference: Sequence[float]) -> TestResult:
    """Welch's unequal-variance t-test; both sides need at least two values."""
    a, b = np.asarray(subject, dtype=float), np.asarray(reference, dtype=float)
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        raise ValueError("Welch's t-test needs at least two values on each side")
    va, vb = float(a.var(ddof=1)) / na, float(b.var(ddof=1)) / nb
    diff = float(a.mean() - b.mean())
    se2 = va + vb
    if se2 == 0:
        # No spread at all: any difference is certain, none is no evidence.
        return TestResult("welch", diff, None, None, 0.0 if diff else 1.0)
    t = diff / math.sqrt(se2)
    df = se2**2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    return TestResult("welch", diff, t, float(df), t_two_sided_p(t, df))


def prediction(value: float, group: Sequence[float], sign: float = 1.0) -> TestResult:
    """One run against a group: is ``value`` a plausible new draw from the group?

    t = (value - mean) / (s * sqrt(1 + 1/n)), df = n - 1: the prediction-interval test,
    which accounts for both the group's spread and the uncertainty of its mean. ``sign``
    -1 reports the difference as group minus value (when the single run is the reference).
    """
    g = np.asarray(group, dtype=float)
    n = len(g)
    if n < 2:
        raise ValueError("a prediction test needs at least two values in the group")
    diff = sign * float(value - g.mean())
    scale = float(g.std(ddof=1)) * math.sqrt(1.0 + 1.0 / n)
    if scale == 0:
        return TestResult("prediction", diff, None, None, 0.0 if diff else 1.0)
    t = diff / scale
    return TestResult("prediction", diff, t, float(n - 1), t_two_sided_p(t, n - 1))


def bootstrap_interval(
    subject: Sequence[float], reference: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """A 95% percentile bootstrap interval of mean(subject) - mean(reference), with a
    fixed seed so a page shows the same interval on every load."""
    rng = np.random.default_rng(seed)
    a, b = np.asarray(subject, dtype=float), np.asarray(reference, dtype=float)
    ma = a[rng.integers(0, len(a), size=(resamples, len(a)))].mean(axis=1)
    mb = b[rng.integers(0, len(b), size=(resamples, len(b)))].mean(axis=1)
    lo, hi = np.percentile(ma - mb, [2.5, 97.5])
    return float(lo), float(hi)


def noise_test(subject: Sequence[float], reference: Sequence[float]) -> TestResult | None:
    """The test that fits the sizes of the two sides, or None when neither side has two
    values (one run against one run: there is no estimate of seed noise)."""
    ns, nr = len(subject), len(reference)
    if ns >= 2 and nr >= 2:
        result = welch(subject, reference)
        result.interval = bootstrap_interval(subject, reference)
        return result
    if ns == 1 and nr >= 2:
        return prediction(subject[0], reference)
    if ns >= 2 and nr == 1:
        return prediction(reference[0], subject, sign=-1.0)
    return None


def verdict(improvement: float | None, test: TestResult | None, alpha: float = ALPHA) -> str:
    """``better`` / ``worse`` / ``within noise`` when a test was possible; ``better`` /
    ``worse`` / ``same`` on the raw difference otherwise. ``improvement`` is the
    difference signed so that positive is better (direction applied)."""
    if improvement is None or math.isnan(improvement):
        return "n/a"
    if test is not None and test.p is not None and not math.isnan(test.p) and test.p >= alpha:
        return "within noise"
    if improvement > 0:
        return "better"
    if improvement < 0:
        return "worse"
    return "same"
