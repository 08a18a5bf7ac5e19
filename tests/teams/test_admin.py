"""The admin is no side door (issue #15): staff who are not superusers see the rows of
projects they can see, change them only as members, delete only as admins; another
team's staff member finds nothing. Server bookkeeping tables have no Add and no edit."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from experiments.models import Run
from tests.teams.world import SECRET_RUN, build

pytestmark = pytest.mark.django_db


def _staff(user) -> Client:
    user.is_staff = True
    user.save()
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label__in=["experiments", "tuning"])
    )
    client = Client()
    client.force_login(user)
    return client


def test_staff_change_and_delete_only_as_their_role_allows(django_user_model):
    world = build(django_user_model)
    url = f"/admin/experiments/run/{world.run.pk}/change/"
    viewer, member, admin, outsider = (_staff(world.people[n]) for n in ("vic", "mia", "adam", "otto"))
    # Everyone who can see the project sees the run listed; the outsider does not.
    assert SECRET_RUN in viewer.get("/admin/experiments/run/").content.decode()
    assert SECRET_RUN not in outsider.get("/admin/experiments/run/").content.decode()
    assert outsider.get(url).status_code == 302  # "does not exist": back to the index
    # A viewer's form is read-only and a POST changes nothing.
    page = viewer.get(url).content.decode()
    assert 'name="_save"' not in page
    assert viewer.post(url, {"name": "renamed"}).status_code == 403
    assert Run.objects.get(pk=world.run.pk).name == SECRET_RUN
    # A member may change but not delete; an admin may delete.
    assert 'name="_save"' in member.get(url).content.decode()
    assert member.post(f"/admin/experiments/run/{world.run.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin.post(f"/admin/experiments/run/{world.run.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Run.objects.filter(pk=world.run.pk).exists()


def test_bookkeeping_tables_are_read_only_and_trial_keys_are_hidden(django_user_model):
    world = build(django_user_model)
    client = Client()
    superuser = django_user_model.objects.create_superuser("root", password="x")
    client.force_login(superuser)
    for model in ("batchreceipt", "pointchunk"):
        listing = client.get(f"/admin/experiments/{model}/").content.decode()
        assert f"/admin/experiments/{model}/add/" not in listing
        assert client.get(f"/admin/experiments/{model}/add/").status_code == 403
    from experiments.models import ApiKey

    internal, _ = ApiKey.issue(world.people["olivia"], name="sweep 1 trial 0", internal=True)
    keys = client.get("/admin/experiments/apikey/").content.decode()
    assert internal.key_prefix not in keys and "matrix" in keys
