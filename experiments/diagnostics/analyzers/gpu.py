"""GPU memory pressure (peak reserved memory near the device's total: the next larger
batch, longer sequence or fragmentation runs out of memory) and an under-used GPU
(low utilisation while throughput is steady: training waits on its input). Reads the
system metrics the SDK samples: ``sys/gpu<d>/memory_reserved``, ``memory_peak``,
``memory_total``, ``utilization``, and ``sys/steps_per_s``."""

from __future__ import annotations

import re

import numpy as np

from experiments.diagnostics import stats
from experiments.diagnostics.base import Analyzer, Finding
from experiments.diagnostics.data import RunData
from experiments.diagnostics.models import FindingSeverity

_DEVICE = re.compile(r"sys/gpu(\d+)/memory_reserved")


class Gpu(Analyzer):
    name = "gpu"
    title = "GPU memory pressure / under-used GPU"
    priority = 15
    thresholds = {
        "memory_warn": 0.9,
        "memory_critical": 0.97,
        "fragmentation": 0.2,
        "min_samples": 10,
        "low_utilization": 50.0,
        "very_low_utilization": 20.0,
        "steady_cv": 0.25,
    }
    threshold_help = {
        "memory_warn": "peak reserved / total memory at which to warn",
        "memory_critical": "... and at which it is critical",
        "fragmentation": "reserved minus allocated, as a fraction of total, worth a remedy of its own",
        "min_samples": "utilisation samples needed before judging use",
        "low_utilization": "median GPU utilisation (%) below which the GPU counts as under-used",
        "very_low_utilization": "... and below which that is a warning rather than a note",
        "steady_cv": "throughput counts as steady when its coefficient of variation is below this",
    }

    def analyze(self, run: RunData, limits: dict[str, float]) -> list[Finding]:
        findings = []
        devices = sorted({int(m.group(1)) for k in run.keys if (m := _DEVICE.fullmatch(k))})
        devices += sorted(
            {int(k.split("/")[1][3:]) for k in run.matching(r"sys/gpu\d+/utilization")} - set(devices)
        )
        for device in devices:
            found = self._memory(run, device, limits)
            if found:
                findings.append(found)
            found = self._utilization(run, device, limits)
            if found:
                findings.append(found)
        return findings

    def _total(self, run: RunData, device: int) -> float | None:
        metric = run.metrics.get(f"sys/gpu{device}/memory_total")
        if metric is not None and metric.max_value:
            return float(metric.max_value)
        return run.config_number("system/gpu_memory_total")

    def _memory(self, run: RunData, device: int, limits) -> Finding | None:
        key = f"sys/gpu{device}/memory_reserved"
        reserved = run.metrics.get(key)
        total = self._total(run, device)
        if reserved is None or reserved.max_value is None or not total:
            return None
        peak = float(reserved.max_value)
        share = peak / total
        if share < limits["memory_warn"]:
            return None
        curve = run.curve(key)
        above = curve.finite if curve is not None else None
        steps = (
            above.step[above.value >= limits["memory_warn"] * total] if above is not None else np.array([])
        )
        start = int(steps[0]) if len(steps) else reserved.max_step
        end = int(steps[-1]) if len(steps) else reserved.max_step
        allocated = run.metrics.get(f"sys/gpu{device}/memory_peak")
        peak_allocated = float(allocated.max_value) if allocated is not None and allocated.max_value else None
        evidence = {
            "device": f"gpu{device}",
            "peak_reserved_bytes": int(peak),
            "total_bytes": int(total),
            "peak_reserved_share_pct": stats.rounded(100 * share, 3),
            "peak_step": reserved.max_step,
            "free_at_peak_bytes": int(total - peak),
        }
        if peak_allocated is not None:
            evidence["peak_allocated_bytes"] = int(peak_allocated)
        batch = run.config_number("batch_size", "batch", "train.batch_size")
        remedies = [
            f"Halve the batch size (batch_size={int(batch)} → {max(1, int(batch) // 2)}) and accumulate "
            "gradients over 2 steps to keep the effective batch."
            if batch
            else "Use a smaller batch and accumulate gradients over several steps to keep the effective "
            "batch.",
            "Mixed precision: run forward and loss under torch.autocast('cuda', dtype=torch.bfloat16).",
            "Activation checkpointing (torch.utils.checkpoint.checkpoint) on the largest blocks trades "
            "compute for memory.",
            "Free what evaluation and logging hold: evaluate under torch.no_grad(), log tensor.item() "
            "rather than tensors, del large intermediates.",
        ]
        if peak_allocated is not None and (peak - peak_allocated) / total >= limits["fragmentation"]:
            remedies.insert(
                1,
                f"Reserved {stats.gib(peak)} but allocated at most {stats.gib(peak_allocated)}: "
                "fragmentation. Set PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True.",
            )
        critical = share >= limits["memory_critical"]
        keys = [key, *([f"sys/gpu{device}/memory_peak"] if peak_allocated is not None else [])]
        return Finding(
            kind="gpu_memory_pressure",
            subject=f"gpu{device}",
            severity=FindingSeverity.CRITICAL if critical else FindingSeverity.WARNING,
            title=f"GPU memory pressure: gpu{device} {stats.pct(share)} full",
            summary=(
                f"PyTorch reserved up to {stats.gib(peak)} of gpu{device}'s {stats.gib(total)} "
                f"({stats.pct(share)}) at step {reserved.max_step}; {stats.gib(total - peak)} is left."
            ),
            explanation=(
                "PyTorch's caching allocator keeps the memory it reserved; when a request does not fit in "
                "what is left (a longer sequence, a bigger evaluation batch, a fragmented cache) the step "
                "fails with CUDA out of memory, possibly hours into the run. With under a tenth of the "
                "device free, any variation in input size is a risk."
            ),
            remedies=remedies,
            step_start=start,
            step_end=end,
            evidence=evidence,
            keys=keys,
            marks=[{"step": reserved.max_step, "label": "peak"}],
            priority=15,
        )

    def _utilization(self, run: RunData, device: int, limits) -> Finding | None:
        util = run.curve(f"sys/gpu{device}/utilization")
        if util is None:
            return None
        util = util.finite
        samples = util.value[len(util) // 10 :]  # the first samples include start-up
        if len(samples) < limits["min_samples"]:
            return None
        median_util = stats.median(samples)
        if median_util >= limits["low_utilization"]:
            return None
        throughput_key = "sys/samples_per_s" if "sys/samples_per_s" in run.metrics else "sys/steps_per_s"
        throughput = run.curve(throughput_key)
        if throughput is None or len(throughput.finite) < limits["min_samples"] // 2:
            return None
        rate = throughput.finite.value[len(throughput.finite) // 10 :]
        mean_rate = float(np.mean(rate))
        cv = float(np.std(rate) / mean_rate) if mean_rate > 0 else np.inf
        if cv >= limits["steady_cv"]:
            return None
        evidence = {
            "device": f"gpu{device}",
            "median_utilization_pct": stats.rounded(median_util, 3),
            "p90_utilization_pct": stats.rounded(float(np.percentile(samples, 90)), 3),
            "throughput_metric": throughput_key,
            "median_throughput": stats.rounded(stats.median(rate)),
            "throughput_cv_pct": stats.rounded(100 * cv, 3),
            "samples": len(samples),
        }
        cpu = run.curve("sys/process_cpu_percent")
        if cpu is not None and len(cpu.finite):
            evidence["process_cpu_pct"] = stats.rounded(stats.median(cpu.finite.value), 3)
        workers = run.config_number("num_workers", "workers", "data.num_workers")
        very_low = median_util < limits["very_low_utilization"]
        return Finding(
            kind="gpu_underused",
            subject=f"gpu{device}",
            severity=FindingSeverity.WARNING if very_low else FindingSeverity.INFO,
            title=f"GPU under-used: gpu{device} busy {stats.fmt(median_util)}% of the time",
            summary=(
                f"gpu{device}'s median utilisation is {stats.fmt(median_util)}% while {throughput_key} holds "
                f"steady at {stats.fmt(stats.median(rate))} (±{stats.pct(cv)}): the GPU waits for work."
            ),
            explanation=(
                "Steady throughput with an idle GPU means each step is limited by something other than the "
                "GPU's arithmetic: usually the input pipeline (decoding, augmentation, a DataLoader with too "
                "few workers), host-to-device copies, or a batch too small to fill the device. The training "
                "would run faster on the same GPU if the work reached it sooner."
            ),
            remedies=[
                f"More DataLoader workers (num_workers={int(workers)} → {int(workers) * 2 or 4}), with "
                "pin_memory=True, persistent_workers=True and prefetch_factor=4."
                if workers is not None
                else "DataLoader(num_workers=4–8, pin_memory=True, persistent_workers=True, "
                "prefetch_factor=4).",
                "A larger batch size fills the GPU better (scale the learning rate with it).",
                "Move preprocessing and augmentation to the GPU, or precompute it.",
                "Copy batches with .to(device, non_blocking=True); profile a few steps with torch.profiler "
                "to see where the time goes.",
            ],
            step_start=int(util.step[len(util) // 10]),
            step_end=int(util.step[-1]),
            evidence=evidence,
            keys=[f"sys/gpu{device}/utilization", throughput_key],
            priority=60,
        )
