"""The MLflow-compatible API addresses a team's project as ``entity/name`` (issue #15):
the real ``mlflow`` client creates, finds and logs to ``vision/resnet``, apart from a
personal experiment ``resnet`` of the same user."""

import pytest

from experiments.models import Project, Run
from teams.models import Role, Team, TeamMembership

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_team_experiment_by_entity_and_a_personal_one_of_the_same_name(client, owner):
    team = Team.objects.create(slug="vision", name="Vision")
    TeamMembership.objects.create(team=team, user=owner, role=Role.MEMBER)
    team_id = client.create_experiment("vision/resnet")
    own_id = client.create_experiment("resnet")
    assert team_id != own_id
    found = client.get_experiment_by_name("vision/resnet")
    assert (found.experiment_id, found.name) == (team_id, "vision/resnet")
    assert client.get_experiment_by_name("resnet").experiment_id == own_id
    run = client.create_run(team_id, run_name="in-the-team")
    client.log_metric(run.info.run_id, "val/acc", 0.9, step=1)
    client.set_terminated(run.info.run_id)
    stored = Run.objects.get(name="in-the-team")
    assert (stored.project.team, stored.project.name) == (team, "resnet")
    assert stored.metrics.get(key="val/acc").last_value == 0.9
    assert not Run.objects.filter(project=Project.objects.get(owner=owner, team=None, name="resnet")).exists()
    with pytest.raises(Exception, match="RESOURCE_ALREADY_EXISTS"):
        client.create_experiment("vision/resnet")
