"""Which way is better for a metric, inferred from its name.

Tables show a "best" value and comparisons colour deltas; both need to know whether a
metric is minimised (a loss) or maximised (an accuracy). Names are all we have, so the
rule is one small function that every reader shares.
"""

import re
from typing import Literal

Direction = Literal["min", "max"]

# Long words match anywhere ("trainloss", "val_error_rate"); short ones only as whole
# words, so that "time" does not catch "timestamp" nor "mae" catch "maestro".
_MINIMISED_SUBSTRINGS = ("loss", "error", "perplexity", "latency")
_MINIMISED_WORDS = {"err", "mae", "mse", "rmse", "ppl", "nll", "time", "seconds", "wer", "cer"}
_WORD = re.compile(r"[a-z]+")


def metric_direction(key: str) -> Direction:
    """``"min"`` for names that read like a loss, error or duration, ``"max"`` otherwise."""
    name = key.lower()
    if any(s in name for s in _MINIMISED_SUBSTRINGS):
        return "min"
    return "min" if any(w in _MINIMISED_WORDS for w in _WORD.findall(name)) else "max"


# --- Per-project overrides ----------------------------------------------------------
# A project may overrule the name for one key (MetricDirectionOverride); comparisons and
# the runs table read directions through these functions so the override wins everywhere.


def project_overrides(project) -> dict[str, Direction]:
    """The project's own ``{key: direction}`` (few: read them all)."""
    from experiments.models import MetricDirectionOverride

    return dict(MetricDirectionOverride.objects.filter(project=project).values_list("key", "direction"))


def project_directions(project, keys) -> dict[str, Direction]:
    """``{key: direction}`` for ``keys`` in ``project``: its override, else the name's.
    One query, whatever the number of keys."""
    from experiments.models import MetricDirectionOverride

    # A project's overrides are few: read them all rather than send thousands of keys.
    overrides = dict(MetricDirectionOverride.objects.filter(project=project).values_list("key", "direction"))
    return {key: overrides.get(key) or metric_direction(key) for key in keys}


def project_direction_table(project, keys) -> list[dict]:
    """Every key with its direction and where it comes from (``"override"`` or
    ``"name"``), for the API and the admin-facing pages."""
    from experiments.models import MetricDirectionOverride

    overrides = dict(MetricDirectionOverride.objects.filter(project=project).values_list("key", "direction"))
    keys = sorted(set(keys) | set(overrides))
    return [
        {
            "key": key,
            "direction": overrides.get(key) or metric_direction(key),
            "source": "override" if key in overrides else "name",
            "inferred": metric_direction(key),
        }
        for key in keys
    ]


def direction_override_set(*, project, key: str, direction: str | None):
    """Overrule the name's direction of ``key`` in ``project`` (``"min"``/``"max"``), or
    go back to the name's (``None``). Returns the override row, or None when cleared."""
    from django.utils import timezone

    from experiments.models import MetricDirectionOverride

    if direction is None:
        MetricDirectionOverride.objects.filter(project=project, key=key).delete()
        return None
    if direction not in ("min", "max"):
        raise ValueError(f"direction must be 'min' or 'max', got {direction!r}")
    row, _ = MetricDirectionOverride.objects.update_or_create(
        project=project, key=key, defaults={"direction": direction, "updated_at": timezone.now()}
    )
    return row
