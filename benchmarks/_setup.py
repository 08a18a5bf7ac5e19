"""Shared setup for benchmarks: a database of their own (PostgreSQL when reachable,
SQLite under var/bench otherwise or with BENCH_BACKEND=sqlite), migrated, with Django
configured."""

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tracker_bench")
sys.path.insert(0, str(ROOT))


def _postgres_reachable() -> bool:
    try:
        import psycopg2
    except ImportError:
        return False
    try:
        conn = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres", connect_timeout=2)
    except psycopg2.Error:
        return False
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = 'tracker_bench'")
        if not cur.fetchone():
            cur.execute("CREATE DATABASE tracker_bench")
    conn.close()
    return True


def setup() -> str:
    """Configure Django for a benchmark database; returns a label naming the backend."""
    os.environ.setdefault("TRACKER_VAR_DIR", str(ROOT / "var" / "bench"))
    os.environ.setdefault("SECRET_KEY", "benchmarks-only")
    os.environ.setdefault("TRACKER_HTTPS", "0")  # servers and clients on plain http://127.0.0.1
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    if (
        "DATABASE_URL" not in os.environ
        and os.environ.get("BENCH_BACKEND") != "sqlite"
        and _postgres_reachable()
    ):
        os.environ["DATABASE_URL"] = PG_URL
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    return f"{connection.vendor} ({connection.settings_dict['NAME']})"


def bench_user(username: str = "bench"):
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username=username)
    return user


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]
