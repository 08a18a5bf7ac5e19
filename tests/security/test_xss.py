"""XSS (issue #15): every user-controlled string, logged through the real API (or made
the way its page makes it), shown on every page that shows it in a real browser: no
payload runs, and each string is shown literally.

The strings carry two payloads: an element whose ``onerror`` runs when parsed as HTML
(``innerHTML``, an unescaped template) and one that breaks out of an attribute into a
``<script>``. Each string starts with the field's name, so a missing one is named.
"""

from __future__ import annotations

import json
import urllib.request
from urllib.parse import quote

import pytest

from alerts.models import AlertRule, Destination
from experiments.compare.baselines import baseline_set
from experiments.models import ApiKey, Project
from teams import services as team_services
from teams.models import Team
from tests import factories
from tests.browser import api, log, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ELEMENT = "<img src=x onerror=window.__xss=1>"
BREAKOUT = '"><script>window.__xss=1</script>'


def evil(field: str) -> str:
    """A user-controlled string: the field's name and both payloads."""
    return f"{field}{ELEMENT}{BREAKOUT}"


# A project name cannot hold '/' (it is a URL segment): the element payload only.
PROJECT = f"proj{ELEMENT}"
RUN, SECOND, GROUP, TAG, NOTES = evil("run"), evil("second"), evil("group"), evil("tag"), evil("notes")
# The two runs differ in the config's value: the compare page shows differences.
CONFIG_KEY, CONFIG_VALUE, OTHER_VALUE = evil("cfgkey"), evil("cfgvalue"), evil("othervalue")
SUMMARY_KEY, SUMMARY_VALUE = evil("sumkey"), evil("sumvalue")
METRIC, MEDIA = evil("metric"), evil("media")
LABEL = evil("label")
TEAM, KEY_NAME = evil("team"), evil("keyname")
RULE, DESTINATION = evil("rule"), evil("dest")
SWEEP, PARAM = evil("sweep"), evil("param")


