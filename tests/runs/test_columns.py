"""The runs table's default columns are the project's main metrics (validation figures,
losses, a sweep's objective); the SDK's own namespaces (``watch()``'s layer statistics,
learning rates, system metrics) are grouped in the column menu, collapsed and off by
default; the menu's search box filters its entries as you type (issue #12, item 6)."""

import pytest

from experiments.models import Metric, Project, Run
from experiments.tables import default_metric_keys, internal_group, metric_menu, runs_table
from tests.browser import log, login

# What tracker.watch(model, optimizer, log="all") and the system sampler log, and the user's own.
WATCH_KEYS = [
    *(f"act/{layer}/{stat}" for layer in ("0", "1", "conv1") for stat in ("mean", "std", "zero_frac")),
    *(f"grad/{layer}/norm" for layer in ("0", "1")),
    "grad/global_norm",
    *(f"param/{layer}/norm" for layer in ("0", "1")),
    "update/0/ratio",
    "lr/group0",
    "sys/cpu_percent",
]
USER_KEYS = ["epoch", "train/loss", "val/acc"]


def test_internal_namespaces_are_those_the_sdk_fills():
    assert {internal_group(k) for k in WATCH_KEYS} == {"layers", "lr", "system"}
    assert internal_group("system/peak_rss") == "system"
    assert [internal_group(k) for k in USER_KEYS] == [None, None, None]


@pytest.mark.parametrize(
    ("keys", "objectives", "expected"),
    [
        # Most-logged first, as runs_table passes them: internals never win.
        (WATCH_KEYS + USER_KEYS, [], ["val/acc", "train/loss", "epoch"]),
        (
            ["train/loss", "val/loss", "train/acc", "val/acc", "val/f1x"],
            [],
            ["val/loss", "val/acc", "train/loss", "val/f1x"],
        ),
        (
            ["val_acc", "loss", "acc", "test_acc", "valid_loss"],
            [],
            ["val_acc", "test_acc", "loss", "valid_loss"],
        ),
        # A sweep's objective gets a column even among many validation metrics and losses.
        (
            ["val/acc", "val/loss", "train/loss", "aux_loss", "score"],
            ["score"],
            ["val/acc", "val/loss", "train/loss", "score"],
        ),
        (["b", "a", "c", "d", "e"], [], ["b", "a", "c", "d"]),
        (["act/0/mean", "lr/group0"], [], ["act/0/mean", "lr/group0"]),  # nothing else logged
    ],
)
def test_default_metric_columns_are_the_main_metrics(keys, objectives, expected):
    assert default_metric_keys(keys, objectives) == expected


def test_column_menu_groups_metrics_and_collapses_internals():
    groups = metric_menu(WATCH_KEYS + USER_KEYS, ["val/acc", "lr/group0"], [])
    assert [(g.id, g.open) for g in groups] == [
        ("main", True),
        ("other", True),
        ("layers", False),
        ("lr", True),  # a chosen column is never hidden in a collapsed group
        ("system", False),
    ]
    assert groups[0].keys == ["train/loss", "val/acc"]
    assert groups[1].keys == ["epoch"]
    assert sum(len(g.keys) for g in groups) == len(WATCH_KEYS + USER_KEYS)


@pytest.mark.django_db
def test_runs_table_defaults_to_main_metrics_and_a_sweeps_objective(owner):
    from tuning.models import Sweep

    project = Project.objects.create(owner=owner, name="watched")
    run = Run.objects.create(project=project, name="r")
    keys = [*WATCH_KEYS, "train/loss", "val/acc", "val/loss", "val/top5", "score"]
    Metric.objects.bulk_create([Metric(run=run, key=k, count=1, last_value=1.0) for k in keys])
    table = runs_table(project=project, runs=Run.objects.filter(project=project))
    assert table.metric_keys == ["val/acc", "val/loss", "train/loss", "val/top5"]
    Sweep.objects.create(project=project, name="s", objective="score", entry_point="m:f")
    table = runs_table(project=project, runs=Run.objects.filter(project=project))
    assert table.metric_keys == ["val/acc", "val/loss", "train/loss", "score"]
    assert [g.id for g in table.metric_menu] == ["main", "layers", "lr", "system"]
    assert "score" in table.metric_menu[0].keys


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_runs_table_shows_main_metrics_and_the_column_menu_searches(page, server, owner, api_key):
    project = Project.objects.create(owner=owner, name="watched")
    for i in range(2):
        run = Run.objects.create(project=project, name=f"run-{i}", config={"lr": 0.1 / (i + 1)})
        rows = [
            (
                s,
                {
                    **{k: 0.5 + s / 10 for k in WATCH_KEYS},
                    "epoch": s,
                    "train/loss": 1 - s / 10,
                    "val/acc": 0.8 + i / 10,
                },
            )
            for s in range(3)
        ]
        log(server, api_key, run, rows, seq=0)

    login(page, server, owner, "/projects/watched/")

    head = page.locator("#runs-table thead").inner_text()
    assert "val/acc" in head and "train/loss" in head
    assert "act/" not in head and "grad/" not in head and "lr/" not in head and "sys/" not in head
    page.click("#columns-menu summary")
    assert page.locator("#columns-search").is_visible()
    # Internal namespaces are there, collapsed: their entries are not visible.
    assert page.locator("#columns-form details[data-group='layers']").count() == 1
    assert not page.locator("input[name=m][value='act/0/mean']").is_visible()
    assert page.locator("input[name=m][value='val/acc']").is_visible()

    page.fill("#columns-search", "acc")
    visible = page.locator("#columns-form .menu-cols label:visible").all_inner_texts()
    assert [t.strip() for t in visible] == ["val/acc"]
    page.fill("#columns-search", "zero")  # a match inside a collapsed group opens it
    visible = [t.strip() for t in page.locator("#columns-form .menu-cols label:visible").all_inner_texts()]
    assert visible == ["act/0/zero_frac", "act/1/zero_frac", "act/conv1/zero_frac"]
    page.check("input[name=m][value='act/0/zero_frac']")
    page.fill("#columns-search", "")
    assert page.locator("#columns-form label:visible").count() > 3
    assert not page.locator("input[name=m][value='act/1/mean']").is_visible()  # collapsed again
    page.press("#columns-search", "Enter")  # does not submit
    assert "cols=1" not in page.url
    page.click("#columns-form button[type=submit]")
    page.wait_for_url("**cols=1**")
    assert "act/0/zero_frac" in page.locator("#runs-table thead").inner_text()
    assert page.errors == []
