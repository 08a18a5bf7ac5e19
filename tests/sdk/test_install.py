"""The SDK installs like any package: into a new virtualenv outside the repository, from the
server itself (the line on the "Log a run" page and in the README) and from a checkout."""

import subprocess
import venv
from pathlib import Path

import pytest
from django.test import override_settings

from experiments.models import Run
from tests.helpers import stored_points

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

from tests.processes import ROOT  # noqa: E402

SCRIPT = """
import tracker
with tracker.init(project="installed", config={"lr": 0.01}) as run:
    for step in range(50):
        tracker.log({"train/loss": 1.0 / (step + 1)}, step=step)
print("RUN", run.id, tracker.__version__, tracker.__file__)
"""


def _new_venv(folder: Path) -> Path:
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(folder)
    return folder / "bin" / "python"


def _run_outside_repo(python: Path, folder: Path, env: dict[str, str]) -> str:
    out = subprocess.run(
        [str(python), "-c", SCRIPT], cwd=folder, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_a_new_virtualenv_installs_the_sdk_from_the_server_and_logs_a_run(
    server, api_key, tmp_path, client, owner
):
    client.force_login(owner)
    with override_settings(TRACKER_PUBLIC_URL=server.url):
        page = client.get("/start/").content.decode()
    # The page shows the install line with the server's public address.
    line = f"pip install --index-url {server.url}/sdk/simple/ tracker"
    assert line in page

    python = _new_venv(tmp_path / "venv")
    install = line.split()
    out = subprocess.run(
        [str(python), "-m", *install, "--disable-pip-version-check", "--no-cache-dir"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stdout + out.stderr

    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TRACKER_SERVER": server.url,
        "TRACKER_API_KEY": api_key,
        "TRACKER_DIR": str(tmp_path / "spool"),
        "TRACKER_SYSTEM_INTERVAL": "0",
    }
    stdout = _run_outside_repo(python, tmp_path, env)
    _, run_id, version, location = stdout.split()
    assert location.startswith(str(tmp_path / "venv"))  # the installed copy, not the checkout
    run = Run.objects.get(pk=int(run_id))
    assert (run.project.name, run.status, run.config) == ("installed", "finished", {"lr": 0.01})
    values = sorted(value for _, _, value, _, _ in stored_points(run_id=run.pk, key="train/loss"))
    assert len(values) == 50 and values[-1] == 1.0
    # Installed metadata: the version the server reports, and the console script.
    assert (tmp_path / "venv" / "bin" / "tracker").exists()
    assert version in page


def test_pip_installs_the_sdk_from_a_checkout(tmp_path):
    python = _new_venv(tmp_path / "venv")
    out = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            str(ROOT),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    show = subprocess.run(
        [str(python), "-c", "import tracker, sys; print(tracker.__version__, tracker.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    version, location = show.stdout.split()
    assert location.startswith(str(tmp_path / "venv"))
    assert version == _checkout_version()


def _checkout_version() -> str:
    from dashboard.sdk_wheel import sdk_version

    return sdk_version()


def test_the_wheel_index_refuses_other_packages(client):
    assert client.get("/sdk/simple/numpy/").status_code == 404
    assert client.get("/sdk/simple/tracker/").status_code == 200
    assert client.get("/sdk/not-a-wheel.whl").status_code == 404
