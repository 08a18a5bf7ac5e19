"""The people and things of the access-control tests (issue #15).

Team ``vision``: olivia (owner), adam (admin), mia (member), vic (viewer). Team
``audio``: otto (member), a member of *another* team. sam: signed in, in no team.
The team project ``vision/resnet`` (team visibility) holds a run with points, media,
a checkpoint file, a baseline and a sweep. olivia's API keys: read-write (every
project), read-only, one limited to another project, one expired, one revoked.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth.models import Permission
from django.utils import timezone

from experiments.media.artifacts import artifact_root
from experiments.models import ApiKey, Baseline, Checkpoint, Media, Metric, Project, Run, Visibility
from teams.models import Role, Team, TeamMembership
from tests.conftest import PASSWORD

SECRET_RUN = "run-secret-7f3a"  # a name that must never appear in a denied answer


@dataclass
class Persona:
    name: str
    user: object | None = None  # signs in with the browser session
    key: str | None = None  # or sends this API key
    role: str | None = None  # their role in vision/resnet (None: may not see it)
    read_only: bool = False
    dead: bool = False  # an expired or revoked key

    @property
    def anonymous(self) -> bool:
        return self.user is None and self.key is None


@dataclass
class World:
    team: Team
    other_team: Team
    project: Project
    other_project: Project
    run: Run
    second: Run
    checkpoint: Checkpoint
    sweep: object
    people: dict[str, object] = field(default_factory=dict)
    personas: list[Persona] = field(default_factory=list)


def _user(django_user_model, username: str, **extra):
    return django_user_model.objects.create_user(username=username, password=PASSWORD, **extra)


def build(django_user_model) -> World:
    from tuning.models import Sweep

    people = {
        name: _user(django_user_model, name) for name in ("olivia", "adam", "mia", "vic", "otto", "sam")
    }
    run_sweeps = Permission.objects.get(codename="run_sweeps")
    for name in ("olivia", "adam", "mia"):
        people[name].user_permissions.add(run_sweeps)
    team = Team.objects.create(slug="vision", name="Vision")
    other_team = Team.objects.create(slug="audio", name="Audio")
    for name, role in (
        ("olivia", Role.OWNER),
        ("adam", Role.ADMIN),
        ("mia", Role.MEMBER),
        ("vic", Role.VIEWER),
    ):
        TeamMembership.objects.create(team=team, user=people[name], role=role)
    TeamMembership.objects.create(team=other_team, user=people["otto"], role=Role.MEMBER)
    project = Project.objects.create(
        owner=people["olivia"], team=team, name="resnet", visibility=Visibility.TEAM
    )
    other_project = Project.objects.create(owner=people["olivia"], name="scratch")
    run = Run.objects.create(project=project, name=SECRET_RUN, group="seeds", config={"lr": 0.1})
    second = Run.objects.create(project=project, name="run-two", group="seeds", config={"lr": 0.2})
    for each in (run, second):
        Metric.objects.create(
            run=each, key="train/loss", count=1, last_step=1, last_value=0.5, min_value=0.5, max_value=0.5
        )
    Media.objects.create(run=run, kind="text", name="notes", step=1, uid="m1", data={"text": "hello"})
    body = b"weights"
    folder = artifact_root()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "matrix.pt").write_bytes(body)
    checkpoint = Checkpoint.objects.create(
        run=run,
        step=1,
        uid="c1",
        filename="matrix.pt",
        sha256=hashlib.sha256(body).hexdigest(),
        size=len(body),
        path="matrix.pt",
    )
    Baseline.objects.create(project=project, run=run, label=run.name, set_at=timezone.now())
    sweep = Sweep.objects.create(
        project=project,
        name="search",
        entry_point="tests.tuning.test_entrypoints:varied",
        objective="val/acc",
        space={"lr": {"type": "float", "low": 0.001, "high": 0.1}},
        n_trials=2,
        created_by=people["olivia"],
    )

    def key(**fields) -> str:
        return ApiKey.issue(people["olivia"], name="matrix", **fields)[1]

    revoked_raw = key()
    ApiKey.objects.filter(key_hash=hashlib.sha256(revoked_raw.encode()).hexdigest()).update(
        revoked_at=timezone.now()
    )
    personas = [
        Persona("owner", user=people["olivia"], role=Role.OWNER),
        Persona("team admin", user=people["adam"], role=Role.ADMIN),
        Persona("member", user=people["mia"], role=Role.MEMBER),
        Persona("viewer", user=people["vic"], role=Role.VIEWER),
        Persona("other team's member", user=people["otto"]),
        Persona("signed-in stranger", user=people["sam"]),
        Persona("anonymous"),
        Persona("read-write key", key=key(), role=Role.OWNER),
        Persona("read-only key", key=key(scope="read"), role=Role.VIEWER, read_only=True),
        Persona("key for another project", key=key(projects=[other_project])),
        Persona("expired key", key=key(expires_at=timezone.now() - timedelta(minutes=1)), dead=True),
        Persona("revoked key", key=revoked_raw, dead=True),
    ]
    return World(
        team=team,
        other_team=other_team,
        project=project,
        other_project=other_project,
        run=run,
        second=second,
        checkpoint=checkpoint,
        sweep=sweep,
        people=people,
        personas=personas,
    )
