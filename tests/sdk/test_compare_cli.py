"""``python -m tracker baseline set`` and ``python -m tracker compare`` as subprocesses
against a real server, on runs logged with the SDK; and several ranks logging to one
run from concurrent processes."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tracker
from experiments.models import Baseline, Run
from tests.processes import ROOT

FAST = {
    "TRACKER_FLUSH_INTERVAL": "0.05",
    "TRACKER_HEARTBEAT_INTERVAL": "0.5",
    "TRACKER_BACKOFF_BASE": "0.05",
    "TRACKER_HTTP_TIMEOUT": "5",
    "TRACKER_FINISH_TIMEOUT": "20",
}

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sdk(server, api_key, tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKER_SERVER", server.url)
    monkeypatch.setenv("TRACKER_API_KEY", api_key)
    monkeypatch.setenv("TRACKER_DIR", str(tmp_path / "spool"))
    monkeypatch.delenv("TRACKER_RUN_ID", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    yield server
    tracker.finish(timeout=1)


def logged(name: str, acc: list[float], project: str = "digits", group: str | None = None) -> int:
    """A finished run logged through the SDK: val/acc per step, and a falling loss."""
    with tracker.init(project=project, name=name, group=group, config={"name": name}) as run:
        for step, value in enumerate(acc):
            tracker.log({"val/acc": value, "train/loss": 1.0 / (step + 1)}, step=step)
    return run.id


def cli(*args: str, api_key: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    if api_key is not None:
        env["TRACKER_API_KEY"] = api_key
    return subprocess.run(
        [sys.executable, "-m", "tracker", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_baseline_set_then_compare_gates_on_worse_beyond_tolerance(sdk):
    base = logged("base", [0.5, 0.7, 0.80])
    worse = logged("worse", [0.5, 0.7, 0.78])
    better = logged("better", [0.6, 0.8, 0.85])

    done = cli("baseline", "set", str(base))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"digits: baseline is now run 'base' (#{base})"
    assert Baseline.objects.active().get().run_id == base
    shown = cli("baseline", "show", "--project", "digits")
    assert shown.returncode == 0 and shown.stdout.startswith("* ") and f"run base (#{base})" in shown.stdout

    done = cli("compare", str(worse), "--baseline", "--metric", "val/acc", "--fail-if-worse")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "worse than the reference beyond tolerance on val/acc" in done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith("val/acc"))
    assert row.split()[:5] == ["val/acc", "↑", "0.8", "0.78", "-0.02"]
    assert "-2.5%" in row and "worse (beyond tolerance)" in row

    # 2.5% worse: within a 3% tolerance, not within 2% (or 0.01 absolute).
    assert (
        cli("compare", str(worse), "--metric", "val/acc", "--fail-if-worse", "--tolerance", "3%").returncode
        == 0
    )
    assert (
        cli("compare", str(worse), "--metric", "val/acc", "--fail-if-worse", "--tolerance", "0.02").returncode
        == 1
    )
    assert (
        cli(
            "compare", str(worse), "--metric", "val/acc", "--fail-if-worse", "--abs-tolerance", "0.01"
        ).returncode
        == 1
    )
    assert (
        cli(
            "compare", str(worse), "--metric", "val/acc", "--fail-if-worse", "--abs-tolerance", "0.03"
        ).returncode
        == 0
    )
    # Without --fail-if-worse the table is printed and the exit code is 0.
    assert cli("compare", str(worse), "--metric", "val/acc").returncode == 0

    done = cli("compare", str(better), "--metric", "val/acc", "--fail-if-worse")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "better" in done.stdout and "step 1" in done.stdout  # reached 0.8 at step 1

    # Against another run instead of the baseline: better beats worse.
    done = cli("compare", str(better), "--against", str(worse), "--metric", "val/acc", "--fail-if-worse")
    assert done.returncode == 0 and f"vs run worse (#{worse})" in done.stdout


def test_groups_from_the_command_line_and_the_noise_verdict(sdk):
    for seed, final in enumerate([0.80, 0.81, 0.79]):
        logged(f"v1-{seed}", [0.5, final], group="v1")
    for seed, final in enumerate([0.70, 0.72, 0.71]):
        logged(f"v2-{seed}", [0.5, final], group="v2")

    done = cli("baseline", "set", "v1")  # the project is found from the group
    assert done.returncode == 0, done.stderr
    assert "baseline is now group 'v1'" in done.stdout
    assert Baseline.objects.active().get().group == "v1"

    done = cli("compare", "group:v2", "--metric", "val/acc", "--fail-if-worse")
    assert done.returncode == 1
    assert "group v2 (3 runs, mean ± std) vs group v1 (3 runs, mean ± std)" in done.stdout
    assert "0.71 ± 0.01" in done.stdout and "0.8 ± 0.01" in done.stdout

    logged("v1-other", [0.5, 0.6], project="elsewhere", group="v1")
    done = cli("baseline", "set", "v1")
    assert done.returncode == 2 and "several projects" in done.stderr
    assert cli("baseline", "set", "v1", "--project", "elsewhere").returncode == 0


def test_cli_errors_exit_2_with_a_message(sdk, stranger_api_key):
    run = logged("lonely", [0.5, 0.6])
    done = cli("compare", str(run))
    assert done.returncode == 2 and "has no baseline" in done.stderr
    done = cli("compare", "999999")
    assert done.returncode == 2 and "does not exist or is not yours" in done.stderr
    done = cli("baseline", "set", str(run), api_key=stranger_api_key)
    assert done.returncode == 2 and "HTTP 404" in done.stderr
    assert not Baseline.objects.exists()
    done = cli("compare", str(run), "--against", str(run), "--tolerance", "-1")
    assert done.returncode == 2 and "must be a finite number >= 0" in done.stderr


RANK_SCRIPT = """
import sys, time, tracker
rank = int(sys.argv[1])
tracker.init(project="ddp", rank=rank)
for step in range(200):
    tracker.log({"train/loss": step + rank}, step=step)
    if step % 50 == 0:
        time.sleep(0.05)
