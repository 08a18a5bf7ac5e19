"""Importers behind ``python -m tracker import {tensorboard,mlflow,wandb}``: whole
histories from other trackers, every point, idempotent, each ending with a fidelity
report (``report.Report``). The source packages are imported only by their importer."""

from __future__ import annotations

import argparse

from tracker.importers.report import Report


def run_importer(args: argparse.Namespace) -> Report:
    """Run the importer that ``args.kind`` names with the command line's options."""
    common = {
        "project": args.project,
        "server": args.server,
        "api_key": args.api_key,
        "progress": not args.no_progress,
    }
    if args.kind == "tensorboard":
        from tracker.importers.tensorboard import import_tensorboard

        return import_tensorboard(args.source, follow=args.follow, interval=args.interval, **common)
    if args.kind == "mlflow":
        from tracker.importers.mlflow import import_mlflow

        return import_mlflow(args.source, experiments=args.experiment, **common)
    from tracker.importers.wandb import import_wandb

    return import_wandb(args.source, **common)
