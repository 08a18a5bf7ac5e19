"""The throughput analyzer on stored runs of a large-model training as the SDK records it
on GPUs (``system/gpu_name`` and ``system/gpu_count`` in the summary, from
tracker/system.py): tokens per second and MFU from the GPU table, and no finding when an
input is missing or the GPU is not in the table. The real training (tokens and
parameters logged by a tiny language model) is in test_root_causes.py."""

import numpy as np
import pytest

from experiments.diagnostics.analyzers.throughput import gpu_peak
from experiments.diagnostics.runner import run_diagnose
from experiments.models import RunStatus
from tests.diagnostics.support import ingest, make_run

pytestmark = pytest.mark.django_db

H100 = "NVIDIA H100 80GB HBM3"


@pytest.mark.parametrize(
    ("name", "tflops"),
    [
        (H100, 989),
        ("NVIDIA H100 PCIe", 756),
        ("NVIDIA H200", 989),
        ("NVIDIA A100-SXM4-80GB", 312),
        ("NVIDIA L4", 121),
        ("Tesla T4", 65),
        ("Tesla V100-SXM2-32GB", 125),
        ("NVIDIA L40S", None),  # not in the table: no guess
        ("NVIDIA GeForce RTX 4090", None),
    ],
)
def test_the_gpu_table_knows_the_data_centre_cards_by_their_reported_names(name, tflops):
    assert gpu_peak(name) == (None if tflops is None else tflops * 1e12)


def llm_run(owner, summary: dict):
    """200 steps of 512 sequences × 1024 tokens, one a second (``ingest`` stamps step ``s``
    at t0 + s, as the SDK sends wall times), the loss falling as a language model's does."""
    run = make_run(owner, name="llm", status=RunStatus.FINISHED, summary=summary)
    steps = np.arange(200)
    ingest(
        run,
        {
            "train/loss": (steps, 3 + 8 / (1 + steps / 20)),
            "perf/tokens": (steps, np.full(200, 512 * 1024)),
            "val/loss": (steps[19::20], 3.1 + 8 / (1 + steps[19::20] / 20)),
        },
        t0=1.7e9,
    )
    result = run_diagnose(run_id=run.pk)
    assert result.errors == {}
    return {f.kind: f for f in result.all}


def test_tokens_per_second_and_mfu_on_eight_h100s(owner):
    found = llm_run(owner, {"system/gpu_name": H100, "system/gpu_count": 8, "params": 1.3e9})
    finding = found["throughput"]
    tokens = 512 * 1024
    achieved = 6 * 1.3e9 * tokens  # FLOP/s at one step per second
    assert finding.severity == "info"
    assert finding.evidence["steps_per_s"] == 1.0
    assert finding.evidence["tokens_per_s"] == pytest.approx(tokens, rel=1e-3)
    assert finding.evidence["pace_from"] == "the wall times of train/loss"
    assert finding.evidence["flops_from"] == "6 × params per token"
    assert finding.evidence["peak_tflops"] == 8 * 989
    assert finding.evidence["peak_from"] == f"{H100} (bf16 dense)"
    assert finding.evidence["gpus"] == 8
    assert finding.evidence["mfu_pct"] == pytest.approx(100 * achieved / (8 * 989e12), rel=1e-3)
    assert finding.title == f"Throughput: 5.243e+05 tokens/s, MFU {100 * achieved / (8 * 989e12):.0f}%"
    assert finding.remedies[0].startswith("MFU of 52% is good")


def test_flops_per_token_stated_by_the_training_win_over_six_times_the_parameters(owner):
    a100 = {"system/gpu_name": "NVIDIA A100-SXM4-80GB", "system/gpu_count": 1, "params": 3}
    found = llm_run(owner, {**a100, "flops_per_token": 1e8})
    finding = found["throughput"]
    mfu = 1e8 * 512 * 1024 / 312e12
    assert finding.evidence["flops_per_token"] == 1e8 and finding.evidence["flops_from"] == "flops_per_token"
    assert finding.evidence["mfu_pct"] == pytest.approx(100 * mfu, rel=1e-3)
    assert finding.remedies[0].startswith("Train in bfloat16")  # 17%: what raises it


def test_figures_above_the_gpus_peak_are_said_to_be_wrong_not_reported_as_mfu(owner):
    found = llm_run(owner, {"system/gpu_name": "NVIDIA A100-SXM4-80GB", "flops_per_token": 1e9})
    finding = found["throughput"]
    assert finding.severity == "warning"
    assert finding.title == "Throughput figures do not add up: MFU 168%, above the GPUs' peak"
    assert finding.evidence["mfu_pct"] == pytest.approx(100 * 1e9 * 512 * 1024 / 312e12, rel=1e-3)
    assert "tokens_per_s" not in finding.evidence


@pytest.mark.parametrize(
    "summary",
    [
        {"system/gpu_name": "NVIDIA L40S", "system/gpu_count": 1, "params": 1.3e9},  # peak unknown
        {"system/gpu": "none", "system/gpu_count": 0, "params": 1.3e9},  # a CPU run
        {"system/gpu_name": H100, "system/gpu_count": 8},  # no FLOPs, no parameter count
        {"system/gpu_name": "NVIDIA A100-SXM4-80GB, NVIDIA H100 80GB HBM3", "params": 1.3e9},  # mixed
    ],
)
def test_no_throughput_finding_when_an_input_is_missing(owner, summary):
    assert "throughput" not in llm_run(owner, summary)
