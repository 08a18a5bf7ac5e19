"""Entry points that sweep tests run in trial processes (``tests.tuning.test_entrypoints:...``).

Standard library only at import: a trial process imports this module without Django.
"""

import math
import time

import pytest


def steady(config: dict, run) -> float:
    """Logs ``score`` = x·(1 - 0.5^(epoch+1)) once per epoch, ``delay`` s apart, and
    stops early when asked; returns the last score."""
    score = 0.0
    for epoch in range(int(config.get("epochs", 5))):
        time.sleep(float(config.get("delay", 0.2)))
        score = float(config["x"]) * (1 - 0.5 ** (epoch + 1))
        run.log({"score": score}, step=epoch)
        if run.should_stop():
            break
    return score


def varied(config: dict, run) -> float | None:
    """By ``mode``: ``ok`` logs and returns 1, ``raise`` raises after logging, ``silent``
    logs nothing and returns None, ``exit`` dies without a traceback."""
    mode = config["mode"]
    if mode == "silent":
        return None
    run.log({"score": 1.0}, step=0)
    if mode == "raise":
        raise ValueError(f"no good: mode={mode}")
    if mode == "exit":
        import os

        run.flush()
        os._exit(3)
    return 1.0


def hog(config: dict, run) -> float:
    """Holds ``mb`` MiB of touched memory for a moment, then returns 1."""
    block = bytearray(int(config["mb"]) * 2**20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    time.sleep(0.2)
    run.log({"score": 1.0}, step=0)
    return 1.0


def environ(config: dict, run) -> float:
    """Writes the trial process's whole environment to ``config["out"]`` (JSON): what any
    entry point could read, and send anywhere."""
    import json
    import os

    with open(config["out"], "w") as f:
        json.dump(dict(os.environ), f)
    run.log({"score": 1.0}, step=0)
    return 1.0


@pytest.mark.parametrize("x", [0.5, 2.0])
def test_steady_approaches_x_and_stops_when_asked(x):
    class FakeRun:
        logged: list = []
        stop_after = 2

        def log(self, data, step):
            self.logged.append((step, data["score"]))

        def should_stop(self):
            return len(self.logged) >= self.stop_after

    run = FakeRun()
    value = steady({"x": x, "epochs": 5, "delay": 0}, run)
    assert len(run.logged) == 2
    assert math.isclose(value, x * 0.75)
