"""``tracker.alert``: an alert from training code, sent through the project's alert rules
(the "tracker.alert()" rules on the project's Alerts page) like the server's own.

    if val_acc < 0.5 and epoch > 10:
        tracker.alert("Accuracy too low", f"val/acc {val_acc:.3f} at epoch {epoch}", level="warning")

Sent at once, on a connection of its own; it never raises for a server that cannot be
reached (training goes on; a warning says the alert was lost). The same title and text
alert once per run; a rule's cooldown applies.
"""

from __future__ import annotations

import logging
from typing import Any

from tracker import _current
from tracker._current import PluginRun
from tracker.transport import RequestFailed, run_path

logger = logging.getLogger("tracker")

LEVELS = ("info", "warning", "critical")
MAX_TITLE = 200
MAX_TEXT = 10_000


def alert(
    title: str,
    text: str = "",
    level: str = "info",
    *,
    step: int | None = None,
    run: PluginRun | None = None,
) -> dict[str, Any] | None:
    """Send an alert about the current run (or ``run``). ``level``: info, warning or
    critical; ``step`` (default: the step of the last ``log()``) is where the message's
    link opens the run page. Returns the server's answer (``{"rules": [...],
    "deliveries": n}``; no rules: nothing is configured to receive it), or None offline
    or when the server could not be reached."""
    if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE:
        raise ValueError(f"tracker.alert: title must be a non-empty string of at most {MAX_TITLE} characters")
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise ValueError(f"tracker.alert: text must be a string of at most {MAX_TEXT} characters")
    if level not in LEVELS:
        raise ValueError(f"tracker.alert: level must be one of {', '.join(LEVELS)}, got {level!r}")
    run = run if run is not None else _current.require("tracker.alert")
    if step is None:
        step = max(0, run.step - 1)  # the last logged step
    client = run.new_client() if run.id is not None else None
    if client is None:
        logger.warning("tracker.alert(%r) is not sent: the run is offline", title)
        return None
    try:
        return client.request(
            "POST", run_path(run.id, "alerts"), {"title": title, "text": text, "level": level, "step": step}
        )
    except RequestFailed as exc:
        logger.warning("tracker.alert(%r) was not sent: %s", title, exc)
        return None
    finally:
        client.close()
