"""Root causes (``experiments.diagnostics.causes``): the table's rules, chains, the
"after the blow-up" condition and cycles; then a stored run whose dead ReLUs explain its
vanishing gradients, through the findings API, the runs table's summary, and the Health
panel in a real browser."""

import numpy as np
import pytest

from experiments.diagnostics import causes
from experiments.diagnostics.base import Finding
from experiments.diagnostics.models import Finding as FindingRow
from experiments.diagnostics.runner import run_diagnose
from experiments.models import RunStatus
from tests.browser import login
from tests.diagnostics.support import ingest, make_run
from tests.helpers import auth

DEAD_WHY = next(rule.why for rule in causes.RULES if rule.cause == "dead_relu")


def finding(kind: str, step_start: int | None = 0, severity: str = "critical") -> Finding:
    return Finding(kind, severity, kind, "", "", [], step_start=step_start)


def links(findings: list[Finding]) -> dict[str, str]:
    parent = causes.fold(findings)
    return {findings[i].kind: findings[j].kind for i, j in parent.items()}


def test_each_rule_of_the_table_folds_its_consequences_under_the_cause():
    assert links([finding("vanishing_gradients"), finding("dead_relu"), finding("collapsed_class")]) == {
        "vanishing_gradients": "dead_relu",
        "collapsed_class": "dead_relu",
    }
    assert links([finding("exploding_gradients"), finding("divergence"), finding("lr_too_high")]) == {
        "exploding_gradients": "lr_too_high",  # the first rule's cause, not the divergence
        "divergence": "lr_too_high",
    }
    # Unrelated findings stay on their own.
    assert links([finding("overfitting"), finding("gpu_memory_pressure"), finding("dead_relu")]) == {}


def test_divergence_explains_only_what_begins_after_its_blow_up_began():
    diverged = finding("divergence", step_start=100)
    before, after = finding("overfitting", step_start=40), finding("underfitting", step_start=120)
    assert links([diverged, before, after]) == {"underfitting": "divergence"}
    assert causes.explains(diverged, finding("overfitting", step_start=None)) is None
    # Its exploding gradients are its own, whenever they start.
    assert links([diverged, finding("exploding_gradients", step_start=3)]) == {
        "exploding_gradients": "divergence"
    }


def test_chains_end_at_one_root_and_are_shown_root_first():
    found = [
        finding("vanishing_gradients", step_start=60),
        finding("no_validation", severity="info"),
        finding("dead_relu", step_start=55),
        finding("divergence", step_start=50),
    ]
    order, parent = causes.grouped(found)
    assert links(found) == {"vanishing_gradients": "dead_relu", "dead_relu": "divergence"}
    assert [causes.root_of(parent, i) for i in range(4)] == [3, 1, 3, 3]
    # The divergence's group leads (its most pressing member came first), root first.
    assert [found[i].kind for i in order] == [
        "divergence",
        "vanishing_gradients",
        "dead_relu",
        "no_validation",
    ]


def test_a_cycle_in_the_table_is_cut_so_every_chain_has_a_root(monkeypatch):
    rules = (
        causes.Rule("a", frozenset({"b"}), "a makes b"),
        causes.Rule("b", frozenset({"a"}), "b makes a"),
    )
    monkeypatch.setattr(causes, "RULES", rules)
    found = [finding("a"), finding("b")]
    parent = causes.fold(found)
    assert parent == {0: 1}  # a's cause is b; b's would close the loop and is left out
    assert causes.root_of(parent, 0) == causes.root_of(parent, 1) == 1


def dead_relu_run(owner):
    """A finished run whose first ReLU is dead from the start: its layer before passes back
    a zero gradient (vanishing), and the validation loss is there (no "no validation")."""
    run = make_run(owner, name="dead-first-layer", project="causes", status=RunStatus.FINISHED)
    steps = np.arange(0, 100, 5)
    ones = np.ones(len(steps))
    ingest(
        run,
        {
            "train/loss": (steps, 2.3 - steps / 1000),
            "val/loss": (steps[3::4], 2.3 - steps[3::4] / 1000),
            "act/1/zero_frac": (steps, ones),
            "act/3/zero_frac": (steps, 0.4 * ones),
            "grad/0/norm": (steps, 0 * ones),
            "grad/2/norm": (steps, 0.3 * ones),
            "grad/4/norm": (steps, 0.5 * ones),
        },
    )
    result = run_diagnose(run_id=run.pk)
    assert {"dead_relu", "vanishing_gradients"} <= result.kinds(), result.kinds()
    return run


