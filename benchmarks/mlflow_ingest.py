"""MLflow-compatible ingest: 200,000 points with the real ``mlflow`` client's
``log_batch`` into our server and into a stock ``mlflow server`` on PostgreSQL, in the
same sitting, both servers one process on this machine; prints both and the ratio.

Both on PostgreSQL (127.0.0.1:5432), each in a database of its own made on first use:
ours in ``tracker_mlflow_bench`` (or ``DATABASE_URL``), MLflow's in ``mlflow_bench``
(its tables made by ``mlflow server`` itself).
Run: .venv/bin/python benchmarks/mlflow_ingest.py [--points 200000] [--keys 10] [--batch 1000]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _setup import ROOT, bench_user, setup

MLFLOW_DB = os.environ.get("BENCH_MLFLOW_DATABASE", "mlflow_bench")


OURS_DB = os.environ.get("BENCH_TRACKER_DATABASE", "tracker_mlflow_bench")


def _ensure_database(name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres", connect_timeout=5)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if not cur.fetchone():
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def _ensure_mlflow_database() -> str:
    _ensure_database(MLFLOW_DB)
    return f"postgresql+psycopg2://postgres@127.0.0.1:5432/{MLFLOW_DB}"


class StockMlflowServer:
    """``mlflow server`` with a PostgreSQL backend store, one worker, on 127.0.0.1."""

    def __init__(self, store_uri: str, folder: Path) -> None:
        from tests.processes import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.store_uri = store_uri
        self.folder = folder
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 900.0) -> None:
        log = open(self.folder / "mlflow-server.log", "ab")  # noqa: SIM115 (lives as long as the process)
        cmd = [
            str(Path(sys.executable).with_name("mlflow")),
            "server",
            "--backend-store-uri",
            self.store_uri,
            "--artifacts-destination",
            str(self.folder / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.folder)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {self.proc.returncode}: see {log.name}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"mlflow server did not start within {timeout}s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _log(url: str, points: int, keys: int, batch: int) -> tuple[float, str]:
    """Log ``points`` values (``keys`` metrics, one point each per step) with the client's
    ``log_batch`` in batches of ``batch``; returns (seconds, run id)."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient(tracking_uri=url)
    name = f"bench-mlflow-{int(time.time())}"
    run_id = client.create_run(client.create_experiment(name)).info.run_id
    now = int(time.time() * 1000)
    metrics = [
        Metric(f"train/m{i % keys}", (i // keys) * 1e-3, now + i // keys, i // keys) for i in range(points)
    ]
    t0 = time.perf_counter()
    for start in range(0, points, batch):
        client.log_batch(run_id, metrics=metrics[start : start + batch])
    elapsed = time.perf_counter() - t0
    client.set_terminated(run_id)
    return elapsed, run_id


def _stored(url: str, run_id: str, keys: int) -> int:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=url)
    return sum(len(client.get_metric_history(run_id, f"train/m{k}")) for k in range(keys))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--keys", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    if "DATABASE_URL" not in os.environ:  # both on PostgreSQL; ours in a database of its own
        _ensure_database(OURS_DB)
        os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{OURS_DB}"
    backend = setup()
    sys.path.insert(0, str(ROOT))
    from experiments.models import ApiKey
    from tests.processes import ServerProcess, process_env

    _, key = ApiKey.issue(bench_user(), name="bench-mlflow")
    os.environ["MLFLOW_TRACKING_TOKEN"] = key  # the stock server ignores it
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    folder = Path(tempfile.mkdtemp(prefix="mlflow-bench-"))
    ours = ServerProcess(process_env(), log_path=folder / "server.log")
    stock = StockMlflowServer(_ensure_mlflow_database(), folder)
    try:  # started inside: a server that fails to start takes the other down with it
        ours.start()
        stock.start()
        ours_s, ours_run = _log(ours.url, args.points, args.keys, args.batch)
        stock_s, stock_run = _log(stock.url, args.points, args.keys, args.batch)
        ours_n = _stored(ours.url, ours_run, args.keys)
        stock_n = _stored(stock.url, stock_run, args.keys)
    finally:
        ours.stop()
        stock.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print(
        f"client: mlflow {__import__('mlflow').__version__} MlflowClient.log_batch, "
        f"{args.batch} metrics a call"
    )
    print(f"ours:  {backend}, uvicorn 1 process")
    print(f"stock: mlflow server, PostgreSQL ({MLFLOW_DB}), 1 worker")
    print(f"ours:  {ours_n:,} points stored, {ours_s:.2f}s, {args.points / ours_s:,.0f} points/s")
    print(f"stock: {stock_n:,} points stored, {stock_s:.2f}s, {args.points / stock_s:,.0f} points/s")
    print(f"ratio: ours is {stock_s / ours_s:.1f}x the stock server's throughput")


if __name__ == "__main__":
    main()
