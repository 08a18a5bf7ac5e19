"""The fidelity report and the progress bar (no server needed)."""

import io

from tracker.importers.report import Progress, Report


def test_the_report_names_what_was_skipped_and_says_when_something_is_missing():
    report = Report("tensorboard", "runs/", runs_read=1, runs_created=1, points_read=10, points_stored=7)
    report.points_present = 2
    report.skip("image values (not imported)", 3)

    text = report.render()

    assert "points  10 read, 9 on the server (7 stored now, 2 already there)" in text
    assert "skipped 3 image values (not imported)" in text
    assert not report.complete and text.endswith("INCOMPLETE: see above")
    report.points_stored = 8
    assert report.complete and report.render().endswith("complete: everything read is on the server")


def test_the_progress_bar_draws_on_stderr_once_an_import_takes_a_moment():
    stream = io.StringIO()
    progress = Progress("importing", 200, stream=stream, delay=0)

    progress.add(50, note="run-1")
    progress.add(150, note="run-2")  # within the redraw interval: not drawn yet
    progress.close()

    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("importing [#######") and " 25.0% 50/200 " in lines[0] and "run-1" in lines[0]
    assert "100.0% 200/200" in lines[-1] and "run-2" in lines[-1]
    quiet = io.StringIO()
    short = Progress("importing", 10, stream=quiet, delay=60)
    short.add(10)
    short.close()
    assert quiet.getvalue() == ""  # a short import prints no bar
