"""Baselines and comparisons from code and from ``python -m tracker``.

    from tracker.compare import baseline_set, compare
    baseline_set("seeds-v1", project="digits")        # a group; a number is a run id
    result = compare(42, against="baseline", metrics=["val/acc"], tolerance=0.01)
    result["worse"]                                    # True: beyond tolerance on some metric

Standard library only; the server computes everything (see ``experiments.compare``).
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any
from urllib.parse import quote, urlencode

from tracker._env import client_from_env
from tracker.transport import HttpClient, TrackerError, run_path
from tracker.values import decode_value


def client(server: str | None = None, api_key: str | None = None) -> HttpClient:
    return client_from_env(server, api_key, who="tracker.compare", timeout=60.0)


def _project_url(project: str, action: str) -> str:
    return f"/api/v1/projects/{quote(project, safe='')}/{action}"


def is_run_id(token: str | int) -> bool:
    return isinstance(token, int) or str(token).strip().isdigit()


def group_project(http: HttpClient, group: str) -> str:
    """The one project that has runs in ``group``; TrackerError when none or several."""
    found = http.request("GET", "/api/v1/groups?" + urlencode({"name": group}))["groups"]
    if not found:
        raise TrackerError(f"no project of yours has a run in group {group!r}")
    if len(found) > 1:
        names = ", ".join(g["project"] for g in found)
        raise TrackerError(f"group {group!r} exists in several projects ({names}): give --project")
    return found[0]["project"]


def baseline_set(
    run_or_group: str | int,
    *,
    project: str | None = None,
    note: str = "",
    server: str | None = None,
    api_key: str | None = None,
) -> dict[str, Any]:
    """Make a run (a number: its id) or a group (anything else) the project's baseline.
    A run's project is its own; a group's is ``project``, or the only one that has it."""
    http = client(server, api_key)
    try:
        if is_run_id(run_or_group):
            run = http.request("GET", run_path(int(run_or_group)))
            if project and project != run["project"]:
                raise TrackerError(f"run {run['id']} belongs to project {run['project']!r}, not {project!r}")
            body: dict[str, Any] = {"run": run["id"]}
            project = run["project"]
        else:
            group = str(run_or_group)
            group = group[len("group:") :] if group.startswith("group:") else group
            project = project or group_project(http, group)
            body = {"group": group}
        if note:
            body["note"] = note
        return http.request("POST", _project_url(project, "baseline"), body)
    finally:
        http.close()


def compare(
    run: str | int,
    *,
    against: str | int = "baseline",
    project: str | None = None,
    metrics: list[str] | None = None,
    by: str = "final",
    tolerance: float = 0.0,
    abs_tolerance: float = 0.0,
    server: str | None = None,
    api_key: str | None = None,
) -> dict[str, Any]:
    """The server's comparison of ``run`` (an id, or ``group:NAME``) with ``against``
    (``"baseline"``, a run id or ``group:NAME``). ``result["worse"]`` is True when some
    metric is worse beyond the tolerance (see ``gate`` in the README)."""
    http = client(server, api_key)
    params: list[tuple[str, str]] = [("against", str(against)), ("by", by)]
    params += [("metric", key) for key in metrics or ()]
    params += [("tolerance", repr(float(tolerance))), ("abs_tolerance", repr(float(abs_tolerance)))]
    try:
        if is_run_id(run):
            return http.request("GET", run_path(int(run), "compare") + "?" + urlencode(params))
        token = str(run) if str(run).startswith("group:") else f"group:{run}"
        project = project or group_project(http, token[len("group:") :])
        return http.request(
            "GET", _project_url(project, "compare") + "?" + urlencode([("side", token), *params])
        )
    finally:
        http.close()


# --- The terminal table -----------------------------------------------------------------

_COLOURS = {"better": "32", "worse": "31", "within noise": "33"}


def _number(value: Any) -> str:
    value = decode_value(value) if isinstance(value, str) else value
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.4g}"
    return str(value)


def _cell(cell: dict) -> str:
    text = _number(cell.get("value"))
    if cell.get("std") is not None:
        text += f" ± {_number(cell['std'])}"
    return text


def _signed(value: Any) -> str:
    value = decode_value(value) if isinstance(value, str) else value
    if value is None:
        return ""
    if math.isinf(value):
        return "diverged"
    return ("+" if value > 0 else "") + _number(value)


def _percent(value: Any) -> str:
    return "" if value is None else f"{value * 100:+.1f}%"


def _to_target(ttt: dict) -> str:
    if ttt.get("target") is None or not ttt.get("runs"):
        return ""
    if not ttt.get("reached"):
        return "not reached"
    step = ttt["step"]
    text = f"step {int(step)}" if float(step).is_integer() else f"step {step:.1f}"
    if ttt.get("seconds") is not None:
        text += f" ({ttt['seconds']:.0f}s)"
    return text


def format_table(result: dict[str, Any], colour: bool | None = None) -> str:
    """The comparison as an aligned text table, one block per compared side."""
    if colour is None:
        colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    by = result["by"]
    ref = result["reference"]
    lines = []
    for index, side in enumerate(result["sides"]):
        title = f"{_describe(side)} vs {_describe(ref)}  (judged on the {by} value)"
        header = ["metric", "", "reference", "value", f"Δ {by}", "Δ %", "verdict", "p", "to target"]
        rows = [header]
        verdicts = []
        for metric in result["metrics"]:
            s = metric["sides"][index]
            d = s["delta"][by]
            test = s.get("test") or {}
            verdict = s["verdict"] + (" (beyond tolerance)" if s.get("gate", {}).get("fails") else "")
            rows.append(
                [
                    metric["key"],
                    "↓" if metric["direction"] == "min" else "↑",
                    _cell(metric["reference"][by]),
                    _cell(s[by]),
                    _signed(d["abs"] if d["abs"] is not None else d["improvement"]),
                    _percent(d["rel"]),
                    verdict,
                    "" if test.get("p") is None else f"{test['p']:.2g}",
                    _to_target(s["time_to_target"]),
                ]
            )
            verdicts.append(s["verdict"])
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines.append(title)
        for n, row in enumerate(rows):
            cells = [
                c.ljust(w) if i in (0, 1, 6) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))
            ]
            text = "  ".join(cells).rstrip()
            if colour and n > 0 and verdicts[n - 1] in _COLOURS:
                text = f"\033[{_COLOURS[verdicts[n - 1]]}m{text}\033[0m"
            lines.append(text)
        if not result["metrics"]:
            lines.append("(no metric in common)")
        lines.append("")
    tolerance = result.get("tolerance") or {}
    if tolerance.get("relative") or tolerance.get("absolute"):
        lines.append(
            f"tolerance: {tolerance.get('relative', 0) * 100:g}% of the reference value, "
            f"or {tolerance.get('absolute', 0):g} absolute, whichever is larger"
        )
    return "\n".join(lines).rstrip() + "\n"


def _describe(side: dict) -> str:
    if side["kind"] == "group":
        return f"group {side['label']} ({len(side['runs'])} runs, mean ± std)"
    return f"run {side['label']} (#{side['runs'][0]['id']})"
