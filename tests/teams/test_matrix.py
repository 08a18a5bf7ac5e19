"""The persona matrix (issue #15): every persona against EVERY route, the answer exact.

The routes are walked from the URL configuration (``get_resolver``), so a new route
cannot be missed: one with no entry in ``SPEC`` (and no rule of its area below) fails
``test_every_route_is_in_the_matrix``. Denied reads reveal nothing: an object one may
not see answers 404 (never 403), and its names appear in no denied answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from teams.models import RANK, Role
from tests.teams.world import SECRET_RUN, Persona, World, build

pytestmark = pytest.mark.django_db

GET, POST, DELETE = "GET", "POST", "DELETE"


@dataclass(frozen=True)
class Spec:
    """How to call a route and what it needs.

    ``target``: what the route addresses in ``vision/resnet`` (run, project, sweep...;
    None: nothing, answered by ``open``). ``needs``: the least role. ``api``: an API
    view (401 without credentials, keys accepted); ``session``: an API view that also
    takes the browser's session (pages always do). ``public``: no sign-in at all.
    """

    path: str
    method: str = GET
    target: str | None = "run"
    needs: str = Role.VIEWER
    api: bool = False
    session: bool = True
    body: object = None
    public: bool = False
    # For routes addressing nothing: persona -> expected answer.
    open: Callable[[Persona], str] | None = None
    # The answer when allowed (default "ok": 2xx, or a redirect that is not to sign in).
    allowed: str = "ok"


def _signed_in(p: Persona) -> str:
    return "ok"


def _open_api(p: Persona) -> str:
    return "ok"


def _revoker(p: Persona) -> str:
    """Revoking olivia's key: olivia may; to anyone else the key does not exist."""
    return "ok" if p.name == "owner" else "404"


