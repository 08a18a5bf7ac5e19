"""Browser pages through Django's test client: what they show, to whom, and how much
they cost. The owner / stranger personas come from conftest."""

import math
import re
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from experiments.directions import metric_direction
from experiments.models import Metric, Project, Run, RunStatus
from experiments.payloads import parse_batch
from experiments.services import batch_ingest
from experiments.tables import flatten
from tests import factories

pytestmark = pytest.mark.django_db


def make_run(owner, project="digits", **fields) -> Run:
    return factories.run(owner, project=project, **fields)


def log(run: Run, rows: list[tuple[int, dict]], seq: int = 0, rank: int = 0) -> None:
    """Ingest (step, {key: value}) rows through the real ingestion service."""
    t0 = time.time()
    batch = parse_batch(
        {"writer": "w", "seq": seq, "rank": rank, "rows": [[s, t0 + s, values] for s, values in rows]}
    )
    batch_ingest(run=run, batch=batch)


def text(response) -> str:
    """The page's visible text with tags and runs of whitespace collapsed."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --- metric direction --------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "direction"),
    [
        ("train/loss", "min"),
        ("val/loss", "min"),
        ("val/error_rate", "min"),
        ("val/rmse", "min"),
        ("perplexity", "min"),
        ("step_time", "min"),
        ("val/acc", "max"),
        ("val/f1", "max"),
        ("timestamp", "max"),
    ],
)
def test_metric_direction_reads_the_name(key, direction):
    assert metric_direction(key) == direction


def test_flatten_joins_nested_config_keys_with_dots():
    assert flatten({"opt": {"lr": 0.1, "betas": [0.9, 0.99]}, "seed": 1, "empty": {}}) == {
        "opt.lr": 0.1,
        "opt.betas": [0.9, 0.99],
        "seed": 1,
        "empty": {},
    }


# --- access ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["projects", "project", "run", "run-series"])
def test_every_page_redirects_an_anonymous_visitor_to_login(client, owner, name):
    run = make_run(owner)
    args = {"projects": [], "project": ["digits"], "run": [run.pk], "run-series": [run.pk]}[name]
    response = client.get(reverse(name, args=args))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_page_renders_the_form(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="username"' in body and 'name="password"' in body
    assert "css/app.css" in body


def test_a_stranger_gets_404_on_the_owners_run_and_project(client, owner, stranger):
    run = make_run(owner, project="owner-private", name="owner-run")
    log(run, [(0, {"train/loss": 1.0})])
    client.force_login(stranger)
    assert client.get(reverse("run", args=[run.pk])).status_code == 404
    assert client.get(reverse("run-series", args=[run.pk])).status_code == 404
    assert client.get(reverse("project", args=["owner-private"])).status_code == 404
    listing = client.get(reverse("projects"))
    assert listing.status_code == 200
    assert list(listing.context["projects"]) == []
    assert "owner-private" not in text(listing)


def test_staff_see_the_admin_link_and_others_do_not(client, owner, django_user_model):
    client.force_login(owner)
    assert reverse("admin:index") not in client.get(reverse("projects")).content.decode()
    staff = django_user_model.objects.create_user(username="staff", password="x", is_staff=True)
    client.force_login(staff)
    assert reverse("admin:index") in client.get(reverse("projects")).content.decode()


# --- projects page --------------------------------------------------------------------


def test_projects_page_counts_runs_and_running(client, owner, stranger):
    make_run(owner, name="a", status=RunStatus.RUNNING)
    make_run(owner, name="b", status=RunStatus.FINISHED)
    make_run(owner, name="c", status=RunStatus.RUNNING)
    make_run(owner, project="empty-ish", name="d", status=RunStatus.FAILED)
    make_run(stranger, project="secret", name="x")
    client.force_login(owner)
    page = client.get(reverse("projects"))
    projects = {p.name: p for p in page.context["projects"]}
    assert set(projects) == {"digits", "empty-ish"}
    assert (projects["digits"].n_runs, projects["digits"].n_running) == (3, 2)
    assert (projects["empty-ish"].n_runs, projects["empty-ish"].n_running) == (1, 0)
    assert "2 running" in text(page)
    assert "secret" not in text(page)


# --- project runs table ---------------------------------------------------------------


def test_project_page_lists_runs_with_last_and_best_values_and_config(client, owner):
    good = make_run(
        owner,
        name="good-run",
        group="sweep-1",
        tags=["baseline"],
        config={"lr": 0.01, "opt": {"name": "adam"}},
    )
    bad = make_run(owner, name="bad-run", status=RunStatus.FAILED, config={"lr": 0.5, "opt": {"name": "sgd"}})
    log(
        good,
        [
            (0, {"val/loss": 0.9, "val/acc": 0.5}),
            (1, {"val/loss": 0.25, "val/acc": 0.875}),
            (2, {"val/loss": 0.375, "val/acc": 0.75}),
        ],
    )
    log(bad, [(0, {"val/loss": 2.5, "val/acc": 0.125}), (1, {"val/loss": math.nan, "val/acc": 0.0625})])
    client.force_login(owner)

    page = client.get(reverse("project", args=["digits"]))

    table = page.context["table"]
    assert table.metric_keys == ["val/acc", "val/loss"]
    assert set(table.config_keys) == {"lr", "opt.name"}
    rows = {row.run.name: row for row in table.rows}
    assert rows["good-run"].metrics["val/loss"].last == 0.375
    assert rows["good-run"].metrics["val/loss"].best == 0.25  # a loss: best is the minimum
    assert rows["good-run"].metrics["val/acc"].best == 0.875  # an accuracy: the maximum
    assert rows["good-run"].metrics["val/loss"].best_step == 1
    assert math.isnan(rows["bad-run"].metrics["val/loss"].last)
    assert rows["bad-run"].metrics["val/loss"].best == 2.5
    body = text(page)
    for value in (
        "good-run",
        "bad-run",
        "sweep-1",
        "baseline",
        "adam",
        "sgd",
        "0.375",
        "0.25",
        "0.875",
        "NaN",
        "0.5",
    ):
        assert value in body
    assert 'class="badge badge-failed"' in page.content.decode()
    assert reverse("run", args=[good.pk]) in page.content.decode()


def test_project_page_shows_the_chosen_columns_only(client, owner):
    run = make_run(owner, config={"lr": 0.01, "batch_size": 64, "seed": 3})
    log(run, [(0, {"train/loss": 0.5, "val/acc": 0.75})])
    client.force_login(owner)

    page = client.get(
        reverse("project", args=["digits"]), {"cols": "1", "c": ["batch_size"], "m": ["val/acc"]}
    )

    assert page.context["table"].config_keys == ["batch_size"]
    assert page.context["table"].metric_keys == ["val/acc"]
    header = [c["label"] for c in page.context["columns"]["config"]]
    assert header == ["batch_size"]
    assert "0.75" in text(page) and "0.5" not in text(page)


def test_project_page_sorts_by_a_metric_with_missing_values_last(client, owner):
    for name, acc in [("a", 0.5), ("b", 0.9), ("c", None), ("d", 0.7)]:
        run = make_run(owner, name=name)
        log(run, [(0, {"val/acc": acc} if acc is not None else {"train/loss": 1.0})])
    client.force_login(owner)
    url = reverse("project", args=["digits"])

    descending = client.get(url, {"cols": "1", "m": ["val/acc"], "sort": "-best:val/acc"})
    ascending = client.get(url, {"cols": "1", "m": ["val/acc"], "sort": "best:val/acc"})
    by_name = client.get(url, {"sort": "name"})

    assert [r.run.name for r in descending.context["table"].rows] == ["b", "d", "a", "c"]
    assert [r.run.name for r in ascending.context["table"].rows] == ["a", "d", "b", "c"]
    assert [r.run.name for r in by_name.context["table"].rows] == ["a", "b", "c", "d"]


def test_runs_table_query_count_is_bounded_and_never_reads_points(
    client, owner, django_assert_max_num_queries
):
    project = Project.objects.create(owner=owner, name="big")
    runs = Run.objects.bulk_create(
        [Run(project=project, name=f"run-{i}", config={"lr": 10.0**-i, "seed": i}) for i in range(200)]
    )
    Metric.objects.bulk_create(
        [
            Metric(run=r, key=key, count=10, last_step=9, last_value=0.5, min_value=0.25, max_value=0.75)
            for r in runs
            for key in ("train/loss", "val/loss", "val/acc")
        ]
    )
    client.force_login(owner)
    # Session, user, project, whether the user sees its runs, the key sample's configs and
    # metric keys, sweeps' objectives, direction overrides, status counts, the page of runs,
    # its metrics, whether the user may delete (the bulk bar), the archived runs' count, the
    # saved views: none per run.
    with django_assert_max_num_queries(14), CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("project", args=["big"]))
    assert page.status_code == 200
    assert len(page.context["table"].rows) == 200
    assert not [q for q in queries.captured_queries if "experiments_point" in q["sql"]]


# --- run page -------------------------------------------------------------------------


def test_run_page_shows_header_tables_and_warnings(client, owner):
    run = make_run(
        owner,
        name="resnet-a",
        status=RunStatus.FAILED,
        host="gpu-box-3",
        python_version="3.12.1",
        torch_version="2.13.0",
        cuda_version="12.4",
        git_commit="0123456789abcdef",
        exit_code=1,
        error="Traceback (most recent call last):\nRuntimeError: CUDA out of memory",
        dropped_points=17,
        config={"optimizer": {"lr": 0.003, "name": "adamw"}},
        summary={"best/val_acc": 0.93},
    )
    log(run, [(0, {"train/loss": 1.5, "val/loss": 1.75, "lr": 0.003}), (1, {"train/loss": math.inf})])
    client.force_login(owner)

    page = client.get(reverse("run", args=[run.pk]))

    body = text(page)
    for value in (
        "resnet-a",
        "gpu-box-3",
        "3.12.1",
        "2.13.0",
        "12.4",
        "0123456789ab",
        "CUDA out of memory",
        "optimizer.lr",
        "0.003",
        "optimizer.name",
        "adamw",
        "best/val_acc",
        "0.93",
    ):
        assert value in body
    assert "17 points could not be kept by the client" in body
    assert "1 NaN/inf value logged" in body
    assert 'class="badge badge-failed"' in page.content.decode()
    charts = page.context["page_data"]["charts"]
    assert charts[0] == {
        "name": "loss",
        "title": "loss",
        "keys": ["train/loss", "val/loss"],
        "direction": "min",
    }
    assert {"name": "lr", "title": "lr", "keys": ["lr"], "direction": "max"} in charts
    metrics = {m["key"]: m for m in page.context["metrics"]}
    assert metrics["train/loss"]["last"] == "inf" and metrics["train/loss"]["count"] == 2


def test_run_page_has_no_dropped_warning_when_nothing_was_dropped(client, owner):
    run = make_run(owner)
    client.force_login(owner)
    assert "could not be kept" not in text(client.get(reverse("run", args=[run.pk])))


# --- series endpoint ------------------------------------------------------------------


def test_series_returns_every_point_of_a_short_series(client, owner):
    run = make_run(owner)
    values = [1.0, 0.5, math.nan, 0.25, math.inf]
    log(run, [(step * 10, {"train/loss": v}) for step, v in enumerate(values)])
    log(run, [(0, {"val/acc": 0.5})], seq=1)
    client.force_login(owner)

    data = client.get(reverse("run-series", args=[run.pk]), {"key": "train/loss"}).json()

    assert [s["key"] for s in data["series"]] == ["train/loss"]
    series = data["series"][0]
    assert series["step"] == [0, 10, 20, 30, 40]
    assert series["value"] == [1.0, 0.5, None, 0.25, None]
    assert series["nonfinite"] == {"step": [20, 40], "value": ["NaN", "Infinity"]}
    assert series["downsampled"] is False
    assert series["stats"]["count"] == 5


def test_series_of_all_keys_when_none_is_asked_for(client, owner):
    run = make_run(owner)
    log(run, [(0, {"train/loss": 1.0, "val/loss": 2.0})])
    client.force_login(owner)
    data = client.get(reverse("run-series", args=[run.pk])).json()
    assert [s["key"] for s in data["series"]] == ["train/loss", "val/loss"]


def long_series_with_spike_and_nan(owner) -> Run:
    run = make_run(owner)
    rows = [(s, {"train/loss": 1.0 / (1 + s) + 0.001 * (s % 7)}) for s in range(20_000)]
    rows[12_345] = (12_345, {"train/loss": 1e6})
    rows[17_777] = (17_777, {"train/loss": math.nan})
    for seq, start in enumerate(range(0, len(rows), 5000)):
        log(run, rows[start : start + 5000], seq=seq)
    return run


def test_series_downsamples_a_long_series_keeping_the_spike_and_the_nan(client, owner, settings):
    settings.TRACKER_CHART_POINTS = 200
    run = long_series_with_spike_and_nan(owner)
    client.force_login(owner)

    series = client.get(reverse("run-series", args=[run.pk])).json()["series"][0]

    assert series["downsampled"] is True
    assert series["total"] == 20_000
    assert len(series["step"]) <= 200
    assert 1e6 in series["value"]
    assert series["nonfinite"] == {"step": [17_777], "value": ["NaN"]}
    assert series["step"] == sorted(series["step"])


def test_series_zoom_returns_the_range_at_full_resolution(client, owner, settings):
    settings.TRACKER_CHART_POINTS = 200
    run = make_run(owner)
    log(run, [(s, {"train/loss": float(s)}) for s in range(5000)])
    client.force_login(owner)

    series = client.get(
        reverse("run-series", args=[run.pk]), {"step_min": "1000.4", "step_max": "1099.6"}
    ).json()["series"][0]

    # Widened to whole steps outwards, so the line reaches both edges of the zoomed chart.
    assert series["downsampled"] is False
    assert series["step"] == list(range(1000, 1101))
    assert series["value"] == [float(s) for s in range(1000, 1101)]


def test_series_rejects_a_bad_step_range_naming_the_field(client, owner):
    run = make_run(owner)
    client.force_login(owner)
    url = reverse("run-series", args=[run.pk])
    response = client.get(url, {"step_min": "abc"})
    assert response.status_code == 400
    assert response.json()["field"] == "step_min"
    response = client.get(url, {"step_min": "10", "step_max": "5"})
    assert response.status_code == 400 and response.json()["field"] == "step_min"


def test_series_of_several_ranks_is_their_mean_and_std(client, owner):
    run = make_run(owner)
    log(run, [(0, {"train/loss": 1.0}), (1, {"train/loss": 3.0})], seq=0, rank=0)
    log(run, [(0, {"train/loss": 3.0}), (1, {"train/loss": 5.0})], seq=1, rank=1)
    client.force_login(owner)

    series = client.get(reverse("run-series", args=[run.pk])).json()["series"][0]

    assert series["ranks"] == 2
    assert series["step"] == [0, 1]
    assert series["value"] == [2.0, 4.0]
    assert series["std"] == [1.0, 1.0]


def test_project_page_escapes_names_tags_and_config(client, owner):
    make_run(owner, name="<script>alert(1)</script>", tags=['"><img src=x>'], config={"note": "<b>x</b>"})
    client.force_login(owner)
    body = client.get(reverse("project", args=["digits"])).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert '"><img src=x>' not in body
    assert "<b>x</b>" not in body


def test_hook_and_system_metrics_stay_out_of_the_learning_curves(client, owner):
    run = factories.run(owner, "r", project="p")
    keys = {
        "train/loss": 1.0,
        "val/loss": 2.0,
        "grad/conv1/norm": 0.1,
        "lr/group0": 0.01,
        "sys/cpu_percent": 50.0,
    }
    batch_ingest(run=run, batch=parse_batch({"writer": "w", "seq": 0, "rows": [[1, 1.0, keys]]}))
    client.force_login(owner)
    page = client.get(reverse("run", args=[run.pk])).context["page_data"]
    assert [c["keys"] for c in page["charts"]] == [["train/loss", "val/loss"]]
    assert "grad/" in page["internalPrefixes"] and "sys/" in page["internalPrefixes"]
