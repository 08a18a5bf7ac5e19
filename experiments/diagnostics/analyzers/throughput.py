"""Throughput of a large-model training: tokens per second and model FLOPs utilisation
(MFU, the share of the GPUs' peak that the model's own arithmetic uses).

Only from what the run states, never guessed: tokens per step (a ``perf/tokens`` metric
or ``tokens_per_step`` in the config or summary), the FLOPs (``flops_per_step``, or
``flops_per_token``, or a parameter count (``params``, or ``model/params`` from
``tracker.watch``) read as 6 FLOPs per parameter and
token, forward and backward), the pace (the wall times of its steps, or the system
sampler's ``sys/steps_per_s``) and a peak (``peak_flops`` per GPU in FLOP/s, or the GPU
model ``tracker`` records in the summary, from the table below). Missing any: no finding.
"""

from __future__ import annotations

import numpy as np

from experiments.diagnostics import stats
from experiments.diagnostics.base import Analyzer, Finding
from experiments.diagnostics.data import Curve, RunData
from experiments.diagnostics.models import FindingSeverity

# Dense bf16 tensor-core peaks in TFLOP/s per GPU, from the vendors' data sheets (T4
# and V100 have no bf16: their fp16 peak). More specific names first.
GPU_PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIE", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),
    ("H200", 989.0),
    ("GH200", 989.0),
    ("A100", 312.0),
    ("L4", 121.0),
    ("T4", 65.0),
    ("V100", 125.0),
)
TOKEN_KEYS = ("perf/tokens", "perf/tokens_per_step", "train/tokens_per_step")
PARAM_NAMES = ("params", "model/params", "n_params", "num_params", "parameters", "model.params")


def gpu_peak(name: str) -> float | None:
    """Peak bf16 FLOP/s of one GPU named ``name`` (``NVIDIA H100 80GB HBM3``), if known."""
    upper = " ".join(name.upper().replace("-", " ").split())
    for model, tflops in GPU_PEAK_TFLOPS:
        if model == "L4" or model == "T4":
            if model in upper.split():
                return tflops * 1e12
        elif model in upper:
            return tflops * 1e12
    return None


def _positive(value: float | None) -> float | None:
    return value if value is not None and value == value and value > 0 else None


def steps_per_second(run: RunData, curve: Curve | None) -> tuple[float | None, str]:
    """The run's pace over its second half: from the wall times of ``curve``'s points
    (logged every step or every few), else the system sampler's ``sys/steps_per_s``."""
    if curve is not None and curve.wall_time is not None and not curve.downsampled:
        half = curve.finite.tail(0.5)
        if len(half) >= 5:
            steps = np.diff(half.step.astype(np.float64))
            seconds = np.diff(half.wall_time)
            keep = (steps > 0) & (seconds > 0)
            if keep.sum() >= 4:
                per_step = stats.median(seconds[keep] / steps[keep])
                if per_step > 0:
                    return 1.0 / per_step, f"the wall times of {curve.key}"
    sampled = run.curve("sys/steps_per_s")
    if sampled is not None:
        rate = _positive(stats.median(sampled.finite.tail(0.5).value))
        if rate:
            return rate, "sys/steps_per_s"
    return None, ""