# Route pattern (as walked) -> spec; {run}, {project}, {sweep}, {checkpoint} filled in.
SPEC: dict[str, Spec] = {
    # --- pages -------------------------------------------------------------------------
    "": Spec("/", target=None, open=_signed_in),
    "start/": Spec("/start/", target=None, open=_signed_in),
    "favicon.ico": Spec("/favicon.ico", target=None, public=True),
    "sdk/simple/": Spec("/sdk/simple/", target=None, public=True),
    "sdk/simple/<str:name>/": Spec("/sdk/simple/tracker/", target=None, public=True),
    "sdk/<str:filename>": Spec("/sdk/nothing-here.whl", target=None, public=True, allowed="404"),
    "accounts/login/": Spec("/accounts/login/", target=None, public=True),
    "accounts/logout/": Spec("/accounts/logout/", method=POST, target=None, public=True, allowed="login"),
    "projects/<project:name>/": Spec("/projects/{project}/", target="project"),
    "projects/<project:name>/rows.json": Spec("/projects/{project}/rows.json?run={run}", target="project"),
    "projects/<project:name>/views/": Spec(
        "/projects/{project}/views/",
        method=POST,
        target="project",
        needs=Role.MEMBER,
        body={"view": "matrix", "query": "q=status+%3D+finished"},
    ),
    "projects/<project:name>/views/<int:view_id>/delete/": Spec(
        "/projects/{project}/views/999999/delete/",
        method=POST,
        target="project",
        needs=Role.MEMBER,
        allowed="404",  # no such view: members are told so, viewers are refused first
    ),
    "projects/<project:name>/groups.json": Spec(
        "/projects/{project}/groups.json?group_by=status&key=train/loss", target="project"
    ),
    "projects/<project:name>/runs.csv": Spec("/projects/{project}/runs.csv", target="project"),
    "projects/<project:name>/runs.parquet": Spec("/projects/{project}/runs.parquet", target="project"),
    "runs/<int:run_id>/": Spec("/runs/{run}/"),
    "runs/<int:run_id>/series.json": Spec("/runs/{run}/series.json"),
    "projects/<project:name>/compare/": Spec("/projects/{project}/compare/?s={second}", target="project"),
    "projects/<project:name>/compare/curves.json": Spec(
        "/projects/{project}/compare/curves.json?s={second}", target="project"
    ),
    "projects/<project:name>/baseline/": Spec(
        "/projects/{project}/baseline/",
        method=POST,
        target="project",
        needs=Role.MEMBER,
        body={"side": "{run}"},
    ),
    "runs/<int:run_id>/compare/": Spec("/runs/{run}/compare/"),
    "runs/<int:run_id>/media.json": Spec("/runs/{run}/media.json"),
    "runs/<int:run_id>/datasets.json": Spec("/runs/{run}/datasets.json"),
    "runs/<int:run_id>/checkpoints/<int:checkpoint_id>/download": Spec(
        "/runs/{run}/checkpoints/{checkpoint}/download"
    ),
    "sweeps/<int:sweep_id>/": Spec("/sweeps/{sweep}/", target="sweep"),
    "sweeps/<int:sweep_id>/data.json": Spec("/sweeps/{sweep}/data.json", target="sweep"),
    # --- teams and keys (teams.urls) --------------------------------------------------------
    "keys/": Spec("/keys/", target=None, open=_signed_in),
    "keys/<int:key_id>/revoke/": Spec("/keys/{key}/revoke/", method=POST, target=None, open=_revoker),
    "teams/": Spec("/teams/", target=None, open=_signed_in),
    "teams/join/<str:token>/": Spec("/teams/join/not-a-token/", target=None, public=True, allowed="404"),
    "teams/<slug:slug>/": Spec("/teams/vision/", target="team"),
    "projects/<project:name>/settings/": Spec(
        "/projects/{project}/settings/", target="project", needs=Role.ADMIN
    ),
    # --- the API -------------------------------------------------------------------------
    "api/v1/openapi.json": Spec("/api/v1/openapi.json", target=None, public=True),
    "api/v1/runs": Spec(
        "/api/v1/runs",
        method=POST,
        target="project",
        needs=Role.MEMBER,
        api=True,
        session=False,
        body={"project": "vision/resnet", "name": "new"},
    ),
    "api/v1/runs/<int:run_id>": Spec("/api/v1/runs/{run}", api=True),
    "api/v1/runs/bulk": Spec(
        "/api/v1/runs/bulk",
        method=POST,
        needs=Role.MEMBER,
        api=True,
        body=lambda world: {"action": "tag", "tag": "seen", "runs": [world.run.pk]},
    ),
    "api/v1/runs/<int:run_id>/batches": Spec(
        "/api/v1/runs/{run}/batches",
        method=POST,
        needs=Role.MEMBER,
        api=True,
        session=False,
        body={"writer": "w", "seq": 1, "rows": [[1, 1.0, {"loss": 0.5}]]},
    ),
    "api/v1/runs/<int:run_id>/heartbeat": Spec(
        "/api/v1/runs/{run}/heartbeat", method=POST, needs=Role.MEMBER, api=True, session=False, body={}
    ),
    "api/v1/runs/<int:run_id>/finish": Spec(
        "/api/v1/runs/{run}/finish",
        method=POST,
        needs=Role.MEMBER,
        api=True,
        session=False,
        body={"status": "finished"},
    ),
    "api/v1/runs/<int:run_id>/history": Spec("/api/v1/runs/{run}/history", api=True),
    "api/v1/runs/<int:run_id>/receipts": Spec("/api/v1/runs/{run}/receipts", api=True, session=False),
    "api/v1/projects": Spec("/api/v1/projects", target=None, api=True, open=_open_api),
    "api/v1/projects/<project:name>/runs": Spec(
        "/api/v1/projects/{project}/runs", target="project", api=True
    ),
    "api/v1/runs/<int:run_id>/compare": Spec("/api/v1/runs/{run}/compare", api=True),
    "api/v1/projects/<project:name>/baseline": Spec(
        "/api/v1/projects/{project}/baseline", target="project", api=True
    ),
    "api/v1/projects/<project:name>/directions": Spec(
        "/api/v1/projects/{project}/directions", target="project", api=True
    ),
    "api/v1/projects/<project:name>/compare": Spec(
        "/api/v1/projects/{project}/compare?side={second}", target="project", api=True
    ),
    "api/v1/groups": Spec("/api/v1/groups?name=seeds", target=None, api=True, open=_open_api),
    "api/v1/runs/<int:run_id>/media": Spec("/api/v1/runs/{run}/media", api=True),
    "api/v1/runs/<int:run_id>/checkpoints": Spec("/api/v1/runs/{run}/checkpoints", api=True),
    "api/v1/runs/<int:run_id>/checkpoints/<int:checkpoint_id>/file": Spec(
        "/api/v1/runs/{run}/checkpoints/{checkpoint}/file", api=True
    ),
    "api/v1/runs/<int:run_id>/findings": Spec("/api/v1/runs/{run}/findings", api=True),
    "api/v1/runs/<int:run_id>/findings/<int:finding_id>/dismiss": Spec(
        "/api/v1/runs/{run}/findings/999999/dismiss",
        method=POST,
        needs=Role.MEMBER,
        api=True,
        body={"dismissed": True},
        # Allowed this far, the finding (there is none) is looked up: 404 naming it.
        allowed="404:finding",
    ),
    "api/v1/projects/<project:name>/findings": Spec(
        "/api/v1/projects/{project}/findings", target="project", api=True
    ),
    "api/v1/sweeps": Spec(
        "/api/v1/sweeps",
        method=POST,
        target="project",
        needs=Role.ADMIN,
        api=True,
        session=False,
        body={
            "project": "vision/resnet",
            "entry_point": "tests.tuning.test_entrypoints:varied",
            "objective": "val/acc",
            "space": {"lr": {"type": "float", "low": 0.001, "high": 0.1}},
            "n_trials": 1,
            "start": False,
        },
    ),
    "api/v1/sweeps/<int:sweep_id>": Spec("/api/v1/sweeps/{sweep}", target="sweep", api=True),
    "api/v1/sweeps/<int:sweep_id>/trials": Spec("/api/v1/sweeps/{sweep}/trials", target="sweep", api=True),
    "api/v1/sweeps/<int:sweep_id>/stop": Spec(
        "/api/v1/sweeps/{sweep}/stop",
        method=POST,
        target="sweep",
        needs=Role.ADMIN,
        api=True,
        session=False,
        body={},
    ),
    "api/v1/sweeps/<int:sweep_id>/start": Spec(
        "/api/v1/sweeps/{sweep}/start",
        method=POST,
        target="sweep",
        needs=Role.ADMIN,
        api=True,
        session=False,
        body={},
    ),
}

