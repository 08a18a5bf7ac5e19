"""The ground floor of the SDK: the current run, and the process-wide hooks (the exit
that ends it, the forks that must not share its sender).

``tracker.log`` and friends, the hooks, media, checkpoints and the system sampler find
the run here (the last ``init``), so none of them imports the module that defines
``Run``. ``PluginRun`` is what those plug-ins may use of a run, and all they may use: the
contract ``tracker.Run`` keeps for them (and for anything else built on top of a run).

Imports nothing of the SDK.
"""

from __future__ import annotations

import atexit
import os
import sys
import traceback
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol


class PluginRun(Protocol):
    """What a plug-in (``tracker.hooks``, ``tracker.media``, ``tracker.checkpoints``,
    ``tracker.system``) may use of a run. ``tracker.Run`` implements it; see there."""

    id: int | None
    mode: str
    dir: Path | None
    config: dict[str, Any]
    settings: Any  # tracker._env.Settings
    summary: Any  # tracker.summary.Summary: a dict-like

    @property
    def step(self) -> int: ...

    def log_aside(self, data: Mapping[str, Any], step: int) -> None: ...

    def on_finish(self, callback: Callable[[], None]) -> Callable[[], None]: ...

    @property
    def uploader(self) -> Any: ...  # tracker.uploader.Uploader

    def new_client(self) -> Any: ...  # tracker.transport.HttpClient | None


_run: Any = None  # the current run (a tracker.Run), or None
_crash: tuple[Any, Any, Any] | None = None  # an exception that is ending the script
_hooks_installed = False


def get() -> Any:
    """The current run, or None (``tracker.run``)."""
    return _run


def require(what: str = "tracker") -> Any:
    """The current run; ``RuntimeError`` when there is none."""
    if _run is None:
        raise RuntimeError(f"{what}: call tracker.init(...) first")
    return _run


def set_current(run: Any) -> None:
    """Make ``run`` the current run; the first time, hook the process's exit so that a
    run the script leaves open is finished (failed, if an exception ends the script)."""
    global _run, _crash, _hooks_installed
    _run, _crash = run, None
    if not _hooks_installed:
        _hooks_installed = True
        atexit.register(_at_exit)
        previous = sys.excepthook

        def excepthook(exc_type: Any, exc: Any, tb: Any) -> None:
            global _crash
            if _run is not None:
                _crash = (exc_type, exc, tb)
            previous(exc_type, exc, tb)

        sys.excepthook = excepthook


def forget(run: Any) -> None:
    """``run`` ended: there is no current run any more (unless another one is)."""
    global _run, _crash
    if _run is run:
        _run, _crash = None, None


def _at_exit() -> None:
    run = _run
    if run is None:
        return
    if _crash is not None:  # finish() is idempotent: a run already ended stays as it ended
        exc_type, exc, tb = _crash
        code = 130 if issubclass(exc_type, KeyboardInterrupt) else 1
        run.finish(code, error="".join(traceback.format_exception(exc_type, exc, tb)))
    else:
        run.finish()


# -- forks: a child must not share its parent's threads, connections and files -----------
_fork_aware: weakref.WeakSet[Any] = weakref.WeakSet()


def reset_after_fork(obj: Any) -> None:
    """Have ``obj._after_fork_in_child()`` called in every child this process forks
    while ``obj`` lives (a DataLoader worker, a multiprocessing pool)."""
    _fork_aware.add(obj)


def _after_fork() -> None:
    for obj in list(_fork_aware):
        obj._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
