"""Distributed runs, from the per-rank points every rank logs to one run: a straggler
rank, ranks whose losses disagree beyond noise, and a rank that stopped logging.

Straggler. In synchronous data-parallel training every rank waits for the slowest at
each all-reduce, so the ranks' step intervals are alike and do not show who is slow. Two
things do: a per-rank step-time metric the training logs (``perf/step_time``,
``step_time``, ``batch_time``..., or the sampler's ``sys/steps_per_s``), and, when the loss
is logged before the step's collective (as ``loss.item()`` right after the forward pass
is), the time each rank reaches a step: the slow one arrives last, by the same margin,
step after step. Both are judged on medians over many steps, so a hiccup is not a
straggler. (Arrival times compare the ranks' clocks: across machines, keep them in sync.)
"""

from __future__ import annotations

import re

import numpy as np

from experiments.diagnostics import stats
from experiments.diagnostics.base import Analyzer, Finding
from experiments.diagnostics.data import RunData
from experiments.diagnostics.models import FindingSeverity
from experiments.models import PointChunk
from experiments.queries import metric_series

MAX_POINTS = 50_000
STEP_TIME = re.compile(r"(?:.*/)?(step_time|step_seconds|step_s|batch_time|iter_time|time_per_step)")
RATE = re.compile(r"(?:.*/)?(steps_per_s|it_per_s|iters_per_s)")


def _per_rank(run: RunData, key: str) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] | None:
    """{rank: (steps, values, wall times)} of ``key`` when stored exactly, else None."""
    metric = run.metrics.get(key)
    if metric is None or not metric.count:
        return None
    series = metric_series(metric, MAX_POINTS)
    if series.downsampled:
        return None
    step, value = np.asarray(series.step), np.asarray(series.value, dtype=float)
    wall, rank = np.asarray(series.wall_time, dtype=float), np.asarray(series.rank)
    out = {}
    for r in np.unique(rank).tolist():
        keep = rank == r
        order = np.argsort(step[keep], kind="stable")
        out[int(r)] = (step[keep][order], value[keep][order], wall[keep][order])
    return out


def _several_ranks(run: RunData) -> bool:
    """Whether more than one rank logged (one indexed query; most runs have one rank)."""
    if run.run.world_size > 1:
        return True
    return PointChunk.objects.filter(metric__run=run.run).exclude(rank=0).exists()


