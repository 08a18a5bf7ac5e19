"""``python -m tracker import wandb``: runs logged by the real wandb client, offline."""

import subprocess
import sys

from experiments.models import Media, Run
from tests.importers.support import cli_env, points, run_import, stored_points

SCRIPT = """
import math, time, wandb
config = {"lr": 0.001, "layers": [4, 8], "opt": {"name": "adam"}}
run = wandb.init(project="speech", name="conformer", config=config, tags=["baseline"], notes="first try",
                 group="sweep-1", settings=wandb.Settings(x_stats_sampling_interval=0.2))
for step in range(400):
    row = {"train/loss": 4.0 / (step + 1), "epoch": step // 100}
    if step % 100 == 0:
        row["val/acc"] = step / 400
        row["sample"] = f"step {step}"
    if step == 300:
        row["val/nan"] = math.nan
        row["weights"] = wandb.Histogram(sequence=[1, 2, 2, 3, 3, 3], num_bins=3)
    run.log(row)
    time.sleep(0.002)  # a run of about a second: the system metrics sampler takes a few samples
run.summary["best/val_acc"] = 0.75
run.finish()
"""


def log_offline_run(tmp_path) -> None:
    env = cli_env(
        WANDB_MODE="offline", WANDB_DIR=str(tmp_path), WANDB_SILENT="true", WANDB_DISABLE_GIT="true"
    )
    env.pop("WANDB_API_KEY", None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr


def test_config_summary_and_every_history_row_arrive(sdk, tmp_path):
    log_offline_run(tmp_path)
    [folder] = (tmp_path / "wandb").glob("offline-run-*")

    done = run_import("wandb", tmp_path / "wandb")

    assert done.returncode == 0, done.stdout + done.stderr
    run = Run.objects.select_related("project").get()
    assert (run.project.name, run.name, run.group, run.status) == (
        "speech",
        "conformer",
        "sweep-1",
        "finished",
    )
    assert run.config == {"lr": 0.001, "layers": [4, 8], "opt": {"name": "adam"}}
    assert {"wandb", "baseline"} <= set(run.tags)
    assert run.summary["best/val_acc"] == 0.75 and run.summary["train/loss"] == 4.0 / 400
    assert [(s, v) for s, v, _ in points(run.pk, "train/loss")] == [(s, 4.0 / (s + 1)) for s in range(400)]
    assert [(s, v) for s, v, _ in points(run.pk, "epoch")] == [(s, s // 100) for s in range(400)]
    assert [(s, v) for s, v, _ in points(run.pk, "val/acc")] == [(s, s / 400) for s in range(0, 400, 100)]
    walls = [w for _, _, w in points(run.pk, "train/loss")]
    assert walls == sorted(walls) and walls[0] >= run.started_at.timestamp()
    texts = Media.objects.filter(run=run, kind="text", name="sample").order_by("step")
    assert [(t.step, t.data["value"]) for t in texts] == [(s, f"step {s}") for s in range(0, 400, 100)]
    histogram = Media.objects.get(run=run, kind="histogram")
    assert (histogram.name, histogram.step, histogram.data["counts"]) == ("weights", 300, [1, 2, 3])
    assert Media.objects.get(run=run, kind="text", name="notes").data == {"value": "first try"}
    memory = points(run.pk, "sys/memory_percent")  # wandb's system metrics, as ours are named
    assert memory and all(0 < value <= 100 and 0 <= step < 400 for step, value, _ in memory)
    assert "complete: everything read is on the server" in done.stdout
    assert f"wandb:{folder.name.rsplit('-', 1)[1]}" in run.tags


def test_importing_twice_stores_nothing_twice(sdk, tmp_path):
    from tracker.importers.wandb import import_wandb

    log_offline_run(tmp_path)
    first = import_wandb(tmp_path / "wandb", progress=False)
    counts, media = stored_points(), Media.objects.count()

    again = import_wandb(tmp_path / "wandb", progress=False)

    assert first.complete and first.points_stored == first.points_read > 400 and first.runs_created == 1
    assert stored_points() == counts and Media.objects.count() == media == 6
    assert (again.points_stored, again.points_present, again.media_present) == (0, first.points_read, 6)
    assert again.runs_unchanged == 1 and again.complete
