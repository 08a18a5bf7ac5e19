"""Run events: the one way a change to a run travels to whatever reacts to it.

Services (and the media and diagnostics stores) ``emit`` an event when they change a run;
each subscribed listener is called with ``(run_id, project_id, event)`` once the change
has committed, so nobody reacts to a change that was rolled back, and never inside the
writer's transaction. An event is a small JSON-able dict with a ``"type"``:

- ``{"type": "created"}``: a new run;
- ``{"type": "status", "status": ...}``: running again (resume, a heartbeat after a
  crash), finished or failed (``services.run_finish``), crashed (silent too long);
- ``{"type": "points", "keys": [...]}``: a batch of points committed;
- ``{"type": "media", "kinds": [...]}``: media stored;
- ``{"type": "findings", "changed": bool, "counts": {...}, "total": n}``: a diagnosis pass.

Events flow one way: this module imports nothing of the project, emitters import it, and
listeners are wired in ``AppConfig.ready`` (``experiments.apps``: the live push and the
Celery follow-ups of a finished run; ``experiments.diagnostics.apps``: live diagnosis and
the end-of-run diagnosis task). Nothing subscribes by being imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.db import transaction

if TYPE_CHECKING:
    from experiments.models import Run

Listener = Callable[[int, int, dict], None]

_listeners: list[Listener] = []


def subscribe(listener: Listener) -> None:
    """Call ``listener(run_id, project_id, event)`` after every emitted event commits, in
    the order listeners subscribed. Subscribing one twice is a no-op (``ready`` may run
    more than once)."""
    if listener not in _listeners:
        _listeners.append(listener)


def unsubscribe(listener: Listener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def emit(run: Run, event: dict) -> None:
    """Tell every listener about ``event`` of ``run`` once the current transaction commits
    (at once outside a transaction). Each listener is its own ``on_commit`` callback."""
    run_id, project_id = run.pk, run.project_id
    for listener in list(_listeners):
        transaction.on_commit(lambda listener=listener: listener(run_id, project_id, event))
