"""``python -m tracker import tensorboard``: logs written by PyTorch's own SummaryWriter."""

import math
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from torch.utils.tensorboard import SummaryWriter

from experiments.models import Media, Run
from tests.importers.support import cli_env, points, run_import, stored_points
from tests.processes import ROOT

STEPS = 10_500  # more than EventAccumulator's reservoir of 10,000 scalars per tag


def loss(step: int) -> float:
    """A value float32 holds exactly (TensorBoard stores scalars as float32)."""
    return float(np.float32(2.0 / (1 + step / 100)))


def write_run(logdir, name: str = "baseline") -> dict:
    """A PyTorch run: a long scalar, a sparse one, a histogram, text and hparams."""
    walls = {}
    with SummaryWriter(log_dir=str(logdir / name)) as writer:
        for step in range(STEPS):
            wall = 1_700_000_000.0 + step
            writer.add_scalar("train/loss", loss(step), step, walltime=wall)
            walls[step] = wall
            if step % 1000 == 0:
                writer.add_scalar("val/acc", step / 16384, step, walltime=wall)
        writer.add_scalar("val/acc", math.nan, STEPS, walltime=1_700_000_000.0 + STEPS)
        rng = np.random.default_rng(0)
        writer.add_histogram("weights/fc", rng.normal(size=1000), 5, walltime=1_700_000_005.0)
        writer.add_text("notes", "lr warm-up was too short", 7, walltime=1_700_000_007.0)
        writer.add_hparams({"lr": 0.01, "optimizer": "adam", "augment": True}, {"hparam/best_acc": 0.75})
    return walls


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """One PyTorch log folder for the module (writing 10,500 events takes seconds)."""
    logdir = tmp_path_factory.mktemp("logs")
    return logdir, write_run(logdir)


def test_every_point_histogram_text_and_hparams_arrive_exactly(sdk, logs):
    logdir, walls = logs

    done = run_import("tensorboard", logdir, "--project", "tb")

    assert done.returncode == 0, done.stdout + done.stderr
    run = Run.objects.get()
    assert (run.project.name, run.name, run.status) == ("tb", "baseline", "finished")
    stored = points(run.pk, "train/loss")
    assert len(stored) == STEPS
    assert stored == [(step, loss(step), walls[step]) for step in range(STEPS)]
    acc = points(run.pk, "val/acc")
    assert [(s, v) for s, v, _ in acc[:-1]] == [(s, s / 16384) for s in range(0, STEPS, 1000)]
    assert acc[-1][0] == STEPS and math.isnan(acc[-1][1])
    # add_hparams: the config, and its metric as the summary (and a point).
    assert run.config == {"lr": 0.01, "optimizer": "adam", "augment": True}
    assert run.summary == {"hparam/best_acc": 0.75}
    # The source's times are the run's.
    assert run.started_at.timestamp() == pytest.approx(min(walls.values()), abs=1)
    assert run.finished_at.timestamp() >= 1_700_000_000 + STEPS
    histogram = Media.objects.get(run=run, kind="histogram")
    assert (histogram.name, histogram.step) == ("weights/fc", 5)
    assert sum(histogram.data["counts"]) == 1000
    edges = histogram.data["edges"]
    assert len(edges) == len(histogram.data["counts"]) + 1 and edges == sorted(edges)
    text = Media.objects.get(run=run, kind="text")
    assert (text.name, text.step) == ("notes/text_summary", 7)
    assert text.data == {"value": "lr warm-up was too short"}
    assert "points  10513 read, 10513 on the server (10513 stored now, 0 already there)" in done.stdout
    assert "params  3 read, 3 stored" in done.stdout
    assert "complete: everything read is on the server" in done.stdout