@pytest.mark.django_db
def test_the_api_leads_with_the_cause_counts_it_once_and_the_runs_table_shows_one_problem(
    client, api_key, owner
):
    run = dead_relu_run(owner)
    body = client.get(f"/api/v1/runs/{run.pk}/findings", **auth(api_key)).json()
    dead = FindingRow.objects.get(run=run, kind="dead_relu")
    vanishing = FindingRow.objects.get(run=run, kind="vanishing_gradients")
    assert [f["id"] for f in body["findings"][:2]] == [dead.pk, vanishing.pk]
    assert body["findings"][0]["caused_by"] is None
    assert body["findings"][1]["caused_by"] == {
        "id": dead.pk,
        "kind": "dead_relu",
        "title": dead.title,
        "why": DEAD_WHY,
        "root": dead.pk,
    }
    assert len(body["findings"]) == 2
    # Two critical findings, one mistake: the header counts one.
    assert (body["total"], body["folded"], body["dismissed"]) == (1, 1, 0)
    assert body["counts"] == {"critical": 1, "warning": 0, "info": 0}
    assert body["next"][0]["finding"] == dead.pk
    assert vanishing.pk not in [item["finding"] for item in body["next"]]

    # Dismissing the cause unfolds its consequences: they stand on their own again.
    client.post(
        f"/api/v1/runs/{run.pk}/findings/{dead.pk}/dismiss",
        data={"dismissed": True},
        content_type="application/json",
        **auth(api_key),
    )
    body = client.get(f"/api/v1/runs/{run.pk}/findings", **auth(api_key)).json()
    again = next(f for f in body["findings"] if f["id"] == vanishing.pk)
    assert again["caused_by"] is None and body["folded"] == 0
    assert body["counts"] == {"critical": 1, "warning": 0, "info": 0} and body["dismissed"] == 1
    assert body["findings"][-1]["id"] == dead.pk and body["findings"][-1]["dismissed"]

    summary = client.get("/api/v1/projects/causes/findings", **auth(api_key)).json()["runs"][str(run.pk)]
    assert vanishing.title in summary["titles"]  # a root again


@pytest.mark.django_db
def test_the_runs_table_summary_names_the_root_cause_not_its_consequences(client, api_key, owner):
    run = dead_relu_run(owner)
    dead = FindingRow.objects.get(run=run, kind="dead_relu")
    vanishing = FindingRow.objects.get(run=run, kind="vanishing_gradients")
    summary = client.get("/api/v1/projects/causes/findings", **auth(api_key)).json()["runs"][str(run.pk)]
    assert summary["titles"][0] == dead.title and vanishing.title not in summary["titles"]
    health = client.get(f"/api/v1/runs/{run.pk}/findings", **auth(api_key)).json()
    assert summary["counts"] == health["counts"]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_health_panel_folds_the_vanishing_gradients_under_the_dead_relus(page, server, owner):
    run = dead_relu_run(owner)
    dead = FindingRow.objects.get(run=run, kind="dead_relu")
    vanishing = FindingRow.objects.get(run=run, kind="vanishing_gradients")

    login(page, server, owner, f"/runs/{run.pk}/")
    page.wait_for_selector(f"#finding-{vanishing.pk}", state="attached")
    cards = page.locator("#health-findings > .finding")
    assert cards.first.get_attribute("id") == f"finding-{dead.pk}"
    folded = page.locator(f"#finding-{dead.pk} > .finding-consequences > #finding-{vanishing.pk}")
    assert folded.count() == 1
    assert "is-collapsed" in folded.get_attribute("class")
    assert folded.locator(".finding-cause").inner_text() == f"Explained by {dead.title}: {DEAD_WHY}."
    assert page.locator(f"#health-findings > #finding-{vanishing.pk}").count() == 0
    counts = {"critical": 0, "warning": 0, "info": 0}
    for severity in cards.evaluate_all("cards => cards.map(c => c.className)"):
        counts[next(s for s in counts if f"finding-{s}" in severity)] += 1
    # The dead ReLUs are critical: one critical problem, not two.
    assert page.locator("#health-verdict").inner_text().startswith(f"{counts['critical']} critical")
    assert counts["critical"] == 1
    # Opening the folded finding shows its evidence even inside the (open) cause's card.
    folded.locator(".finding-more").click()
    assert folded.locator(".evidence").is_visible()
    folded.locator(".finding-cause a").click()
    assert page.url.endswith(f"#finding-{dead.pk}")
