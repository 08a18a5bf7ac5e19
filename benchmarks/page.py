"""Server time to render the two heavy pages, through Django's test client, logged in:

(a) a run page with 50 metrics x 100,000 points each: the HTML (which must not read
    points) and the chart data (series.json) for all 50 metrics, in one request and
    as the page fetches it (one request per chart);
(b) a project's runs table of 1,000 runs with 20 metrics and 10 config keys each, and
    the rows.json request that refreshes a few of its rows live;
(c) a run with 10,000 keys (500 layers x 20 metrics, 5 steps each: issue #12's huge run):
    the HTML and the chart data of the first chart the page draws (what stands between
    the reader and the first chart; the browser's own time is tests/runs/test_huge_run.py's).

Targets (issue #3, PostgreSQL): run page <= 1 s; runs table <= 300 ms; (issue #12) a
10,000-key run usable in the browser in < 2 s.
Run: .venv/bin/python benchmarks/page.py [--repeat 7] [--table-repeat 21] [--only huge]
"""

import argparse
import math
import time

import numpy as np
from _setup import bench_user, pct, setup, timed

POINTS = 100_000
N_METRICS = 50
N_RUNS = 1_000
RUN_METRICS = 20
CONFIG_KEYS = 10
INSERT_ROWS = 200_000  # points per transaction while loading


def _run_page_keys() -> list[str]:
    """20 train/val pairs (a chart each) and 10 metrics of their own."""
    names = ["loss", "acc", *(f"m{i:02d}" for i in range(18))]
    return [f"{split}/{name}" for name in names for split in ("train", "val")] + [
        f"sys/gpu{i}_util" for i in range(N_METRICS - 2 * len(names))
    ]


def _load_run_page(project):
    """A run of N_METRICS x POINTS points, loaded once and reused."""
    from django.db import transaction

    from experiments.models import Metric, PointChunk, Run
    from tests.bulk import points_insert

    name = f"page-{N_METRICS}x{POINTS}"
    run = Run.objects.filter(project=project, name=name).first()
    if run is not None:
        stored = sum(
            PointChunk.objects.filter(metric__run=run)
            .values_list("count", flat=True)
            .iterator(chunk_size=10_000)
        )
        if stored == N_METRICS * POINTS and Metric.objects.filter(run=run, count=POINTS).count() == N_METRICS:
            return run, False
        run.delete()
    t0 = time.perf_counter()
    run = Run.objects.create(project=project, name=name, status="finished", config={"lr": 0.001})
    keys = _run_page_keys()
    metrics = Metric.objects.bulk_create([Metric(run=run, key=k) for k in keys])
    steps = np.arange(POINTS)
    walls = (1.7e9 + steps * 0.05).tolist()
    rng = np.random.default_rng(0)
    rows: list[tuple] = []
    for i, metric in enumerate(metrics):
        values = (1.0 + i / 10) / (1 + steps * 1e-4) + rng.normal(0, 0.01, POINTS)
        v = values.tolist()
        rows += zip([metric.pk] * POINTS, range(POINTS), v, walls, [0] * POINTS, strict=True)
        lo, hi = int(values.argmin()), int(values.argmax())
        metric.count, metric.last_step, metric.last_value = POINTS, POINTS - 1, v[-1]
        metric.last_wall_time = walls[-1]
        metric.min_value, metric.min_step, metric.max_value, metric.max_step = v[lo], lo, v[hi], hi
        if len(rows) >= INSERT_ROWS:
            with transaction.atomic():
                points_insert(rows)
            rows = []
    with transaction.atomic():
        points_insert(rows)
        fields = ["count", "last_step", "last_value", "last_wall_time", "min_value", "min_step"]
        Metric.objects.bulk_update(metrics, [*fields, "max_value", "max_step"])
        Run.objects.filter(pk=run.pk).update(points_count=N_METRICS * POINTS)
    print(f"loaded {N_METRICS} x {POINTS:,} points in {time.perf_counter() - t0:.0f}s")
    return run, True