def test_importing_twice_stores_nothing_twice(sdk, logs):
    from tracker.importers.tensorboard import import_tensorboard

    first = import_tensorboard(logs[0], progress=False)
    counts = stored_points()
    media = Media.objects.count()

    again = import_tensorboard(logs[0], progress=False)

    assert (first.points_stored, first.runs_created) == (STEPS + 13, 1)
    assert stored_points() == counts and sum(counts.values()) == STEPS + 13
    assert Media.objects.count() == media == 2
    assert Run.objects.count() == 1
    assert (again.points_stored, again.points_present, again.media_present) == (0, STEPS + 13, 2)
    assert again.runs_unchanged == 1 and again.complete


def test_follow_picks_up_points_appended_while_it_runs(sdk, tmp_path):
    logdir = tmp_path / "logs"
    writer = SummaryWriter(log_dir=str(logdir / "live"))
    for step in range(50):
        writer.add_scalar("loss", float(step), step)
    writer.flush()
    follow = subprocess.Popen(
        [sys.executable, "-m", "tracker", "import", "tensorboard", logdir, "--follow", "--interval", "0.2"],
        cwd=ROOT,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: Run.objects.filter(points_count=50).exists())
        assert Run.objects.get().status == "running"
        for step in range(50, 120):
            writer.add_scalar("loss", float(step), step)
        writer.flush()
        wait_for(lambda: Run.objects.filter(points_count=120).exists())
    finally:
        follow.send_signal(signal.SIGINT)
        out, err = follow.communicate(timeout=180)
        writer.close()
    assert follow.returncode == 0, out + err
    run = Run.objects.get()
    assert [(s, v) for s, v, _ in points(run.pk, "loss")] == [(s, float(s)) for s in range(120)]
    assert run.points_count == 120 and run.status == "finished"
    assert "points  120 read, 120 on the server" in out


def wait_for(condition, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_the_tensor_form_that_tf2_writes_is_read_too(sdk, tmp_path):
    """TF2's ``tf.summary`` writes scalars and histograms as tensors, with the plugin's
    metadata only beside a tag's first value; written here with tensorboard's own
    ``summary_v2`` protos and event file writer (no TensorFlow in this environment)."""
    from tensorboard.compat.proto import event_pb2
    from tensorboard.plugins.histogram.summary_v2 import histogram_pb
    from tensorboard.plugins.scalar.summary_v2 import scalar_pb
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    from tracker.importers.tensorboard import import_tensorboard

    writer = EventFileWriter(str(tmp_path / "logs" / "tf2"))
    for step in range(300):
        summary = scalar_pb("epoch_loss", np.float64(1.0 / (step + 1)))
        if step:
            summary.value[0].ClearField("metadata")  # TF2 sends the metadata once per tag
        writer.add_event(event_pb2.Event(step=step, wall_time=1_600_000_000.0 + step, summary=summary))
    values = np.arange(100, dtype=np.float64)
    writer.add_event(
        event_pb2.Event(step=9, wall_time=1_600_000_009.0, summary=histogram_pb("w", values, 10))
    )
    writer.close()

    report = import_tensorboard(tmp_path / "logs", project="tf2", progress=False)

    assert report.complete and report.points_read == 300
    run = Run.objects.get()
    assert [(s, v, w) for s, v, w in points(run.pk, "epoch_loss")] == [
        (s, float(np.float32(1.0 / (s + 1))), 1_600_000_000.0 + s)
        for s in range(300)  # scalar_pb: float32
    ]
    histogram = Media.objects.get(run=run, kind="histogram")
    assert (histogram.step, sum(histogram.data["counts"]), len(histogram.data["counts"])) == (9, 100, 10)
    assert histogram.data["edges"][0] == 0 and histogram.data["edges"][-1] == 99


def test_a_folder_without_event_files_is_refused_with_its_name(db, tmp_path, capsys):
    from tracker.cli import main

    assert main(["import", "tensorboard", str(tmp_path)]) == 2
    assert f"{tmp_path} holds no TensorBoard event files" in capsys.readouterr().err
    assert main(["import", "wandb", str(tmp_path / "missing")]) == 2
    assert "missing is not a directory" in capsys.readouterr().err
    assert not Run.objects.exists()