def _patch(server, key: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{server.url}/api/v1/{path}",
        data=json.dumps(body).encode(),
        method="PATCH",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _world(server, owner) -> dict:
    """Everything the pages show, each string a payload; the ids of what they address."""
    key = factories.api_key(owner)
    runs = []
    for name, value in ((RUN, CONFIG_VALUE), (SECOND, OTHER_VALUE)):
        run = api(
            server,
            key,
            "runs",
            {
                "project": PROJECT,
                "name": name,
                "group": GROUP,
                "tags": [TAG],
                "config": {CONFIG_KEY: value, "lr": 0.1},
            },
        )
        from experiments.models import Run

        stored = Run.objects.get(pk=run["id"])
        log(
            server,
            key,
            stored,
            [(s, {METRIC: 1.0 / (s + 1), "loss": 0.5 - s / 100}) for s in range(5)],
            seq=1,
        )
        api(
            server,
            key,
            f"runs/{stored.pk}/media",
            {
                "items": [
                    {
                        "uid": "cm",
                        "kind": "confusion_matrix",
                        "name": MEDIA,
                        "step": 4,
                        "data": {"labels": [LABEL, "plain"], "matrix": [[3, 1], [0, 4]]},
                    }
                ]
            },
        )
        api(
            server,
            key,
            f"runs/{stored.pk}/finish",
            {"status": "finished", "summary": {SUMMARY_KEY: SUMMARY_VALUE}},
        )
        runs.append(stored)
    _patch(server, key, f"runs/{runs[0].pk}", {"notes": NOTES})

    project = Project.objects.get(name=PROJECT)
    baseline_set(user=owner, project=project, run=runs[1])
    team_services.team_create(actor=owner, slug="lab", name=TEAM)
    ApiKey.issue(owner, name=KEY_NAME)
    destination = Destination.objects.create(
        project=project, name=DESTINATION, kind="webhook", url="http://127.0.0.1:9/hook"
    )
    rule = AlertRule.objects.create(
        project=project, name=RULE, trigger="metric", metric_key=METRIC, operator=">", threshold=10.0
    )
    rule.destinations.add(destination)
    sweep = factories.sweep(
        project,
        name=SWEEP,
        entry_point="tests.tuning.test_entrypoints:varied",
        objective=METRIC,
        space={PARAM: {"type": "float", "low": 0.001, "high": 0.1}},
        n_trials=1,
        created_by=owner,
    )
    from tuning.models import Trial

    Trial.objects.create(
        sweep=sweep, number=0, params={PARAM: 0.01}, run=runs[0], state="complete", value=0.5
    )
    token = team_services.invite_make(actor=owner, team=Team.objects.get(slug="lab"), role="viewer")
    return {"project": project, "run": runs[0], "second": runs[1], "sweep": sweep, "token": token}


def _pages(world: dict) -> list[tuple[str, list[str]]]:
    """(path, the strings it must show literally)."""
    name = quote(PROJECT, safe="")
    run, second = world["run"].pk, world["second"].pk
    return [
        ("/", [PROJECT]),
        (f"/projects/{name}/", [PROJECT, RUN, SECOND, TAG, GROUP]),
        (
            f"/runs/{run}/",
            [
                RUN,
                TAG,
                GROUP,
                NOTES,
                CONFIG_KEY,
                CONFIG_VALUE,
                SUMMARY_KEY,
                SUMMARY_VALUE,
                METRIC,
                MEDIA,
                LABEL,
            ],
        ),
        (
            f"/projects/{name}/compare/?s={run}&s={second}",
            [RUN, SECOND, CONFIG_KEY, CONFIG_VALUE, OTHER_VALUE, METRIC],
        ),
        (f"/runs/{run}/compare/", [RUN, SECOND, CONFIG_KEY, CONFIG_VALUE, OTHER_VALUE, METRIC]),
        (f"/projects/{name}/analysis/", [PROJECT, METRIC]),  # drawn once its data is computed
        (f"/projects/{name}/alerts/", [RULE, DESTINATION, METRIC]),
        (f"/sweeps/{world['sweep'].pk}/", [SWEEP, PARAM, METRIC]),
        ("/teams/", [TEAM]),
        ("/teams/lab/", [TEAM]),
        (f"/teams/join/{world['token']}/", [TEAM]),
        ("/keys/", [KEY_NAME, PROJECT]),
        (f"/projects/{name}/settings/", [PROJECT]),
    ]


SHOWN = """strings => {
    window.scrollBy(0, window.innerHeight);  // cards built near the viewport only
    const text = document.body.innerText;
    return strings.every(s => text.includes(s));
}"""

# The Content-Security-Policy (dashboard/settings.py) refuses inline scripts and event
# handlers, so an unescaped payload would not run even if it reached the DOM: the test
# also fails when one reached it (as an element, or as a refused inline script).
WATCH_CSP = """document.addEventListener("securitypolicyviolation", e => {
    (window.__csp = window.__csp || []).push(e.violatedDirective + " " + (e.sample || ""));
});"""
INJECTED = """() => [
    ...Array.from(document.querySelectorAll("[onerror]"), el => el.outerHTML.slice(0, 80)),
    ...Array.from(document.querySelectorAll("script:not([type='application/json'])"))
        .filter(el => el.textContent.includes("__xss")).map(el => el.outerHTML.slice(0, 80)),
    ...(window.__csp || []),
]"""


@pytest.mark.timeout(180)
def test_no_payload_runs_and_each_string_is_shown_literally(server, owner, page):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    world = _world(server, owner)
    page.add_init_script(WATCH_CSP)
    login(page, server, owner, "/")
    failures = []
    for path, strings in _pages(world):
        page.goto(server.url + path)
        try:
            page.wait_for_function(SHOWN, arg=strings, polling=100, timeout=15000)
        except PlaywrightTimeout:  # named below, with what is missing
            text = page.evaluate("document.body.innerText")
            missing = [s.split("<", 1)[0] for s in strings if s not in text]
            failures.append(f"{path}: not shown literally: {missing}")
        page.wait_for_timeout(150)  # an <img onerror> fires once its load fails
        if page.evaluate("typeof window.__xss") != "undefined":
            failures.append(f"{path}: a payload ran")
        injected = page.evaluate(INJECTED)
        if injected:
            failures.append(f"{path}: a payload reached the DOM (the CSP alone stopped it): {injected}")
    assert not failures, "\n".join(failures)
