"""`make run`: the dashboard (uvicorn) and a Celery worker with beat, stopped together.

    python -m dashboard.run --host 127.0.0.1 --port 8300

Both processes get ``TRACKER_PUBLIC_URL`` (the address runs, pages and sweep trials use)
from the host and port, unless the environment sets it, so a sweep started on any port
logs its trials back to this server. Ctrl-C or SIGTERM stops both within seconds: each
child gets one SIGTERM (uvicorn and Celery shut down gracefully on it), and whatever is
still running after ``--grace`` seconds is killed. One signal each, never a loop (a shell
``trap 'kill 0'`` re-fires on its own signal and floods the worker).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence


def commands(host: str, port: int) -> list[list[str]]:
    python = sys.executable
    return [
        [python, "-m", "celery", "-A", "dashboard", "worker", "--beat", "--loglevel=INFO", "--concurrency=2"],
        [python, "-m", "uvicorn", "dashboard.asgi:application", "--host", host, "--port", str(port)],
    ]


def public_url(host: str, port: int) -> str:
    """The address clients use: the bind address, except that a wildcard bind is reached
    as the loopback address from this machine."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{shown}:{port}"


def stop(children: Sequence[subprocess.Popen], grace: float) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{child.args[2]} did not stop within {grace:g} s: killing it", file=sys.stderr)
            child.kill()
            child.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--grace", type=float, default=8.0, help="seconds the children get to stop")
    args = parser.parse_args(argv)

    env = dict(os.environ)
    env.setdefault("TRACKER_PUBLIC_URL", public_url(args.host, args.port))
    print(f"Dashboard: {env['TRACKER_PUBLIC_URL']}/   (Ctrl-C stops the server and the worker)", flush=True)

    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # The children ignore the terminal's Ctrl-C (their own session): only we signal them, once.
    cmds = commands(args.host, args.port)
    children = [subprocess.Popen(cmd, env=env, start_new_session=True) for cmd in cmds]
    try:
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.2)
    finally:
        stop(children, args.grace)
    failed = [child for child in children if child.returncode not in (0, -signal.SIGTERM, -signal.SIGKILL)]
    return 1 if failed and not stopping else 0


if __name__ == "__main__":
    sys.exit(main())
