"""The admin, for staff who are not superusers: they see, open, change and pick only what
the pages let them see (their own projects and what hangs off them, their own API keys),
and a key's owner cannot be changed. Superusers see everything.

Personas: the owner (staff, may view everything), a stranger (staff, may view everything
and change her runs and keys), root (superuser)."""

import time

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from experiments.admin import VisibleToStaff
from experiments.diagnostics.models import AnalyzerSettings, Finding, FindingDismissal, RunDiagnosis
from experiments.models import (
    ApiKey,
    Baseline,
    Checkpoint,
    Media,
    MetricDirectionOverride,
    Project,
    Run,
)
from experiments.payloads import parse_batch
from experiments.services import batch_ingest
from tuning.models import Sweep

pytestmark = pytest.mark.django_db

PROJECT_APPS = ("experiments", "diagnostics", "tuning")


def grant(user, *codenames: str) -> None:
    """Staff with the given permissions; "view_*" is every view permission of our apps."""
    perms = Permission.objects.filter(content_type__app_label__in=PROJECT_APPS)
    wanted = perms.filter(codename__startswith="view_") if "view_*" in codenames else perms.none()
    wanted |= perms.filter(codename__in=[c for c in codenames if c != "view_*"])
    user.user_permissions.add(*wanted)
    user.is_staff = True
    user.save()


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def everything_of(user, name: str) -> dict:
    """One row of every kind the admin lists, in a project of ``user``."""
    project = Project.objects.create(owner=user, name=name)
    run = Run.objects.create(project=project, name=f"{name}-run")
    t0 = time.time()
    batch_ingest(run=run, batch=parse_batch({"writer": "w", "seq": 0, "rows": [[0, t0, {"loss": 1.0}]]}))
    finding = Finding.objects.create(
        run=run,
        analyzer="overfitting",
        kind="overfitting",
        fingerprint="overfitting",
        severity="warning",
        title="Overfitting",
        summary="s",
        explanation="e",
    )
    return {
        "project": project,
        "run": run,
        "key": ApiKey.issue(user, name=name)[0],
        "baseline": Baseline.objects.create(project=project, run=run, label=run.name),
        "direction": MetricDirectionOverride.objects.create(project=project, key="margin", direction="min"),
        "media": Media.objects.create(run=run, kind="histogram", name="grad/w", step=0, uid="m1", data={}),
        "checkpoint": Checkpoint.objects.create(run=run, step=0, uid="c1", sha256="0" * 64, size=1, path="x"),
        "analyzer": AnalyzerSettings.objects.create(project=project, analyzer="overfitting"),
        "finding": finding,
        "dismissal": FindingDismissal.objects.create(run=run, fingerprint=finding.fingerprint),
        "diagnosis": RunDiagnosis.objects.create(run=run),
        "sweep": Sweep.objects.create(
            project=project, name=f"{name}-sweep", objective="loss", entry_point="examples.train_digits:train"
        ),
    }


@pytest.fixture
def owner_staff(owner):
    grant(owner, "view_*")
    return owner


@pytest.fixture
def stranger_staff(stranger):
    grant(stranger, "view_*", "change_run", "change_apikey", "change_sweep")
    return stranger


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", password="root-password-1")


@pytest.fixture
def owners(owner_staff):
    return everything_of(owner_staff, "owners")


def project_admins() -> list[tuple[type, admin.ModelAdmin]]:
    return [
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in PROJECT_APPS
    ]


def changelist(client: Client, model) -> tuple[int, str]:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    response = client.get(url)
    assert response.status_code == 200, url
    return response.context["cl"].result_count, response.content.decode()


def test_every_admin_of_our_apps_follows_the_page_visibility_rules():
    assert project_admins()
    for model, model_admin in project_admins():
        assert isinstance(model_admin, VisibleToStaff), model


def test_staff_see_only_their_own_rows_in_every_list(owners, owner_staff, stranger_staff, root):
    for model, _ in project_admins():
        owner_count, _ = changelist(client_for(owner_staff), model)
        stranger_count, page = changelist(client_for(stranger_staff), model)
        root_count, _ = changelist(client_for(root), model)

        assert owner_count >= 1, model
        assert stranger_count == 0, model
        assert root_count == owner_count, model
        assert "owners" not in page, model  # not even in a filter's choices


def test_a_stranger_with_view_run_does_not_see_the_owners_runs(owners, stranger_staff):
    mine = everything_of(stranger_staff, "mine")
    client = client_for(stranger_staff)

    count, page = changelist(client, Run)

    assert count == 1
    assert "mine-run" in page and "owners-run" not in page
    change = reverse("admin:experiments_run_change", args=[owners["run"].pk])
    assert client.get(change).status_code == 302  # "doesn't exist", back to the index
    assert client.get(reverse("admin:experiments_run_change", args=[mine["run"].pk])).status_code == 200


def test_a_staff_user_cannot_move_her_key_to_another_user(stranger_staff, root):
    key, _ = ApiKey.issue(stranger_staff, name="laptop")
    client = client_for(stranger_staff)
    url = reverse("admin:experiments_apikey_change", args=[key.pk])

    form = client.get(url).content.decode()
    response = client.post(url, {"user": str(root.pk), "name": "renamed"})

    assert 'name="user"' not in form
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.user == stranger_staff and key.name == "renamed"


def test_even_a_superuser_cannot_move_a_key(root, owner):
    key, _ = ApiKey.issue(owner, name="owner's")

    client_for(root).post(
        reverse("admin:experiments_apikey_change", args=[key.pk]), {"user": str(root.pk), "name": "x"}
    )

    key.refresh_from_db()
    assert key.user == owner


def test_a_staff_user_cannot_revoke_another_users_key(owners, stranger_staff):
    client = client_for(stranger_staff)

    client.post(
        reverse("admin:experiments_apikey_changelist"),
        {"action": "revoke", "_selected_action": [str(owners["key"].pk)]},
    )

    owners["key"].refresh_from_db()
    assert owners["key"].revoked_at is None


def test_a_runs_project_can_only_be_one_the_staff_user_sees(owners, stranger_staff):
    mine = everything_of(stranger_staff, "mine")
    client = client_for(stranger_staff)
    url = reverse("admin:experiments_run_change", args=[mine["run"].pk])

    form = client.get(url).context["adminform"].form
    response = client.post(
        url,
        {
            "project": str(owners["project"].pk),
            "name": "moved",
            "status": "running",
            "metrics-TOTAL_FORMS": "0",
            "metrics-INITIAL_FORMS": "0",
        },
    )

    assert list(form.fields["project"].queryset) == [mine["project"]]
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    mine["run"].refresh_from_db()
    assert mine["run"].project == mine["project"] and mine["run"].name == "mine-run"


def test_a_stranger_cannot_start_or_stop_the_owners_sweep(owners, stranger_staff):
    url = reverse("admin:tuning_sweep_control", args=[owners["sweep"].pk, "stop"])

    response = client_for(stranger_staff).post(url)

    assert response.status_code == 404
    owners["sweep"].refresh_from_db()
    assert owners["sweep"].status == "created"
