"""``python -m tracker``: one argparse subcommand per verb (``sync`` now; ``baseline``
and ``compare`` plug in the same way: a ``register(subparsers)`` that sets ``func``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from tracker._env import Settings
from tracker.sync import run_directories, sync_directory
from tracker.transport import RequestFailed, TrackerError


def _sync(args: argparse.Namespace) -> int:
    failures = 0
    backoff = Settings.from_env().backoff_base
    try:
        directories = run_directories(Path(args.dir))
    except TrackerError as exc:
        print(f"tracker sync: {exc}", file=sys.stderr)
        return 2
    if not directories:
        print(f"tracker sync: no run directories in {args.dir}", file=sys.stderr)
        return 1
    for directory in directories:
        try:
            result = sync_directory(directory, server=args.server, api_key=args.api_key, backoff=backoff)
        except (TrackerError, OSError) as exc:
            failures += 1
            hint = " (nothing is lost: run the same command later)" if isinstance(exc, RequestFailed) else ""
            print(f"{directory}: failed: {exc}{hint}", file=sys.stderr)
            continue
        if result.skipped:
            print(f"{directory}: skipped: {result.skipped}")
        elif result.nothing_to_do:
            print(f"{directory}: already synced (run {result.run_id})")
        else:
            parts = [f"{result.points} points in {result.batches} batches"]
            if result.created:
                parts.insert(0, "created")
            if result.finished:
                parts.append("finish recorded")
            if result.dropped:
                parts.append(f"{result.dropped} points refused by the server")
            print(f"{directory}: run {result.run_id}: {', '.join(parts)} {result.url}".rstrip())
        if result.busy_writers:
            print(f"{directory}: {len(result.busy_writers)} writer(s) still running, their batches were left")
    return 1 if failures else 0


def register_sync(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sync", help="upload offline runs and spooled batches", description=sync_directory.__doc__
    )
    parser.add_argument("dir", help="a run directory, or a directory containing run directories")
    parser.add_argument(
        "--server",
        help="default: the server that created the run (recorded in the directory), else TRACKER_SERVER",
    )
    parser.add_argument("--api-key", help="default: TRACKER_API_KEY")
    parser.set_defaults(func=_sync)


COMMANDS = [register_sync]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tracker", description="Experiment tracker command line.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for register in COMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    args = build_parser().parse_args(argv)
    return int(args.func(args))
