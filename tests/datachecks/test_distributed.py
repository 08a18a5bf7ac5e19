"""Distributed findings on real two-process gloo trainings under torchrun: a rank made
slow by a sleep, a rank whose weights are not kept in sync, a rank that stops logging;
and healthy runs (several seeds) on which none fires."""

import os
import socket
import subprocess
import sys

import pytest

from experiments.diagnostics.models import Finding
from experiments.diagnostics.runner import run_diagnose
from tests import factories
from tests.processes import ROOT

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
pytest.importorskip("torch")

SCRIPT = """
import os, time
import torch
import torch.distributed as dist
from torch import nn
import tracker

rank, mode, seed = int(os.environ["RANK"]), os.environ["MODE"], int(os.environ["SEED"])
dist.init_process_group("gloo")
run = tracker.init(project="dist")
world = dist.get_world_size()
torch.manual_seed(seed)
model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.05)
truth = torch.randn(8, 1, generator=torch.Generator().manual_seed(7))
shard = torch.Generator().manual_seed(1000 * seed + rank)  # each rank its own data
for step in range(60):
    x = torch.randn(32, 8, generator=shard)
    y = x @ truth + 0.1 * torch.randn(32, 1, generator=shard)
    if mode == "slow" and rank == 1:
        time.sleep(0.1)  # a slow data loader on one machine
    loss = nn.functional.mse_loss(model(x), y)
    opt.zero_grad()
    loss.backward()
    if not (mode == "stops" and rank == 1 and step > 25):
        tracker.log({"train/loss": loss.item()}, step=step)  # before the gradient all-reduce
    for p in model.parameters():
        dist.all_reduce(p.grad)
        p.grad /= world
    if not (mode == "unsynced" and rank == 1):  # a rank that never applies the averaged update
        opt.step()
dist.barrier()
with open(f"rank{rank}.txt", "w") as out:
    out.write(str(run.id))
dist.destroy_process_group()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun(tmp_path, mode: str, seed: int = 0) -> int:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MODE": mode, "SEED": str(seed), "OMP_NUM_THREADS": "1"}
    for name in ("TORCHELASTIC_RUN_ID", "RANK", "WORLD_SIZE", "TRACKER_JOIN_KEY", "TRACKER_RUN_ID"):
        env.pop(name, None)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node=2",
        f"--master-port={_free_port()}",
    ]
    out = subprocess.run(
        [*cmd, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return int((tmp_path / "rank0.txt").read_text())


def distributed_findings(run_id: int) -> dict[str, Finding]:
    run_diagnose(run_id=run_id)
    return {f.kind: f for f in Finding.objects.filter(run_id=run_id, analyzer="distributed")}


@pytest.fixture
def project(owner, sdk):
    return factories.project(owner, name="dist")


def test_a_rank_slowed_by_a_sleep_is_named_the_straggler(project, tmp_path):
    findings = distributed_findings(torchrun(tmp_path, "slow"))
    assert set(findings) == {"straggler_rank"}
    finding = findings["straggler_rank"]
    assert finding.subject == "rank 1" and finding.evidence["rank"] == 1
    assert finding.evidence["lag_seconds"] >= 0.05  # the 0.1 s sleep, less noise
    assert finding.evidence["last_pct"] >= 80
    assert finding.title == "Rank 1 is a straggler"


def test_a_rank_whose_weights_are_not_synchronised_disagrees(project, tmp_path):
    findings = distributed_findings(torchrun(tmp_path, "unsynced"))
    finding = findings["rank_disagreement"]
    assert finding.severity == "critical" and finding.evidence["rank"] == 1
    per_rank = finding.evidence["per_rank_mean"]
    assert per_rank["1"] > 3 * per_rank["0"]  # rank 1 never learns
    assert "DistributedDataParallel" in finding.remedies[0]
    assert "straggler_rank" not in findings


def test_a_rank_that_stops_logging_is_named_with_its_last_step(project, tmp_path):
    finding = distributed_findings(torchrun(tmp_path, "stops"))["rank_stopped"]
    assert finding.evidence == {"rank": 1, "rank_last_step": 25, "others_last_step": 59}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_healthy_two_rank_trainings_get_no_distributed_finding(project, tmp_path, seed):
    assert distributed_findings(torchrun(tmp_path, "healthy", seed)) == {}
