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