# Areas other engineers own, checked by rule (their exact answers are their tests'):
# no credentials is refused, an object one may not see is 404, and a denied answer
# names nothing of the project.
FOREIGN_PREFIXES = ("api/2.0/mlflow", "ajax-api/2.0/mlflow", "api/2.0/mlflow-artifacts", "^(?:api|ajax-api)")
ADMIN_PREFIX = "admin/"


def walk(patterns=None, prefix: str = ""):
    """Every route of the URL configuration, as ``(pattern, name)``."""
    for p in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(p, URLResolver):
            yield from walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p.name


def _fill(text: str, world: World) -> str:
    return (
        text.replace("{run}", str(world.run.pk))
        .replace("{second}", str(world.second.pk))
        .replace("{key}", str(world.people["olivia"].api_keys.order_by("pk").first().pk))
        .replace("{project}", world.project.ref)  # entity/name: vision/resnet
        .replace("{sweep}", str(world.sweep.pk))
        .replace("{checkpoint}", str(world.checkpoint.pk))
    )


def _client(persona: Persona) -> Client:
    client = Client()
    if persona.user is not None:
        client.force_login(persona.user)
    return client


def call(persona: Persona, method: str, path: str, body=None):
    client = _client(persona)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {persona.key}"} if persona.key else {}
    if method == GET:
        return client.get(path, **headers)
    if method == DELETE:
        return client.delete(path, **headers)
    if path.startswith("/api/"):
        return client.post(path, json.dumps(body or {}), content_type="application/json", **headers)
    return client.post(path, body or {}, **headers)


def answer(response) -> str:
    """The answer in the matrix's words: ok, login, 401, 403, 404 (with ':field' for a
    JSON 404 naming one, when asked), or the status."""
    status = response.status_code
    if status in (301, 302):
        return "login" if "/login/" in response.get("Location", "") else "ok"
    if status in (200, 201, 204):
        return "ok"
    return str(status)