class Throughput(Analyzer):
    name = "throughput"
    title = "Throughput (tokens per second, MFU)"
    priority = 90
    thresholds = {"min_points": 10, "low_mfu": 0.3}
    threshold_help = {
        "min_points": "steps with a pace needed before judging",
        "low_mfu": "below this MFU the finding lists what usually raises it",
    }

    def analyze(self, run: RunData, limits: dict[str, float]) -> list[Finding]:
        tokens_key = next((k for k in TOKEN_KEYS if k in run.metrics), None)
        tokens_curve = run.curve(tokens_key)
        if tokens_curve is not None:
            tokens = _positive(stats.median(tokens_curve.finite.tail(0.5).value))
            tokens_source = tokens_key
        else:
            tokens = _positive(run.config_number("tokens_per_step"))
            tokens_source = "tokens_per_step"
        if tokens is None:
            return []
        paced = run.curve(run.train_loss) or tokens_curve
        if paced is None or len(paced) < limits["min_points"]:
            return []
        pace, pace_source = steps_per_second(run, paced)
        if pace is None:
            return []
        flops_step = _positive(run.config_number("flops_per_step"))
        flops_token = _positive(run.config_number("flops_per_token"))
        params = _positive(run.config_number(*PARAM_NAMES))
        if flops_step:
            flops_source = "flops_per_step"
        elif flops_token:
            flops_step, flops_source = flops_token * tokens, "flops_per_token"
        elif params:
            flops_token = 6 * params
            flops_step, flops_source = flops_token * tokens, "6 × params per token"
        else:
            return []
        summary = run.run.summary or {}
        gpus = run.config_number("system/gpu_count")
        gpus = int(gpus) if gpus and gpus >= 1 else 1
        peak = _positive(run.config_number("peak_flops"))
        gpu = str(summary.get("system/gpu_name") or summary.get("system/gpu") or "")
        if peak:
            peak_source = "peak_flops"
        else:
            peak = gpu_peak(gpu) if gpu and gpu != "none" and "," not in gpu else None
            peak_source = f"{gpu} (bf16 dense)"
        if peak is None:
            return []
        tokens_per_s = tokens * pace
        achieved = flops_step * pace
        mfu = achieved / (peak * gpus)
        low = mfu < limits["low_mfu"]
        remedies = [
            'Train in bfloat16: torch.autocast(device_type="cuda", dtype=torch.bfloat16).',
            "Raise the batch (or the sequence length) until the GPU memory is well used; use gradient "
            "accumulation for the effective batch you want.",
            "Compile the model (torch.compile(model)), use fused attention "
            "(F.scaled_dot_product_attention) and a fused optimizer (torch.optim.AdamW(..., fused=True)).",
            "Keep the input pipeline ahead: DataLoader(num_workers=..., pin_memory=True), and log less "
            "often than every step (.item() syncs the GPU).",
        ]
        if mfu > 1:
            return [self._impossible(run, paced, tokens, pace, flops_step, peak, gpus, peak_source, mfu)]
        if not low:
            remedies = [
                f"MFU of {stats.pct(mfu)} is good; to go further, profile a step (torch.profiler) for "
                "time spent outside matrix multiplies.",
                *remedies[2:],
            ]
        return [
            Finding(
                kind="throughput",
                severity=FindingSeverity.INFO,
                title=f"Throughput: {stats.fmt(tokens_per_s)} tokens/s, MFU {stats.pct(mfu)}",
                summary=(
                    f"{stats.fmt(tokens)} tokens per step at {stats.fmt(pace)} steps/s is "
                    f"{stats.fmt(tokens_per_s)} tokens/s; at {stats.fmt(flops_step / tokens)} "
                    f"FLOPs per token that is {stats.fmt(achieved / 1e12)} TFLOP/s of "
                    f"{stats.fmt(peak * gpus / 1e12)} peak ({gpus} × {peak_source}): "
                    f"{stats.pct(mfu)} model FLOPs utilisation" + (", low." if low else ".")
                ),
                explanation=(
                    "Model FLOPs utilisation divides the arithmetic the model needs per second "
                    "(about 6 FLOPs per parameter and token for a forward and backward pass, or "
                    "the FLOPs the training states) by the GPUs' peak. It ignores recomputation "
                    "and padding, so it measures useful work: 40–60% is good for large "
                    "transformers in bf16; far less means the GPUs wait on memory, the input "
                    "pipeline, small kernels or the host."
                ),
                remedies=remedies,
                step_start=int(paced.step[len(paced) // 2]),
                step_end=int(paced.step[-1]),
                evidence={
                    "tokens_per_s": stats.rounded(tokens_per_s),
                    "mfu_pct": stats.rounded(100 * mfu, 3),
                    "tokens_per_step": stats.rounded(tokens),
                    "tokens_from": tokens_source,
                    "steps_per_s": stats.rounded(pace),
                    "pace_from": pace_source,
                    "flops_per_token": stats.rounded(flops_step / tokens),
                    "flops_from": flops_source,
                    "achieved_tflops": stats.rounded(achieved / 1e12),
                    "peak_tflops": stats.rounded(peak * gpus / 1e12),
                    "peak_from": peak_source,
                    "gpus": gpus,
                },
                keys=[k for k in (tokens_key, paced.key) if k],
            )
        ]

    def _impossible(self, run, paced, tokens, pace, flops_step, peak, gpus, peak_source, mfu) -> Finding:
        """More FLOPs per second than the GPUs can do: an input is wrong, and saying an MFU
        would repeat it."""
        return Finding(
            kind="throughput",
            severity=FindingSeverity.WARNING,
            title=f"Throughput figures do not add up: MFU {stats.pct(mfu)}, above the GPUs' peak",
            summary=(
                f"{stats.fmt(tokens)} tokens per step at {stats.fmt(pace)} steps/s and "
                f"{stats.fmt(flops_step / tokens)} FLOPs per token make "
                f"{stats.fmt(flops_step * pace / 1e12)} TFLOP/s, more than the "
                f"{stats.fmt(peak * gpus / 1e12)} TFLOP/s peak of {gpus} × {peak_source}."
            ),
            explanation=(
                "No GPU computes faster than its peak, so one of the stated numbers is wrong: tokens "
                "counted per step of every rank rather than of one, FLOPs per token counted for the whole "
                "batch, or a peak_flops for all the GPUs rather than one."
            ),
            remedies=[
                "Log perf/tokens as the tokens one step of this process trains on, flops_per_token per "
                "token (about 6 × parameters), and peak_flops per GPU in FLOP/s.",
            ],
            step_start=int(paced.step[len(paced) // 2]),
            step_end=int(paced.step[-1]),
            evidence={
                "mfu_pct": stats.rounded(100 * mfu, 3),
                "tokens_per_step": stats.rounded(tokens),
                "steps_per_s": stats.rounded(pace),
                "flops_per_token": stats.rounded(flops_step / tokens),
                "peak_tflops": stats.rounded(peak * gpus / 1e12),
                "gpus": gpus,
            },
            keys=[paced.key],
        )
