"""The teams migration on data made before it (issue #15): migrate back to the schema
before teams, make a user's runs, points, media, checkpoint, baseline, sweep and API key
with that schema, migrate forward, and find every row still there, unchanged, and
visible to the same person (and to no one else)."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from experiments.chunks import chunks_insert, split_chunks

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("experiments", "0011_media_text_kind"), ("tuning", "0003_exact_json_floats")]


def _executor() -> MigrationExecutor:
    return MigrationExecutor(connection)


def test_data_made_before_teams_is_all_there_and_seen_by_the_same_person():
    executor = _executor()
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate(BEFORE)
    try:
        old = _executor().loader.project_state(BEFORE).apps
        User = old.get_model("auth", "User")
        owner = User.objects.create(username="before", password="x")
        User.objects.create(username="other", password="x")
        Project = old.get_model("experiments", "Project")
        Run = old.get_model("experiments", "Run")
        Metric = old.get_model("experiments", "Metric")
        project = Project.objects.create(owner=owner, name="legacy")
        run = Run.objects.create(project=project, name="old-run", group="seeds", config={"lr": 0.1})
        metric = Metric.objects.create(run=run, key="loss", count=50, last_step=49, last_value=0.02)
        chunks_insert(
            split_chunks(
                metric.pk, 0, list(range(50)), [1 / (s + 1) for s in range(50)], [1e9 + s for s in range(50)]
            )
        )
        old.get_model("experiments", "Media").objects.create(
            run=run, kind="text", name="notes", step=1, uid="m1", data={"text": "kept"}
        )
        old.get_model("experiments", "Checkpoint").objects.create(
            run=run, step=49, uid="c1", filename="m.pt", sha256="0" * 64, size=7, path="legacy/m.pt"
        )
        old.get_model("experiments", "Baseline").objects.create(project=project, run=run, label="old-run")
        old.get_model("tuning", "Sweep").objects.create(
            project=project,
            name="search",
            entry_point="examples.train_digits:train",
            objective="val/acc",
            space={},
        )
        key_hash = "a" * 64
        old.get_model("experiments", "ApiKey").objects.create(
            user=owner, key_prefix="trk_old", key_hash=key_hash
        )
    finally:
        _executor().migrate(latest)

    from django.contrib.auth import get_user_model

    from experiments.chunks import chunks_read
    from experiments.models import ApiKey, Baseline, Checkpoint, Media, Metric, Project, Run
    from experiments.selectors import can_admin, projects_visible_to, runs_visible_to
    from tuning.models import Sweep
    from tuning.selectors import sweeps_visible_to

    users = get_user_model().objects
    owner, other = users.get(username="before"), users.get(username="other")
    project = Project.objects.get(name="legacy")
    assert (project.owner_id, project.team_id, project.visibility, project.archived_at) == (
        owner.pk,
        None,
        "team",
        None,
    )
    run = Run.objects.get(project=project)
    assert (run.name, run.group, run.config) == ("old-run", "seeds", {"lr": 0.1})
    metric = Metric.objects.get(run=run)
    points = chunks_read(metric.pk)
    assert list(points.step) == list(range(50)) and points.value[0] == 1.0
    assert Media.objects.get(run=run).data == {"text": "kept"}
    assert Checkpoint.objects.get(run=run).path == "legacy/m.pt"
    assert Baseline.objects.get(project=project).run_id == run.pk
    sweep = Sweep.objects.get(project=project)
    key = ApiKey.objects.get(key_hash="a" * 64)
    assert (key.scope, key.all_projects, key.expires_at, key.internal) == ("read-write", True, None, False)
    # Seen by the same person, with every right they had; by no one else.
    assert list(projects_visible_to(owner)) == [project] and can_admin(owner, project)
    assert list(runs_visible_to(owner)) == [run] and list(sweeps_visible_to(owner)) == [sweep]
    assert not projects_visible_to(other).exists() and not runs_visible_to(other).exists()