def expected(spec: Spec, persona: Persona) -> str:
    if spec.public:
        return spec.allowed
    if persona.anonymous:
        return "401" if spec.api else "login"
    if persona.key is not None:
        if not spec.api:
            return "login"  # pages take the browser's session only
        if persona.dead:
            return "401"
    elif spec.api and not spec.session:
        return "401"  # writes through the API need a key
    if spec.target is None:
        return spec.open(persona)
    if persona.read_only and spec.method != GET:
        return "403"
    if persona.role is None:
        return "404"
    if RANK[Role(persona.role)] < RANK[Role(spec.needs)]:
        return "403"
    return spec.allowed.split(":")[0]


def _check(world: World, spec: Spec, persona: Persona) -> str | None:
    path = _fill(spec.path, world)
    if callable(spec.body):  # a body with ids as numbers, not text to fill in
        body = spec.body(world)
    else:
        body = json.loads(_fill(json.dumps(spec.body), world)) if spec.body is not None else None
    response = call(persona, spec.method, path, body)
    got, want = answer(response), expected(spec, persona)
    if got != want:
        return (
            f"{persona.name}: {spec.method} {path} answered {response.status_code} ({got}), expected {want}"
        )
    if got == "404" and response.get("Content-Type", "").startswith("application/json"):
        field = response.json().get("field")
        allowed = persona.role is not None and RANK[Role(persona.role)] >= RANK[Role(spec.needs)]
        if allowed and spec.allowed.startswith("404:") and field != spec.allowed.split(":")[1]:
            return f"{persona.name}: {path} 404 named {field!r}, expected {spec.allowed}"
    if want in ("404", "401", "login") and SECRET_RUN.encode() in response.content:
        return f"{persona.name}: the denied answer of {path} names the hidden run"
    return None


def _fresh_world(django_user_model) -> World:
    return build(django_user_model)


@pytest.mark.parametrize("route", sorted(SPEC))
def test_each_persona_gets_the_exact_answer(route, django_user_model):
    """One route, every persona, in a fresh world each (writes change state)."""
    spec = SPEC[route]
    world = _fresh_world(django_user_model)
    failures = []
    for persona in world.personas:
        failure = _check(world, spec, persona)
        if failure:
            failures.append(failure)
    assert not failures, "\n".join(failures)


def test_every_route_is_in_the_matrix(django_user_model):
    """A route with no spec and no rule fails here: add it to SPEC (or its area's rule)."""
    missing = [
        pattern
        for pattern, _name in walk()
        if pattern not in SPEC
        and not pattern.startswith((ADMIN_PREFIX, *FOREIGN_PREFIXES))
        and pattern not in FOREIGN_ROUTES
    ]
    assert not missing, f"routes missing from the persona matrix: {missing}"


# Routes of other areas (alerts, datasets), by rule: path filled, objects addressed.
FOREIGN_ROUTES: dict[str, tuple[str, str]] = {
    "api/v1/runs/<int:run_id>/alerts": (POST, "/api/v1/runs/{run}/alerts"),
    "api/v1/runs/<int:run_id>/datasets": (GET, "/api/v1/runs/{run}/datasets"),
    "api/v1/projects/<project:name>/analysis": (GET, "/api/v1/projects/{project}/analysis"),
    "projects/<project:name>/analysis/": (GET, "/projects/{project}/analysis/"),
    "projects/<project:name>/analysis/data.json": (GET, "/projects/{project}/analysis/data.json"),
    "projects/<project:name>/alerts/": (GET, "/projects/{project}/alerts/"),
    "projects/<project:name>/alerts/destinations/<int:destination_id>/test/": (
        POST,
        "/projects/{project}/alerts/destinations/999999/test/",
    ),
}


def test_other_areas_routes_refuse_who_may_not_see(django_user_model):
    """Alerts and datasets: anonymous is refused; who cannot see the project gets 404
    with no name of it; who can is never told 404 for the project (GET)."""
    world = build(django_user_model)
    failures = []
    for method, raw in FOREIGN_ROUTES.values():
        path = _fill(raw, world)
        for persona in world.personas:
            if persona.key is not None and not path.startswith("/api/"):
                continue  # pages ignore keys: same as anonymous, checked below
            response = call(persona, method, path, {})
            got = answer(response)
            api_write_by_session = path.startswith("/api/") and persona.user is not None and method == POST
            if persona.anonymous or persona.dead:
                ok = got in ("401", "login")
            elif api_write_by_session:
                ok = got == "401"  # API writes take a key
            elif persona.role is None:
                # (400: a body refused before any look-up, the same for every run id)
                ok = got in ("404", "401", "400") and SECRET_RUN.encode() not in response.content
            else:
                ok = got != "404" or method == POST  # (a POST may name a missing destination)
            if not ok:
                failures.append(f"{persona.name}: {method} {path} answered {response.status_code}")
    assert not failures, "\n".join(failures)