def _load_table(project):
    """N_RUNS runs with RUN_METRICS metric summaries and CONFIG_KEYS config keys each
    (no points: the table reads summaries only), loaded once and reused."""
    from django.db import transaction

    from experiments.models import Metric, Run

    runs = Run.objects.filter(project=project)
    if runs.count() == N_RUNS and Metric.objects.filter(run__project=project).count() == N_RUNS * RUN_METRICS:
        return
    t0 = time.perf_counter()
    runs.delete()
    keys = [f"{split}/k{i:02d}" for i in range(RUN_METRICS // 2) for split in ("train", "val")]
    keys[:4] = ["train/loss", "val/loss", "train/acc", "val/acc"]
    with transaction.atomic():
        created = Run.objects.bulk_create(
            [
                Run(
                    project=project,
                    name=f"sweep-{i:04d}",
                    group=f"group-{i % 10}",
                    tags=["sweep"] if i % 3 else ["sweep", "baseline"],
                    status="running" if i >= N_RUNS - 20 else ("failed" if i % 17 == 0 else "finished"),
                    config={
                        "lr": 10 ** -(1 + i % 5),
                        "batch_size": 2 ** (4 + i % 4),
                        "optimizer": {"name": ("adam", "sgd")[i % 2], "momentum": 0.9},
                        **{f"c{j}": (i * j) % 17 for j in range(CONFIG_KEYS - 4)},
                    },
                )
                for i in range(N_RUNS)
            ]
        )
        Metric.objects.bulk_create(
            [
                Metric(
                    run=run,
                    key=key,
                    count=1000,
                    last_step=999,
                    last_value=math.sin(i + j) + 1.5,
                    min_value=0.5 + (i % 13) / 100,
                    min_step=500,
                    max_value=2.5 - (i % 11) / 100,
                    max_step=700,
                )
                for i, run in enumerate(created)
                for j, key in enumerate(keys)
            ],
            batch_size=5_000,
        )
    print(f"loaded {N_RUNS:,} runs x {RUN_METRICS} metrics in {time.perf_counter() - t0:.1f}s")


HUGE_LAYERS = 500
HUGE_METRICS = 20
HUGE_STEPS = 5


def _load_huge_run(project):
    """A run of HUGE_LAYERS x HUGE_METRICS keys ``layer{i}/metric{j}``, HUGE_STEPS points
    each, loaded once and reused."""
    from django.db import transaction

    from experiments.models import Metric, Run
    from tests.bulk import points_insert

    name = f"huge-{HUGE_LAYERS * HUGE_METRICS}-keys"
    run = Run.objects.filter(project=project, name=name).first()
    if run is not None and Metric.objects.filter(run=run).count() == HUGE_LAYERS * HUGE_METRICS:
        return run
    if run is not None:
        run.delete()
    t0 = time.perf_counter()
    keys = [f"layer{i}/metric{j}" for i in range(HUGE_LAYERS) for j in range(HUGE_METRICS)]
    with transaction.atomic():
        run = Run.objects.create(project=project, name=name, status="finished")
        metrics = Metric.objects.bulk_create(
            [
                Metric(
                    run=run,
                    key=k,
                    count=HUGE_STEPS,
                    last_step=HUGE_STEPS - 1,
                    last_value=float(n % 97),
                    last_wall_time=1.7e9 + HUGE_STEPS,
                    min_value=0.0,
                    min_step=0,
                    max_value=float(n % 97),
                    max_step=HUGE_STEPS - 1,
                )
                for n, k in enumerate(keys)
            ],
            batch_size=2_000,
        )
        points_insert(
            (m.pk, s, float(n % 97) * s / (HUGE_STEPS - 1), 1.7e9 + s, 0)
            for n, m in enumerate(metrics)
            for s in range(HUGE_STEPS)
        )
        Run.objects.filter(pk=run.pk).update(points_count=len(keys) * HUGE_STEPS)
    print(f"loaded {len(keys):,} keys x {HUGE_STEPS} points in {time.perf_counter() - t0:.1f}s")
    return run


def _first_chart_keys(html: str) -> list[str]:
    """The keys of the first chart the run page draws, read from its page data (the
    page before issue #12 listed ``charts``; since, ``sections`` of charts)."""
    import json
    import re

    found = re.search(r'<script id="page-data" type="application/json">(.*?)</script>', html, re.S)
    data = json.loads(found.group(1))
    if "sections" in data:
        opened = [s for s in data["sections"] if (s["charts"] or s.get("keys")) and not s["internal"]]
        return opened[0]["charts"][0]["keys"] if opened[0]["charts"] else opened[0]["keys"][:1]
    return data["charts"][0]["keys"]


def _huge(client, repeat: int) -> None:
    from django.urls import reverse

    from experiments.models import Project

    project, _ = Project.objects.get_or_create(owner=client.bench_user, name="bench-huge")
    run = _load_huge_run(project)
    url = reverse("run", args=[run.pk])
    print(f"(c) run page of a run with {HUGE_LAYERS * HUGE_METRICS:,} keys ({HUGE_STEPS} points each)")
    html, size, queries, points = _measure(client, url, repeat)
    _line("HTML", html, size, queries, points)
    keys = _first_chart_keys(client.get(url).content.decode())
    series_url = reverse("run-series", args=[run.pk])
    first, size, queries, _ = _measure(client, series_url, repeat, {"key": keys})
    _line(f"series.json of the first chart ({len(keys)} keys)", first, size, queries)
    total = pct(html, 50) + pct(first, 50)
    print(f"  {'HTML + first chart data, medians':<44} {total * 1000:14.1f} ms")


def _measure(client, url: str, repeat: int, params: dict | None = None) -> tuple[list[float], int, int, bool]:
    """Times of ``repeat`` GETs (after one warm-up), the response size, the number of
    queries of one request and whether any read the points table."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params or {})
    assert response.status_code == 200, (url, response.status_code)
    # Read now: every request start clears the connection's query log.
    n_queries = len(queries.captured_queries)
    reads_points = any("experiments_pointchunk" in q["sql"] for q in queries.captured_queries)

    def get():
        assert client.get(url, params or {}).status_code == 200

    return timed(get, repeat), len(response.content), n_queries, reads_points


def _line(label: str, times: list[float], size: int | None = None, queries: int | None = None, points=None):
    extra = []
    if size is not None:
        extra.append(f"{size / 1024:,.0f} KiB")
    if queries is not None:
        extra.append(f"{queries} queries")
    if points is not None:
        extra.append("reads points" if points else "no points read")
    print(
        f"  {label:<44} median {pct(times, 50) * 1000:7.1f} ms   min {min(times) * 1000:7.1f} ms"
        + (f"   ({', '.join(extra)})" if extra else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7, help="requests per run page figure")
    parser.add_argument("--table-repeat", type=int, default=21, help="requests per runs table figure")
    parser.add_argument("--only", choices=["page", "table", "huge"], help="one figure only")
    args = parser.parse_args()
    backend = setup()

    from django.conf import settings
    from django.test import Client
    from django.urls import reverse

    from dashboard.views.runs import chart_groups
    from experiments.models import Metric, Project

    user = bench_user()
    client = Client()
    client.force_login(user)
    client.bench_user = user
    print(f"backend: {backend}")
    if args.only == "huge":
        _huge(client, args.repeat)
        return

    project, _ = Project.objects.get_or_create(owner=user, name="bench-page")
    run, _ = _load_run_page(project)
    run_url = reverse("run", args=[run.pk])
    series_url = reverse("run-series", args=[run.pk])
    chart_points = settings.TRACKER_CHART_POINTS
    print(f"(a) run page: {N_METRICS} metrics x {POINTS:,} points (chart points {chart_points})")
    html, size, queries, points = _measure(client, run_url, args.repeat)
    _line("HTML", html, size, queries, points)
    series, size, queries, _ = _measure(client, series_url, args.repeat)
    body = client.get(series_url).json()
    assert len(body["series"]) == N_METRICS
    returned = max(len(s["step"]) for s in body["series"])
    _line(f"series.json, all {N_METRICS} metrics in one request", series, size, queries)
    charts = chart_groups(list(Metric.objects.filter(run=run).values_list("key", flat=True)))

    def per_chart():
        for chart in charts:
            assert client.get(series_url, {"key": chart["keys"]}).status_code == 200

    per_chart()
    by_chart = timed(per_chart, max(3, args.repeat // 2))
    _line(f"series.json as the page asks, {len(charts)} requests", by_chart)
    total = pct(html, 50) + pct(series, 50)
    print(f"  {'run page total (HTML + all series), medians':<44} {total * 1000:14.1f} ms")
    print(f"  points per series returned: <= {returned}")

    table_project, _ = Project.objects.get_or_create(owner=user, name="bench-table")
    _load_table(table_project)
    table_url = reverse("project", args=[table_project.name])
    print(f"(b) runs table: {N_RUNS:,} runs x {RUN_METRICS} metrics, {CONFIG_KEYS} config keys")
    times, size, queries, points = _measure(client, table_url, args.table_repeat)
    _line("default columns, newest first", times, size, queries, points)
    chosen = {"cols": "1", "c": ["lr", "batch_size"], "m": ["val/loss", "val/acc"], "sort": "-best:val/acc"}
    times, size, queries, points = _measure(client, table_url, args.table_repeat, chosen)
    _line("chosen columns, sorted by best val/acc", times, size, queries, points)
    some = list(table_project.runs.order_by("-pk").values_list("pk", flat=True)[:10])
    rows = {**chosen, "run": some}
    times, size, queries, points = _measure(
        client, reverse("project-rows", args=["bench-table"]), args.table_repeat, rows
    )
    _line("rows.json, 10 runs (a live refresh)", times, size, queries, points)
    _huge(client, args.repeat)
    print("targets: run page <= 1000 ms; runs table <= 300 ms; 10,000-key run usable in < 2 s")


if __name__ == "__main__":
    main()
