"""What an import did, counted as it goes, and the progress bar of a long import.

The fidelity report is the importer's promise made checkable: for runs, points, params,
media items and files, how many were read from the source and how many the server holds
now (stored by this import or already there from an earlier one), and every thing that
was not imported with the reason. Standard library only.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TextIO


@dataclass
class Report:
    """Counts of one ``python -m tracker import`` (all runs of the source together)."""

    kind: str
    source: str
    runs_read: int = 0
    runs_created: int = 0
    runs_updated: int = 0
    runs_unchanged: int = 0
    points_read: int = 0
    points_stored: int = 0  # new on the server now
    points_present: int = 0  # sent by an earlier import (the server's receipts say so)
    params_read: int = 0
    params_stored: int = 0
    media_read: int = 0
    media_stored: int = 0
    media_present: int = 0
    files_read: int = 0
    files_stored: int = 0  # files whose every point and media item is on the server
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> how many
    failed: list[str] = field(default_factory=list)  # runs that could not be imported, with why
    run_urls: list[str] = field(default_factory=list)
    # project -> {tag: run} as listed once per import (how runs imported before are found)
    known_runs: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def skip(self, reason: str, count: int = 1) -> None:
        """Count ``count`` things left out for ``reason`` (one line each in the report)."""
        if count:
            self.skipped[reason] += count

    @property
    def points_on_server(self) -> int:
        return self.points_stored + self.points_present

    @property
    def complete(self) -> bool:
        """Everything read is on the server and no run failed."""
        return (
            not self.failed
            and self.points_on_server == self.points_read
            and self.params_stored == self.params_read
            and self.media_stored + self.media_present == self.media_read
        )

    def render(self) -> str:
        """The report as printed at the end of an import."""
        runs = [f"{self.runs_created} created", f"{self.runs_updated} updated"]
        if self.runs_unchanged:
            runs.append(f"{self.runs_unchanged} already complete")
        stored_runs = self.runs_created + self.runs_updated + self.runs_unchanged
        lines = [
            f"tracker import {self.kind}: fidelity report for {self.source}",
            f"  files   {self.files_read} read, {self.files_stored} imported whole",
            f"  runs    {self.runs_read} read, {stored_runs} on the server ({', '.join(runs)})",
            f"  points  {self.points_read} read, {self.points_on_server} on the server "
            f"({self.points_stored} stored now, {self.points_present} already there)",
            f"  params  {self.params_read} read, {self.params_stored} stored",
            f"  media   {self.media_read} read, {self.media_stored + self.media_present} on the server "
            f"({self.media_stored} stored now, {self.media_present} already there)",
        ]
        for reason, count in sorted(self.skipped.items()):
            lines.append(f"  skipped {count} {reason}")
        for failure in self.failed:
            lines.append(f"  FAILED  {failure}")
        verdict = "complete: everything read is on the server" if self.complete else "INCOMPLETE: see above"
        lines.append(f"  {verdict}")
        return "\n".join(lines)


class Progress:
    """A one-line progress bar on stderr, drawn only once an import has taken a moment
    (short imports print nothing) and at most a few times a second. On a terminal it
    redraws in place; otherwise (a log file, CI) it writes a line every few seconds."""

    def __init__(
        self, label: str, total: int = 0, *, stream: TextIO | None = None, delay: float = 0.5
    ) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.note = ""
        self._stream = stream or sys.stderr
        self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
        self._start = time.monotonic()
        self._delay = delay
        self._drawn_at = 0.0
        self._drawn = False

    def add(self, done: int = 0, total: int = 0, note: str | None = None) -> None:
        """Count ``done`` more units of work (and ``total`` more expected)."""
        self.done += done
        self.total += total
        if note is not None:
            self.note = note
        now = time.monotonic()
        if now - self._start < self._delay or now - self._drawn_at < (0.1 if self._tty else 5.0):
            return
        self._draw(now)

    def _draw(self, now: float) -> None:
        self._drawn_at = now
        self._drawn = True
        total = max(self.total, self.done)
        width = 30
        filled = int(width * self.done / total) if total else 0
        percent = f"{100 * self.done / total:5.1f}%" if total else "     "
        rate = self.done / max(now - self._start, 1e-9)
        line = (
            f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {percent} "
            f"{self.done}/{total} ({rate:,.0f}/s) {self.note[:40]}"
        )
        if self._tty:
            self._stream.write("\r" + line.ljust(110)[:150])
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def close(self) -> None:
        """Draw the final state (if anything was drawn) and end the line."""
        if self._drawn:
            self._draw(time.monotonic())
            if self._tty:
                self._stream.write("\n")
            self._stream.flush()