@pytest.mark.timeout(900)  # every admin route, on a loaded machine
def test_admin_routes_send_non_staff_to_sign_in(django_user_model):
    """Every admin route: people without staff status are sent to the admin's sign-in."""
    world = build(django_user_model)
    failures = []
    for pattern, _name in walk():
        if not pattern.startswith(ADMIN_PREFIX):
            continue
        path = "/" + (
            pattern.replace("<path:object_id>", str(world.run.pk))
            .replace("<int:sweep_id>", str(world.sweep.pk))
            .replace("<str:verb>", "stop")
            .replace("<int:object_id>", str(world.run.pk))
            .replace("<path:content_type_id>", "1")
            .replace("<path:app_label>", "experiments")
            .replace("<id>", "1")
            .replace("^", "")
            .replace("$", "")
        )
        if "<" in path or "(" in path or "\\" in path:
            continue  # a regex route (the app index): reached through the routes above
        if path in ("/admin/login/", "/admin/logout/"):
            continue  # signing in and out: open to all, as /accounts/ above
        for persona in world.personas:
            if persona.key is not None and persona.name != "read-write key":
                continue  # the admin ignores keys: one key persona stands for them all
            response = call(persona, GET, path)
            if response.status_code not in (301, 302, 404) or "login" not in response.get(
                "Location", "login"
            ):
                failures.append(f"{persona.name}: GET {path} answered {response.status_code}")
    assert not failures, "\n".join(failures)


# The MLflow-compatible API (mlflow_api/): its reads, exactly; every one of its routes by rule.
MLFLOW_READS = {
    "experiments/get": (GET, "experiment_id={experiment}"),
    "runs/get": (GET, "run_id={run_hex}"),
    "metrics/get-history": (GET, "run_id={run_hex}&metric_key=train/loss"),
}


def test_the_mlflow_api_answers_each_key_exactly(django_user_model):
    """Reads of the team project through the MLflow API: a key that may see it gets it,
    one that may not gets 404 naming nothing; no credentials is 401; every MLflow route
    refuses anonymous callers and leaks nothing to a key that may not see the project."""
    world = build(django_user_model)
    experiment = str(world.project.pk)
    run_hex = f"{world.run.pk:032x}"
    failures = []
    for route, (method, query) in MLFLOW_READS.items():
        path = f"/api/2.0/mlflow/{route}?" + query.format(experiment=experiment, run_hex=run_hex)
        for persona in world.personas:
            if persona.user is not None:
                continue  # the MLflow API takes keys only
            got = answer(call(persona, method, path))
            want = "401" if persona.anonymous or persona.dead else ("404" if persona.role is None else "ok")
            if got != want:
                failures.append(f"{persona.name}: {path} answered {got}, expected {want}")
    body = {"experiment_id": experiment, "experiment_ids": [experiment], "run_id": run_hex, "max_results": 10}
    for pattern, _name in walk():
        if not pattern.startswith("api/2.0/mlflow/"):
            continue
        path = "/" + pattern
        for persona in world.personas:
            if persona.user is not None:
                continue
            response = call(persona, POST, path, body)
            if persona.anonymous or persona.dead:
                if response.status_code not in (401, 405):
                    failures.append(f"{persona.name}: POST {path} answered {response.status_code}")
            elif persona.role is None and SECRET_RUN.encode() in response.content:
                failures.append(f"{persona.name}: POST {path} named the hidden run")
            elif (
                persona.read_only and response.status_code == 200 and not pattern.endswith(("search", "get"))
            ):
                failures.append(f"{persona.name}: a read-only key wrote through POST {path}")
    assert not failures, "\n".join(failures)
