"""Loss spikes in a long run that has checkpoints: the loss jumps far above its running
level and comes back down (not divergence: it recovered), and the finding names the last
checkpoint saved before the spike, the one to resume from with the spike's batches
skipped. Without a checkpoint to name there is nothing to act on, so no finding: a
recovered spike alone is the optimizer doing its job."""

from __future__ import annotations

import numpy as np

from experiments.diagnostics import stats
from experiments.diagnostics.base import Analyzer, Finding
from experiments.diagnostics.data import Curve, RunData
from experiments.diagnostics.models import FindingSeverity

EXPLANATION = (
    "A loss that jumps several times above where it had been running and then comes back is a loss spike. "
    "In long runs they come from a batch unlike the others (bad or duplicated data, a very long sequence), "
    "a learning rate that is too high for a sharp region of the loss, or the optimizer's second-moment "
    "estimates lagging behind a sudden change in the gradients (Adam with a small eps). The run usually "
    "recovers, but often to a worse level than it would have reached, having spent the steps since "
    "relearning. The practical remedy in large-model training is to go back to the last checkpoint before "
    "the spike and continue with the offending batches skipped, a lower learning rate, or tighter "
    "gradient clipping."
)


def spikes_of(curve: Curve, limits: dict[str, float]) -> list[tuple[int, int, int | None]]:
    """The spikes of ``curve`` that recovered: (first index, peak index, index where it
    was back under ``recover_factor`` × the level before), in order. A spike is a point
    ``spike_factor`` × above the median of the ``window`` points before it that also climbs
    ``min_rise`` of the way from there back to where the loss started: late in a run a
    batch at 4× a tiny loss is noise, not a spike."""
    values = curve.value
    window = int(limits["window"])
    level = stats.trailing_median(values, window)
    start = stats.median(values[:3])
    with np.errstate(invalid="ignore"):
        high = (
            (level > 0)
            & (values > limits["spike_factor"] * level)
            & (values - level >= limits["min_rise"] * (start - level))
        )
    high[:window] = False  # no running level to speak of yet
    found = []
    i = 0
    n = len(values)
    while i < n:
        if not high[i]:
            i += 1
            continue
        base = float(level[i])
        end = min(n, i + 1 + int(limits["recover_points"]))
        back = next((j for j in range(i + 1, end) if values[j] <= limits["recover_factor"] * base), None)
        stop = back if back is not None else end
        peak = i + int(np.argmax(values[i:stop]))
        found.append((i, peak, back))
        i = stop if back is not None else n  # not back down: the rest is divergence's to judge
    return [s for s in found if s[2] is not None]


class LossSpikes(Analyzer):
    name = "spikes"
    title = "Loss spikes (and the checkpoint to resume from)"
    priority = 30
    thresholds = {
        "min_points": 100,
        "window": 20,
        "spike_factor": 3.0,
        "recover_points": 50,
        "recover_factor": 1.5,
        "min_rise": 0.25,
    }
    threshold_help = {
        "min_points": "training-loss points needed (a long run) before judging",
        "window": "the running level is the median of this many points before each one",
        "spike_factor": "a spike is a loss this many times its running level",
        "recover_points": "it must come back down within this many points (else it is divergence)",
        "recover_factor": "back down means under this many times the level before the spike",
        "min_rise": "and it climbs at least this fraction of the way from that level back to the loss at "
        "the start",
    }

    def analyze(self, run: RunData, limits: dict[str, float]) -> list[Finding]:
        if not run.checkpoints:
            return []
        curve = run.curve(run.train_loss)
        if curve is None:
            return []
        curve = curve.finite
        if len(curve) < limits["min_points"]:
            return []
        found = spikes_of(curve, limits)
        if not found:
            return []
        level = stats.trailing_median(curve.value, int(limits["window"]))
        # The worst spike is the one to act on; all of them are marked.
        first, peak, back = max(found, key=lambda s: curve.value[s[1]] / level[s[0]])
        spike_step = int(curve.step[first])
        checkpoint = run.checkpoint_before(spike_step - 1)
        if checkpoint is None:
            return []
        ckpt_step, ckpt_name = checkpoint
        base = float(level[first])
        top = float(curve.value[peak])
        recovered_step = int(curve.step[back])
        steps = [int(curve.step[s[0]]) for s in found]
        run_id = run.run.pk
        return [
            Finding(
                kind="loss_spike",
                severity=FindingSeverity.WARNING,
                title=(
                    f"Loss spike at step {spike_step}: resume from checkpoint {ckpt_name} (step {ckpt_step})"
                ),
                summary=(
                    f"{curve.key} jumped from about {stats.fmt(base)} to {stats.fmt(top)} "
                    f"(×{stats.fmt(top / base)}) at step {spike_step} and was back by step {recovered_step}"
                    + (f"; {len(found)} spikes in all" if len(found) > 1 else "")
                    + f". The last checkpoint before it is {ckpt_name}, saved at step {ckpt_step}."
                ),
                explanation=EXPLANATION,
                remedies=[
                    f"Resume from checkpoint {ckpt_name} (step {ckpt_step}): "
                    f"tracker.load_checkpoint({run_id}, which={ckpt_step}), and skip the batches of steps "
                    f"{ckpt_step + 1}–{spike_step}.",
                    "Clip the gradient norm (torch.nn.utils.clip_grad_norm_) and lower the peak learning "
                    "rate, or lengthen its warm-up.",
                    "Look at the batches around the spike for bad data: repeated, corrupted or unusually "
                    "long examples.",
                    "With Adam, a larger eps (1e-6 to 1e-5) or a lower beta2 (0.95) damps spikes.",
                ],
                step_start=spike_step,
                step_end=recovered_step,
                evidence={
                    "metric": curve.key,
                    "spike_step": spike_step,
                    "spike_value": stats.rounded(top),
                    "level_before": stats.rounded(base),
                    "factor_over_level": stats.rounded(top / base),
                    "recovered_step": recovered_step,
                    "spike_steps": steps[:10],
                    "resume_checkpoint": ckpt_name,
                    "resume_checkpoint_step": ckpt_step,
                },
                keys=[curve.key],
                marks=[{"step": ckpt_step, "label": f"checkpoint {ckpt_name}"}]
                + [{"step": s, "label": "spike"} for s in steps[:10]],
            )
        ]
