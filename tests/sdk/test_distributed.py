"""Distributed runs with zero set-up: under torchrun every rank only calls
``tracker.init(project=...)``, and all ranks join one run that rank 0 ends.

Two real ``torchrun`` jobs of two CPU processes (gloo): one with the default
``--rdzv-id=none`` (the ranks agree through the launcher's store), one ``--standalone``
(the key is the launcher's job id, ``TORCHELASTIC_RUN_ID``)."""

import os
import socket
import subprocess
import sys

import pytest

from experiments.models import Run
from tests.helpers import stored_points
from tests.processes import ROOT

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

torch = pytest.importorskip("torch")

SCRIPT = """
import os
import torch
import torch.distributed as dist
import tracker

rank = int(os.environ["RANK"])
if os.environ.get("INIT_GROUP_FIRST") == "1":
    dist.init_process_group("gloo")
run = tracker.init(project="dist")  # the only tracker call besides log
if not dist.is_initialized():
    dist.init_process_group("gloo")
for step in range(5):
    value = torch.tensor([float(rank + step)])
    dist.all_reduce(value)
    tracker.log({"train/loss": float(rank) + step / 10, "sum": value.item()}, step=step)
dist.barrier()
with open(f"rank{rank}.txt", "w") as out:  # a file each: the ranks' stdout lines interleave
    out.write(str(run.id))
dist.destroy_process_group()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _torchrun(tmp_path, sdk_env: dict[str, str], *launcher_args: str, group_first: bool = False):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, **sdk_env, "PYTHONPATH": str(ROOT), "INIT_GROUP_FIRST": "1" if group_first else "0"}
    for name in ("TORCHELASTIC_RUN_ID", "RANK", "WORLD_SIZE", "TRACKER_JOIN_KEY", "TRACKER_RUN_ID"):
        env.pop(name, None)
    launcher_args = tuple(a.replace("PORT", str(_free_port())) for a in launcher_args)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2", *launcher_args, str(script)]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    ids = {
        str(rank): int((tmp_path / f"rank{rank}.txt").read_text())
        for rank in (0, 1)
        if (tmp_path / f"rank{rank}.txt").exists()
    }
    assert set(ids) == {"0", "1"}, out.stdout + out.stderr
    return ids


@pytest.mark.parametrize(
    "launcher_args, group_first",
    [
        pytest.param(("--master-port=PORT",), False, id="rdzv-none-agent-store"),
        pytest.param(("--standalone",), False, id="standalone-job-id"),
        pytest.param(("--master-port=PORT",), True, id="process-group-first"),
    ],
)
def test_every_rank_calling_init_joins_one_run_that_rank0_finishes(
    sdk, tmp_path, launcher_args, group_first, client, owner
):
    sdk_env = {name: value for name, value in os.environ.items() if name.startswith("TRACKER_")}
    ids = _torchrun(tmp_path, sdk_env, *launcher_args, group_first=group_first)
    assert ids["0"] == ids["1"]

    runs = list(Run.objects.filter(project__name="dist"))
    assert len(runs) == 1, [(r.id, r.status) for r in runs]
    run = runs[0]
    assert run.id == ids["0"]
    assert run.status == "finished"
    assert run.world_size == 2
    assert not Run.objects.filter(status="crashed").exists()
    points = stored_points(run.id, "train/loss")
    by_rank = {rank: sorted(step for _, step, _, _, r in points if r == rank) for rank in (0, 1)}
    assert by_rank == {0: [0, 1, 2, 3, 4], 1: [0, 1, 2, 3, 4]}
    assert {round(v, 3) for _, _, v, _, r in points if r == 1} == {1.0, 1.1, 1.2, 1.3, 1.4}

    # The run page says how many ranks logged to it.
    client.force_login(owner)
    page = client.get(f"/runs/{run.id}/").content.decode()
    assert '<dd id="run-ranks"' in page and "2 ranks" in page