class Distributed(Analyzer):
    name = "distributed"
    title = "Distributed runs: straggler rank, ranks that disagree, a silent rank"
    priority = 20
    thresholds = {
        "straggler_ratio": 1.3,
        "arrival_share": 0.25,
        "arrival_min_seconds": 0.02,
        "last_share": 0.8,
        "min_steps": 20,
        "loss_z": 6.0,
        "loss_gap": 0.15,
        "window": 0.25,
        "silent_steps": 20,
    }
    threshold_help = {
        "straggler_ratio": "a rank's median step time is this many times the other ranks' median",
        "arrival_share": "a rank reaches each step this fraction of a step's time after the others",
        "arrival_min_seconds": "... and at least this many seconds after them",
        "last_share": "... and it is the last to arrive at this share of the steps",
        "min_steps": "steps every rank needs before ranks are compared",
        "loss_z": "ranks disagree: a rank's recent mean loss is this many standard errors from the others'",
        "loss_gap": "... and differs from theirs by at least this fraction",
        "window": "the recent part of the run compared, as a fraction of its steps",
        "silent_steps": "a rank stopped logging: the other ranks went on this many steps past its last",
    }

    def analyze(self, run: RunData, limits: dict[str, float]) -> list[Finding]:
        if not _several_ranks(run):
            return []
        loss_key = run.train_loss
        loss = _per_rank(run, loss_key) if loss_key else None
        findings: list[Finding | None] = []
        straggler = self._step_time_straggler(run, limits)
        if straggler is None and loss is not None and len(loss) > 1:
            straggler = self._arrival_straggler(loss_key, loss, limits)
        findings.append(straggler)
        if loss is not None and len(loss) > 1:
            findings.append(self._silent_rank(loss_key, loss, limits))
            findings.append(self._disagreement(loss_key, loss, limits))
        return [f for f in findings if f is not None]

    # -- straggler -----------------------------------------------------------------------
    def _step_time_straggler(self, run: RunData, limits) -> Finding | None:
        for key in run.keys:
            times = STEP_TIME.fullmatch(key)
            rate = RATE.fullmatch(key)
            if not (times or rate):
                continue
            ranks = _per_rank(run, key)
            if not ranks or len(ranks) < 2 or min(len(v[0]) for v in ranks.values()) < limits["min_steps"]:
                continue
            medians = {}
            for r, (_, values, _) in ranks.items():
                finite = values[np.isfinite(values) & (values > 0)]
                if not len(finite):
                    break
                medians[r] = float(np.median(finite if times else 1.0 / finite))
            else:
                slow = max(medians, key=medians.get)
                others = float(np.median([v for r, v in medians.items() if r != slow]))
                if others > 0 and medians[slow] / others >= limits["straggler_ratio"]:
                    return self._straggler(
                        slow,
                        key,
                        f"its median step takes {stats.fmt(medians[slow])} s against "
                        f"{stats.fmt(others)} s on "
                        f"the other ranks ({stats.fmt(medians[slow] / others)}×, from {key})",
                        {
                            "rank": slow,
                            "rank_step_seconds": stats.rounded(medians[slow], 4),
                            "others_step_seconds": stats.rounded(others, 4),
                            "ratio": stats.rounded(medians[slow] / others, 3),
                            "per_rank_step_seconds": {
                                str(r): stats.rounded(v, 4) for r, v in sorted(medians.items())
                            },
                        },
                    )
        return None

    def _arrival_straggler(self, key: str, ranks: dict, limits) -> Finding | None:
        common = None
        for steps, _, _ in ranks.values():
            common = set(steps.tolist()) if common is None else common & set(steps.tolist())
        if not common or len(common) < limits["min_steps"]:
            return None
        grid = np.array(sorted(common))
        walls = np.vstack([np.interp(grid, s, w) for s, _, w in ranks.values()])  # exact at shared steps
        order = list(ranks)
        lag = walls - walls.min(axis=0)
        last = lag.argmax(axis=0)
        interval = float(np.median(np.diff(walls.mean(axis=0)))) if len(grid) > 1 else 0.0
        slow_index = int(np.bincount(last, minlength=len(order)).argmax())
        share_last = float((last == slow_index).mean())
        others = [i for i in range(len(order)) if i != slow_index]
        behind = walls[slow_index] - walls[others].max(axis=0)  # how far after the next-slowest
        median_lag = float(np.median(behind))
        if (
            share_last < limits["last_share"]
            or median_lag < limits["arrival_min_seconds"]
            or interval <= 0
            or median_lag < limits["arrival_share"] * interval
        ):
            return None
        slow = order[slow_index]
        return self._straggler(
            slow,
            key,
            f"it logs {key} {stats.fmt(median_lag)} s after the other ranks at the median step (the last at "
            f"{stats.pct(share_last)} of {len(grid)} steps), while a step takes {stats.fmt(interval)} s",
            {
                "rank": slow,
                "lag_seconds": stats.rounded(median_lag, 4),
                "step_seconds": stats.rounded(interval, 4),
                "last_pct": stats.rounded(100 * share_last, 3),
                "steps_compared": len(grid),
            },
            step_start=int(grid[0]),
            step_end=int(grid[-1]),
        )

    def _straggler(self, rank: int, key: str, why: str, evidence: dict, **steps) -> Finding:
        return Finding(
            kind="straggler_rank",
            subject=f"rank {rank}",
            severity=FindingSeverity.WARNING,
            title=f"Rank {rank} is a straggler",
            summary=f"Rank {rank} is consistently slower: {why}.",
            explanation=(
                "In synchronous data-parallel training every step waits for the slowest rank at the gradient "
                "all-reduce, so one slow rank sets the pace of all of them: the others idle for the "
                "difference "
                "every step, and the job runs at the straggler's speed."
            ),
            remedies=[
                f"Look at what differs on rank {rank}'s machine or GPU: its data loading (num_workers, "
                "a slow "
                "disk or network share), thermal throttling or a shared GPU (nvidia-smi), a CPU-bound "
                "preprocessing step.",
                "Give every rank equal work: shards of equal size (DistributedSampler, drop_last=True), "
                "batches of equal length (bucket sequences by length).",
                "Profile one step on that rank (torch.profiler) to see where the time goes.",
            ],
            keys=[key],
            evidence=evidence,
            **steps,
        )

    # -- a rank that stopped ---------------------------------------------------------------
    def _silent_rank(self, key: str, ranks: dict, limits) -> Finding | None:
        last = {r: int(steps[-1]) for r, (steps, _, _) in ranks.items() if len(steps)}
        furthest = max(last.values())
        behind = {r: furthest - s for r, s in last.items() if furthest - s >= limits["silent_steps"]}
        if not behind or len(behind) == len(last):
            return None
        rank = max(behind, key=behind.get)
        return Finding(
            kind="rank_stopped",
            subject=f"rank {rank}",
            severity=FindingSeverity.WARNING,
            title=f"Rank {rank} stopped logging at step {last[rank]}",
            summary=(
                f"Rank {rank} logged {key} last at step {last[rank]}; the other ranks went on to step "
                f"{furthest} "
                f"({behind[rank]} steps more)."
            ),
            explanation=(
                "A rank that stops while the others go on has crashed, hung or left the job: synchronous "
                "training would hang at its next collective, so the others are either stuck waiting or "
                "running "
                "without it (a launcher that restarts or shrinks the group)."
            ),
            remedies=[
                f"Read rank {rank}'s log (torchrun writes each rank's output; set --redirects / --tee) "
                "for an "
                "exception or an out-of-memory kill (dmesg).",
                "Set a collective timeout (init_process_group(timeout=...)) and "
                "TORCH_NCCL_ASYNC_ERROR_HANDLING=1 "
                "so a lost rank fails the job instead of hanging it.",
            ],
            step_start=last[rank],
            step_end=furthest,
            keys=[key],
            marks=[{"step": last[rank], "label": f"rank {rank} stops"}],
            evidence={"rank": rank, "rank_last_step": last[rank], "others_last_step": furthest},
        )

    # -- losses that disagree ----------------------------------------------------------------
    def _disagreement(self, key: str, ranks: dict, limits) -> Finding | None:
        recent = {}
        for r, (steps, values, _) in ranks.items():
            finite = np.isfinite(values)
            steps, values = steps[finite], values[finite]
            if len(values) < limits["min_steps"]:
                return None
            n = max(int(limits["min_steps"]) // 2, round(len(values) * limits["window"]))
            recent[r] = (values[-n:], int(steps[-n]), int(steps[-1]))
        means = {r: float(np.mean(v)) for r, (v, _, _) in recent.items()}
        candidates = {}
        for r, (values, _, _) in recent.items():
            others = np.concatenate([v for q, (v, _, _) in recent.items() if q != r])
            spread = float(np.sqrt(np.var(values) / len(values) + np.var(others) / len(others)))
            gap = abs(means[r] - float(np.mean(others)))
            scale = max(abs(float(np.mean(others))), abs(means[r]), 1e-12)
            z = gap / spread if spread > 0 else (np.inf if gap > 0 else 0.0)
            if z >= limits["loss_z"] and gap / scale >= limits["loss_gap"]:
                candidates[r] = (z, gap / scale)
        if not candidates:
            return None
        # The farthest from the rest; between two ranks (equally far), the one with the higher
        # loss: the one not learning.
        worst = max(candidates, key=lambda r: (round(candidates[r][0], 3), means[r]))
        worst_z, worst_gap = candidates[worst]
        _, start, end = recent[worst]
        other_mean = float(np.mean([m for r, m in means.items() if r != worst]))
        return Finding(
            kind="rank_disagreement",
            subject=f"rank {worst}",
            severity=FindingSeverity.CRITICAL,
            title=f"Rank {worst}'s {key} disagrees with the other ranks",
            summary=(
                f"Over steps {start}–{end}, rank {worst}'s mean {key} is {stats.fmt(means[worst])} against "
                f"{stats.fmt(other_mean)} on the other ranks: {stats.pct(worst_gap)} apart, "
                f"{stats.fmt(worst_z)} standard errors (beyond what different data shards explain)."
            ),
            explanation=(
                "Data-parallel ranks hold the same weights and see data from one distribution, so "
                "their losses "
                "differ only by noise. A persistent gap means the weights are not the same: the ranks "
                "started "
                "from different initialisations, the gradient all-reduce is not applied (a custom loop, "
                "no_sync() left on, a parameter outside DDP), or one rank's optimizer steps differently."
            ),
            remedies=[
                "Wrap the model in DistributedDataParallel (it broadcasts rank 0's weights at start "
                "and averages "
                "gradients), or broadcast the parameters yourself before training.",
                "Check that every parameter gets the averaged gradient: no model.no_sync() outside gradient "
                "accumulation, find_unused_parameters for conditional branches, the same optimizer and LR "
                "schedule on every rank.",
                "Compare a checksum of the weights across ranks after a step: "
                "sum(p.sum() for p in model.parameters()) should be equal.",
            ],
            step_start=start,
            step_end=end,
            keys=[key],
            evidence={
                "rank": worst,
                "rank_mean": stats.rounded(means[worst], 5),
                "others_mean": stats.rounded(other_mean, 5),
                "gap_pct": stats.rounded(100 * worst_gap, 3),
                "z": stats.rounded(worst_z, 3),
                "per_rank_mean": {str(r): stats.rounded(m, 5) for r, m in sorted(means.items())},
            },
        )