tracker.finish()
"""


def test_ranks_logging_concurrently_are_stored_apart_and_folded_into_mean_and_std(sdk, client, owner):
    run = tracker.init(project="ddp", rank=0)
    run_id = run.id
    env = dict(os.environ, PYTHONPATH=str(ROOT), TRACKER_RUN_ID=str(run_id))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RANK_SCRIPT, str(rank)], env=env, cwd=ROOT, stderr=subprocess.PIPE
        )
        for rank in (1, 2)
    ]
    for step in range(200):
        tracker.log({"train/loss": float(step)}, step=step)
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    run.finish()

    history = tracker.Api().run(run_id).history("train/loss")
    for rank in (0, 1, 2):
        mine = [(p["step"], p["value"]) for p in history if p["rank"] == rank]
        assert mine == [(s, float(s + rank)) for s in range(200)]
    assert Run.objects.get(pk=run_id).status == "finished"

    client.force_login(owner)
    series = client.get(f"/runs/{run_id}/series.json?key=train/loss").json()["series"][0]
    assert series["ranks"] == 3
    assert series["value"][:3] == [1.0, 2.0, 3.0]  # mean of s, s+1, s+2
    assert series["std"][0] == pytest.approx(np.std([0, 1, 2]))
    each = client.get(f"/runs/{run_id}/series.json?key=train/loss&ranks=each").json()["series"][0]
    assert [line["rank"] for line in each["by_rank"]] == [0, 1, 2]
    assert each["by_rank"][2]["value"][:2] == [2.0, 3.0]

    # Comparisons use the mean across ranks too.
    single = tracker.init(project="ddp", name="single")
    for step in range(200):
        tracker.log({"train/loss": float(step)}, step=step)
    single.finish()
    done = cli("compare", str(run_id), "--against", str(single.id), "--json")
    assert done.returncode == 0, done.stderr
    side = json.loads(done.stdout)["metrics"][0]["sides"][0]
    assert side["ranks"] == 3 and side["final"]["value"] == 200.0 and side["delta"]["final"]["abs"] == 1.0
