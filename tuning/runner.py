"""The process one trial runs in: ``python -m tuning.runner SPEC.json``.

A fresh interpreter per trial is what guarantees that the host and GPU memory of one
trial is returned to the system before the next starts (CUDA caches, leaked tensors and
fragmented allocators die with the process). This module imports neither Django nor the
server's code: only the SDK, the entry point and the standard-library-only allowlist
check (``tuning.entrypoints``).

SPEC.json holds ``entry_point``, ``allowed_modules`` (the worker's
``TUNING_ENTRY_POINT_MODULES``), ``run_id``, ``project``, ``config``, ``parent_pid`` and
``result`` (where to write the outcome); the server URL and API key come in the usual
``TRACKER_SERVER`` / ``TRACKER_API_KEY`` variables. The outcome file holds ``value``,
``error`` (a traceback), ``stopped`` and the peak GPU memory. A ``returned`` file beside
it, written the moment the entry point returns (before the run's last points are sent),
tells the supervisor that no report can follow: a pruner's verdict on the last report
must not prune a trial that has already done all its work.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from tuning.entrypoints import refusal


def _die_with_parent(parent_pid: int) -> None:
    """A worker killed mid-trial must not leave its training running: on Linux the kernel
    kills us with it (PR_SET_PDEATHSIG); elsewhere, a thread notices the re-parenting."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(137)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(137)

    threading.Thread(target=watch, name="tuning-parent-watch", daemon=True).start()


def load_entry_point(spec: str, allowed_modules: list[str]) -> Any:
    """Import ``module:function``, once its module is known to be in the worker's
    allowlist (``TUNING_ENTRY_POINT_MODULES``, passed in the spec): importing a module
    already runs its code."""
    refused = refusal(spec, allowed_modules)
    if refused:
        raise PermissionError(f"refused to run {spec!r}: {refused}")
    module_name, _, function = spec.partition(":")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, function)
    except AttributeError:
        raise AttributeError(f"module {module_name!r} has no function {function!r}") from None


def _as_value(result: Any) -> float | None:
    """The entry point's return value as the objective (None: use the logged metric)."""
    if result is None:
        return None
    item = getattr(result, "item", None)
    if callable(item):
        result = item()
    if isinstance(result, bool) or not isinstance(result, (int, float)):
        raise TypeError(
            f"the entry point returned {type(result).__name__}; "
            "return the objective's value (a number) or None"
        )
    return float(result)


def _gpu_peaks() -> dict[str, int | None]:
    """Peak CUDA memory over all devices, if this trial used CUDA (torch is not imported
    for a trial that did not import it)."""
    torch = sys.modules.get("torch")
    try:
        if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
            return {"peak_gpu_bytes": None, "peak_gpu_reserved_bytes": None}
        devices = range(torch.cuda.device_count())
        return {
            "peak_gpu_bytes": sum(int(torch.cuda.max_memory_allocated(d)) for d in devices),
            "peak_gpu_reserved_bytes": sum(int(torch.cuda.max_memory_reserved(d)) for d in devices),
        }
    except Exception:
        return {"peak_gpu_bytes": None, "peak_gpu_reserved_bytes": None}


def returned_marker(result: Path) -> Path:
    """The file that says the trial's entry point has returned (its content: the time)."""
    return result.with_name("returned")


def _write(path: Path, outcome: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(outcome, allow_nan=False))
    os.replace(tmp, path)


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    _die_with_parent(int(spec["parent_pid"]))
    result_path = Path(spec["result"])
    outcome: dict[str, Any] = {"value": None, "error": "", "stopped": False}
    try:
        function = load_entry_point(spec["entry_point"], spec.get("allowed_modules", []))
    except BaseException:
        outcome["error"] = traceback.format_exc()
        _write(result_path, outcome)
        return 1

    import tracker

    try:
        run = tracker.init(project=spec["project"], id=int(spec["run_id"]), config=spec["config"])
        if run.mode != "online":
            # The SDK falls back to offline when the server is away; a trial must not:
            # its pruner reads the run on the server.
            run.finish()
            raise tracker.TrackerError(
                f"cannot reach the tracker server at {os.environ.get('TRACKER_SERVER')} "
                "(the workers' TRACKER_PUBLIC_URL must be an address they can reach)"
            )
    except Exception:
        outcome["error"] = traceback.format_exc()
        _write(result_path, outcome)
        return 1
    code = 0
    started = time.monotonic()
    try:
        with run:
            returned = function(dict(spec["config"]), run)
            # Before finish() sends the last points: the supervisor may see the last
            # report only now, and must know that nothing follows it.
            returned_marker(result_path).write_text(repr(time.time()))
            value = _as_value(returned)
            outcome["entry_seconds"] = time.monotonic() - started
            if value is not None and not math.isfinite(value):
                outcome["error"] = f"the entry point returned {value}"
                code = 1
            else:
                outcome["value"] = value
    except BaseException as exc:
        outcome["error"] = traceback.format_exc()
        code = 130 if isinstance(exc, KeyboardInterrupt) else 1
    outcome["stopped"] = run.should_stop()
    finished = run.finish()
    outcome["pending_batches"] = finished.pending_batches
    outcome.update(_gpu_peaks())
    _write(result_path, outcome)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
