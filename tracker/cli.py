"""``python -m tracker``: one argparse subcommand per verb (``sync``, ``baseline``,
``compare``), each a ``register(subparsers)`` that sets ``func``.

Exit codes: 0 success; 1 ``sync`` failures, or ``compare --fail-if-worse`` found the run
worse than its reference beyond the tolerance; 2 bad usage or a refused request (unknown
run, no baseline, server unreachable)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from tracker._env import Settings
from tracker.sync import SyncResult, run_directories, sync_directory
from tracker.transport import RequestFailed, TrackerError
from tracker.uploader import UploadsResult, upload_directory


def _sync(args: argparse.Namespace) -> int:
    failures = 0
    settings = Settings.from_env()
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
            result = sync_directory(
                directory,
                server=args.server,
                api_key=args.api_key,
                backoff=settings.backoff_base,
                retry_quarantined=args.retry_quarantined,
                quarantine_after=settings.quarantine_after,
            )
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
            if result.retried:
                parts.append(f"{result.retried_points} set-aside points ({result.retried} batches) delivered")
            print(f"{directory}: run {result.run_id}: {', '.join(parts)} {result.url}".rstrip())
        _print_quarantine(directory, result)
        if result.busy_writers:
            print(f"{directory}: {len(result.busy_writers)} writer(s) still running, their batches were left")
        if result.finish_held:
            print(f"{directory}: the run's end is not recorded yet: run the same command once they end")
        if result.run_id and (Path(directory) / "uploads").is_dir():
            try:
                uploads = upload_directory(
                    directory,
                    server=args.server,
                    api_key=args.api_key,
                    retry_quarantined=args.retry_quarantined,
                    quarantine_after=settings.quarantine_after,
                    backoff=settings.backoff_base,
                )
            except (TrackerError, OSError) as exc:
                failures += 1
                print(f"{directory}: media/checkpoints not uploaded: {exc} (run the same command later)")
            else:
                _print_uploads(directory, uploads)
    return 1 if failures else 0


def _print_uploads(directory: Path, result: UploadsResult) -> None:
    if result.sent:
        print(f"{directory}: {result.sent} media items and checkpoints uploaded")
    if result.retried:
        print(f"{directory}: {result.retried} set-aside media items and checkpoints delivered")
    for name, reason in result.still_refused:
        print(f"{directory}: upload {name} is still refused: {reason}; it stays set aside")
    if result.set_aside:
        print(
            f"{directory}: {result.set_aside} media items and checkpoints set aside: the server refuses "
            f"them ({result.reason}); they are kept in {Path(directory) / 'uploads' / 'quarantine'}. "
            f"Send them again with: python -m tracker sync --retry-quarantined {directory}"
        )


def _print_quarantine(directory: Path, result: SyncResult) -> None:
    """What the server refused: set aside now, or refused again on a retry."""
    for refused in result.still_refused:
        print(
            f"{directory}: batch {refused.seq} of writer {refused.writer} ({refused.points} points) "
            f"is still refused: {refused.reason}; it stays set aside"
        )
    if result.quarantined:
        print(
            f"{directory}: {result.quarantined} batches ({result.quarantined_points} points) set aside: "
            f"the server refuses them ({result.quarantine_reason}); they are kept in {directory}. "
            f"Send them again with: python -m tracker sync --retry-quarantined {directory}"
        )


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
    parser.add_argument(
        "--retry-quarantined",
        action="store_true",
        help="also send again the batches, media and checkpoints set aside because the server refused them "
        "(those still refused stay set aside, with the server's answer printed)",
    )
    parser.set_defaults(func=_sync)


def _fail(command: str, exc: Exception) -> int:
    print(f"tracker {command}: {exc}", file=sys.stderr)
    return 2


def _baseline_set(args: argparse.Namespace) -> int:
    from tracker.compare import baseline_set

    try:
        state = baseline_set(
            args.run_or_group, project=args.project, note=args.note, server=args.server, api_key=args.api_key
        )
    except TrackerError as exc:
        return _fail("baseline set", exc)
    baseline = state["baseline"]
    what = f"group {baseline['group']!r}" if baseline["kind"] == "group" else f"run {baseline['label']!r}"
    if baseline["kind"] == "run":
        what += f" (#{baseline['run']})"
    print(f"{state['project']}: baseline is now {what}")
    return 0


def _baseline_show(args: argparse.Namespace) -> int:
    from tracker.compare import _project_url, client

    try:
        http = client(args.server, args.api_key)
        try:
            state = http.request("GET", _project_url(args.project, "baseline"))
        finally:
            http.close()
    except TrackerError as exc:
        return _fail("baseline show", exc)
    if not state["history"]:
        print(f"{state['project']}: no baseline")
    for item in state["history"]:
        what = (
            f"group {item['group']}" if item["kind"] == "group" else f"run {item['label']} (#{item['run']})"
        )
        print(f"{'*' if item['active'] else ' '} {item['set_at']}  {what}  {item['note']}".rstrip())
    return 0


def _connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", help="default: TRACKER_SERVER")
    parser.add_argument("--api-key", help="default: TRACKER_API_KEY")


def register_baseline(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("baseline", help="set or show a project's baseline")
    verbs = parser.add_subparsers(dest="verb", required=True)
    set_parser = verbs.add_parser(
        "set",
        help="make a run or a group the baseline",
        description="Make RUN_OR_GROUP the baseline of its project: a number is a run id, anything else "
        "a group name (group:NAME also works). The previous baseline is kept in the history.",
    )
    set_parser.add_argument("run_or_group", metavar="RUN_OR_GROUP")
    set_parser.add_argument("--project", help="the group's project (default: the only project that has it)")
    set_parser.add_argument("--note", default="", help="why this baseline (kept in the history)")
    _connection_options(set_parser)
    set_parser.set_defaults(func=_baseline_set)
    show = verbs.add_parser("show", help="the project's baseline and its history (* = active)")
    show.add_argument("--project", required=True)
    _connection_options(show)
    show.set_defaults(func=_baseline_show)


def _tolerance(raw: str) -> float:
    """``0.01`` or ``1%``: a fraction of the reference value."""
    text = raw.strip()
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {raw!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {raw!r}")
    return value


def _absolute(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {raw!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {raw!r}")
    return value


def _compare(args: argparse.Namespace) -> int:
    import json

    from tracker.compare import compare, format_table

    try:
        result = compare(
            args.run,
            against=args.against or "baseline",
            project=args.project,
            metrics=args.metric,
            by=args.by,
            tolerance=args.tolerance,
            abs_tolerance=args.abs_tolerance,
            server=args.server,
            api_key=args.api_key,
        )
    except TrackerError as exc:
        return _fail("compare", exc)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_table(result), end="")
    if args.fail_if_worse and result["worse"]:
        failing = [
            m["key"] for m in result["metrics"] if any(s.get("gate", {}).get("fails") for s in m["sides"])
        ]
        print(
            f"tracker compare: worse than the reference beyond tolerance on {', '.join(failing)}",
            file=sys.stderr,
        )
        return 1
    return 0


def register_compare(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compare a run with the baseline (or another run); exit 1 when worse with --fail-if-worse",
        description="Print RUN against its project's baseline (default) or another run or group. "
        "With --fail-if-worse, exit 1 when a compared metric is worse than the reference by more than "
        "the tolerance (and, for groups of seeds, beyond seed noise).",
    )
    parser.add_argument("run", metavar="RUN", help="a run id, or group:NAME")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--baseline", action="store_true", help="against the project's baseline (the default)")
    which.add_argument("--against", metavar="RUN", help="against this run id, or group:NAME")
    parser.add_argument("--project", help="the project of a group (default: the only one that has it)")
    parser.add_argument(
        "--metric",
        action="append",
        metavar="KEY",
        help="compare this metric (repeat; default: all shared ones)",
    )
    parser.add_argument(
        "--by", choices=("final", "best"), default="final", help="judge on final or best values"
    )
    parser.add_argument("--fail-if-worse", action="store_true", help="exit 1 when worse beyond the tolerance")
    parser.add_argument(
        "--tolerance",
        type=_tolerance,
        default=0.0,
        metavar="X",
        help="relative: allowed shortfall as a fraction of the reference value (0.01 or 1%%); default 0",
    )
    parser.add_argument(
        "--abs-tolerance",
        type=_absolute,
        default=0.0,
        metavar="X",
        help="absolute allowed shortfall; default 0",
    )
    parser.add_argument("--json", action="store_true", help="print the server's JSON instead of the table")
    _connection_options(parser)
    parser.set_defaults(func=_compare)


def _import(args: argparse.Namespace) -> int:
    """Run one importer, print its fidelity report; 1 when something read is not stored."""
    import signal

    from tracker.importers import run_importer

    # --follow ends on Ctrl-C or a plain kill alike: the runs' ends are recorded first.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        report = run_importer(args)
    except (TrackerError, OSError) as exc:
        return _fail(f"import {args.kind}", exc)
    print(report.render())
    for url in report.run_urls:
        print(f"  {url}")
    return 0 if report.complete else 1


def register_import(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import",
        help="bring runs from TensorBoard, MLflow or W&B (idempotent; ends with a fidelity report)",
        description="Import runs with every point. Running it again stores nothing twice and adds only "
        "what is new. Exit 1 when something read could not be stored (the report says what and why).",
    )
    kinds = parser.add_subparsers(dest="kind", required=True)
    tensorboard = kinds.add_parser(
        "tensorboard",
        help="a TensorBoard log folder: one run per folder of event files",
        description="Every scalar point (no sampling), histograms, text and add_hparams of LOGDIR.",
    )
    tensorboard.add_argument("source", metavar="LOGDIR")
    tensorboard.add_argument("--follow", action="store_true", help="keep importing new events until Ctrl-C")
    tensorboard.add_argument(
        "--interval", type=_absolute, default=2.0, metavar="S", help="seconds between reads with --follow"
    )
    mlflow = kinds.add_parser(
        "mlflow",
        help="an MLflow tracking server URL or a local mlruns folder",
        description="Experiments become projects (or all go to --project); runs keep params, tags, "
        "status, times and every metric point.",
    )
    mlflow.add_argument("source", metavar="SOURCE", help="http(s)://... or a path to an mlruns folder")
    mlflow.add_argument("--experiment", action="append", metavar="NAME", help="only this experiment (repeat)")
    wandb = kinds.add_parser(
        "wandb",
        help="W&B run folders (wandb/run-* and wandb/offline-run-*)",
        description="Config, summary, every history row and system metrics of each run folder in DIR.",
    )
    wandb.add_argument("source", metavar="DIR", help="a wandb folder, or one run folder")
    for sub in (tensorboard, mlflow, wandb):
        sub.add_argument("--project", help="the project to import into (default: from the source)")
        sub.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
        _connection_options(sub)
        sub.set_defaults(func=_import)


COMMANDS = [register_sync, register_baseline, register_compare, register_import]


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
