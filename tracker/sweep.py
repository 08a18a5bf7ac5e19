"""``tracker.sweep(...)``: create and start a hyperparameter sweep on the server.

    sweep = tracker.sweep(project="digits", entry_point="examples.train_digits:train",
                          space={"lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True}},
                          objective="val/acc", n_trials=20, parallelism=2, config={"epochs": 5})
    sweep.wait()
    print(sweep.best)          # {"params": {...}, "value": 0.98, "run_id": 12, "number": 7}

The trials run on the server's Celery workers (``celery -A dashboard worker``), each as a
normal run of the project; this process only creates the sweep and reads it back.
Standard library only.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from tracker._env import client_from_env
from tracker.transport import HttpClient

ENDED = ("finished", "stopped", "failed")


class Sweep:
    """A sweep on the server. Attributes mirror the API (``id``, ``status``, ``name``,
    ``url``, ``n_trials``...); ``refresh()`` reads them again."""

    def __init__(self, client: HttpClient, data: dict[str, Any]):
        self._client = client
        self._data = data

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_data"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        counts = self._data.get("trials") or {}
        done = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
        name, sweep_id = self._data.get("name"), self._data.get("id")
        return f"<tracker.Sweep {name} id={sweep_id} {self.status} ({done or 'no trials'})>"

    @property
    def data(self) -> dict[str, Any]:
        """The sweep exactly as the API last returned it."""
        return self._data

    def _path(self, action: str = "") -> str:
        return f"/api/v1/sweeps/{int(self._data['id'])}" + (f"/{action}" if action else "")

    def refresh(self) -> Sweep:
        self._data = self._client.request("GET", self._path())
        return self

    @property
    def status(self) -> str:
        return self._data["status"]

    @property
    def done(self) -> bool:
        return self._data["status"] in ENDED

    def wait(self, timeout: float | None = None, poll: float = 2.0) -> Sweep:
        """Block until the sweep has finished, stopped or failed; ``TimeoutError`` after
        ``timeout`` seconds (the sweep goes on running on the server)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.refresh().done:
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"sweep {self.id} is still {self.status} after {timeout} s")
            pause = poll if deadline is None else min(poll, max(0.0, deadline - time.monotonic()))
            time.sleep(pause)
        return self

    @property
    def best(self) -> dict[str, Any] | None:
        """The best complete trial so far: ``params``, ``value``, ``run_id``, ``number``."""
        return self.refresh()._data.get("best")

    def trials(self) -> list[dict[str, Any]]:
        """Every trial: number, state, params, value, intermediate values, run_id, error,
        peak memory..."""
        return list(self._client.request("GET", self._path("trials"))["trials"])

    def stop(self) -> Sweep:
        """Start no more trials and ask the running ones to stop."""
        self._data = self._client.request("POST", self._path("stop"), {})
        return self

    def resume(self) -> Sweep:
        """Continue a stopped sweep up to ``n_trials``."""
        self._data = self._client.request("POST", self._path("start"), {})
        return self


def sweep(
    project: str,
    entry_point: str,
    space: Mapping[str, Mapping[str, Any]],
    objective: str,
    direction: str | None = None,
    n_trials: int = 20,
    sampler: str = "tpe",
    pruner: str = "median",
    parallelism: int = 1,
    config: Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
    seed: int | None = None,
    sampler_options: Mapping[str, Any] | None = None,
    pruner_options: Mapping[str, Any] | None = None,
    start: bool = True,
    server: str | None = None,
    api_key: str | None = None,
    timeout: float = 30.0,
) -> Sweep:
    """Create a sweep of ``entry_point`` (``module:function(config, run)``, importable on
    the workers) over ``space`` and start it (unless ``start=False``).

    ``direction`` defaults to the objective's name (``*loss*`` is minimised, else
    maximised). A bad argument raises ``RequestFailed`` naming the field, e.g.
    ``space.lr: 'low' (0.1) must not be above 'high' (0.01)``.
    """
    client = client_from_env(server, api_key, who="tracker.sweep", timeout=timeout)
    body: dict[str, Any] = {
        "project": project,
        "entry_point": entry_point,
        "space": {k: dict(v) for k, v in space.items()},
        "objective": objective,
        "n_trials": n_trials,
        "sampler": sampler,
        "pruner": pruner,
        "parallelism": parallelism,
        "config": dict(config or {}),
        "start": start,
    }
    optional = {
        "direction": direction,
        "name": name,
        "seed": seed,
        "sampler_options": dict(sampler_options) if sampler_options else None,
        "pruner_options": dict(pruner_options) if pruner_options else None,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return Sweep(client, client.request("POST", "/api/v1/sweeps", body))
