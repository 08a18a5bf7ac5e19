"""Sweeps run code on the workers, so: only modules the operator lists, only users who
were granted it, and the trial process never sees the server's secrets (issue #10,
finding 1: ``joblib.testing:check_subprocess_call`` ran ``sh -c`` on a worker)."""

import json
import sys

import pytest
from django.contrib.auth.models import Group, Permission

import tracker
from experiments.models import ApiKey, Project, Run
from tests.helpers import post
from tests.tuning.support import grant_run_sweeps, logs, wait_for
from tuning import conf
from tuning.entrypoints import module_allowed
from tuning.models import Sweep, SweepStatus, Trial, TrialState
from tuning.runner import load_entry_point
from tuning.services import sweep_create
from tuning.supervisor import _child_env

ATTACK = "joblib.testing:check_subprocess_call"
BODY = {
    "project": "digits",
    "entry_point": "examples.train_digits:train",
    "space": {"lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True}},
    "objective": "val/acc",
    "n_trials": 2,
    "start": False,
}


# -- the allowlist -----------------------------------------------------------------------


@pytest.mark.django_db
def test_an_empty_allowlist_allows_no_entry_point_at_all(client, owner, api_key, settings):
    grant_run_sweeps(owner)
    settings.TUNING_ENTRY_POINT_MODULES = []
    for entry_point in (ATTACK, "examples.train_digits:train"):
        response = post(client, "/api/v1/sweeps", {**BODY, "entry_point": entry_point}, api_key)
        assert response.status_code == 400, response.json()
        module = entry_point.partition(":")[0]
        assert response.json() == {
            "error": f"module {module!r} is not allowed: TUNING_ENTRY_POINT_MODULES is empty on this "
            "server, so sweeps may run no code (the operator lists there the modules they may run)",
            "field": "entry_point",
        }
    assert not Sweep.objects.exists() and not Project.objects.exists()


@pytest.mark.django_db
def test_by_default_the_attacks_entry_point_is_refused_naming_the_field_and_the_setting(
    client, owner, api_key, monkeypatch, settings
):
    grant_run_sweeps(owner)  # even for a user who may run sweeps
    settings.TUNING_ENTRY_POINT_MODULES = None  # the operator set nothing
    settings.EMBEDDED = False  # a deployment (DATABASE_URL set): nothing is allowed
    response = post(client, "/api/v1/sweeps", {**BODY, "entry_point": ATTACK}, api_key)
    assert (response.status_code, response.json()["field"]) == (400, "entry_point")
    assert response.json()["error"].startswith(
        "module 'joblib.testing' is not allowed: TUNING_ENTRY_POINT_MODULES is empty on this server"
    )
    settings.EMBEDDED = True  # `make run`: the examples only
    response = post(client, "/api/v1/sweeps", {**BODY, "entry_point": ATTACK}, api_key)
    assert response.json() == {
        "error": "module 'joblib.testing' is not in TUNING_ENTRY_POINT_MODULES (examples)",
        "field": "entry_point",
    }
    assert not Sweep.objects.exists()
    assert post(client, "/api/v1/sweeps", BODY, api_key).status_code == 201


def test_prefixes_match_whole_module_names_only():
    allowed = ["examples", "mylab.train."]
    assert module_allowed("examples", allowed)
    assert module_allowed("examples.train_digits", allowed)
    assert module_allowed("mylab.train.cnn", allowed)
    assert not module_allowed("examples_evil", allowed)
    assert not module_allowed("mylab.trainer", allowed)
    assert not module_allowed("mylab", allowed)
    assert not module_allowed("examples", [])


SETTINGS_OF_A_PROCESS = """
import django, json
django.setup()
from tuning import conf
print(json.dumps(conf.entry_point_modules()))
"""


def entry_point_modules_of_a_process(**env: str | None) -> list[str]:
    """``conf.entry_point_modules()`` in a fresh process whose environment differs from this
    one by ``env`` (None: unset), as the project's settings module reads it at start."""
    import os
    import subprocess

    environ = {**os.environ, "DJANGO_SETTINGS_MODULE": "dashboard.settings"}
    for name, value in env.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    out = subprocess.run(
        [sys.executable, "-c", SETTINGS_OF_A_PROCESS], env=environ, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_unset_the_embedded_default_allows_the_examples_and_a_deployment_nothing(settings):
    settings.TUNING_ENTRY_POINT_MODULES = None  # unset
    settings.EMBEDDED = True  # no DATABASE_URL: `make run`
    assert conf.entry_point_modules() == ["examples"]
    settings.EMBEDDED = False
    assert conf.entry_point_modules() == []
    settings.TUNING_ENTRY_POINT_MODULES = []  # explicitly empty: nothing
    settings.EMBEDDED = True
    assert conf.entry_point_modules() == []


def test_the_settings_module_reads_the_allowlist_from_the_environment():
    assert entry_point_modules_of_a_process(TUNING_ENTRY_POINT_MODULES=None, DATABASE_URL=None) == [
        "examples"
    ]
    deployment = "postgres://tracker@db.invalid:5432/tracker"  # settings only: never connected to
    assert entry_point_modules_of_a_process(TUNING_ENTRY_POINT_MODULES=None, DATABASE_URL=deployment) == []
    assert entry_point_modules_of_a_process(TUNING_ENTRY_POINT_MODULES="", DATABASE_URL=None) == []
    assert entry_point_modules_of_a_process(TUNING_ENTRY_POINT_MODULES="mylab, examples") == [
        "mylab",
        "examples",
    ]


@pytest.mark.django_db
def test_the_admin_form_refuses_an_entry_point_outside_the_allowlist(client, django_user_model, settings):
    settings.TUNING_ENTRY_POINT_MODULES = []
    admin_user = django_user_model.objects.create_superuser("root", password="x")
    client.force_login(admin_user)
    project = Project.objects.create(owner=admin_user, name="digits")
    data = {
        "project": str(project.pk),
        "name": "evil",
        "entry_point": ATTACK,
        "objective": "score",
        "direction": "maximize",
        "config": "{}",
        "sampler": "random",
        "sampler_options": "{}",
        "pruner": "none",
        "pruner_options": "{}",
        "n_trials": "1",
        "parallelism": "1",
        "space-json": '{"x": {"type": "float", "low": 0, "high": 1}}',
        "space-json-initial": "{}",
        "trials-TOTAL_FORMS": "0",
        "trials-INITIAL_FORMS": "0",
    }
    response = client.post("/admin/tuning/sweep/add/", data)
    assert response.status_code == 200
    refused = "module &#x27;joblib.testing&#x27; is not allowed: TUNING_ENTRY_POINT_MODULES is empty"
    assert refused in response.content.decode()
    assert not Sweep.objects.exists()


@pytest.fixture
def no_allowlist(monkeypatch):
    """Server processes started after this fixture have an empty allowlist."""
    monkeypatch.setenv("TUNING_ENTRY_POINT_MODULES", "")


@pytest.mark.django_db(transaction=True)
def test_the_sdk_is_told_which_setting_refused_its_entry_point(no_allowlist, server, owner, api_key):
    grant_run_sweeps(owner)
    with pytest.raises(tracker.RequestFailed) as caught:
        tracker.sweep(
            project="digits",
            entry_point=ATTACK,
            space={"x": {"type": "float", "low": 0, "high": 1}},
            objective="score",
            server=server.url,
            api_key=api_key,
        )
    assert (caught.value.status, caught.value.field) == (400, "entry_point")
    assert "TUNING_ENTRY_POINT_MODULES is empty on this server" in str(caught.value)
    assert not Sweep.objects.exists()


def test_the_trial_process_checks_the_allowlist_before_it_imports_anything(tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "sneaky_training.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n\ndef train(config, run):\n    return 1.0\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        PermissionError, match="module 'sneaky_training' is not in TUNING_ENTRY_POINT_MODULES"
    ):
        load_entry_point("sneaky_training:train", ["examples"])
    assert not marker.exists() and "sneaky_training" not in sys.modules
    assert load_entry_point("sneaky_training:train", ["sneaky_training"])({}, None) == 1.0
    sys.modules.pop("sneaky_training", None)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_refuses_a_stored_sweep_whose_module_the_operator_no_longer_allows(
    owner, sweep_workers, tmp_path
):
    sweep = sweep_create(
        user=owner,
        project="p",
        fields={
            "name": "stored-earlier",
            "entry_point": "tests.tuning.test_entrypoints:steady",
            "objective": "score",
            "direction": "maximize",
            "space": {"x": {"type": "float", "low": 0, "high": 1}},
            "sampler": "random",
            "pruner": "none",
            "n_trials": 3,
        },
    )
    # The operator has since narrowed the list on the workers.
    sweep_workers(1, TUNING_ENTRY_POINT_MODULES="examples")
    wait_for(
        lambda: Sweep.objects.get(pk=sweep.pk).status == SweepStatus.FAILED, 60, "the sweep to fail", tmp_path
    )
    trial = Trial.objects.get(sweep=sweep)
    message = (
        "refused to run 'tests.tuning.test_entrypoints:steady' on this worker: module "
        "'tests.tuning.test_entrypoints' is not in TUNING_ENTRY_POINT_MODULES (examples)"
    )
    assert (trial.state, trial.error, trial.note) == (TrialState.FAILED, message, "entry point refused")
    # Nothing ran: no Optuna trial, no run, no child process.
    assert (trial.number, trial.run_id, trial.child_pid) == (None, None, None)
    sweep.refresh_from_db()
    assert sweep.error == message
    assert not Run.objects.exists()


# -- the trial's environment ---------------------------------------------------------------

SECRETS = {
    "DJANGO_SUPERUSER_PASSWORD": "hunter2-superuser",
    "SECRET_KEY": "server-secret-key-value",
    "DATABASE_URL": "postgres://tracker:db-password@db.internal:5432/tracker",
    "REDIS_URL": "redis://:redis-password@redis.internal:6379/0",
    "CELERY_BROKER_URL": "redis://:broker-password@redis.internal:6379/1",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-value",
    "TRACKER_API_KEY": "trk_the_workers_own_key",
}


def test_the_trial_environment_is_built_from_scratch(monkeypatch, settings, tmp_path):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("MYLAB_DATA", "/data/mylab")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("DJANGO_DEBUG", "1")
    # Listed by the operator: passed on; the server's own settings never, even if listed.
    settings.TUNING_TRIAL_ENV_PASSTHROUGH = ["MYLAB_*", "DJANGO_*", "SECRET_KEY"]
    settings.TRACKER_PUBLIC_URL = "http://tracker.internal:8000"
    env = _child_env("trk_trial_key", tmp_path)

    assert not (set(SECRETS) - {"TRACKER_API_KEY"}) & set(env)
    assert not [name for name, value in env.items() if value in SECRETS.values()]
    assert "DJANGO_DEBUG" not in env and "WANDB_MODE" not in env
    assert env["TRACKER_API_KEY"] == "trk_trial_key"
    assert env["TRACKER_SERVER"] == "http://tracker.internal:8000"
    assert (env["CUDA_VISIBLE_DEVICES"], env["LC_ALL"], env["MYLAB_DATA"]) == ("1", "C.UTF-8", "/data/mylab")
    assert env["PYTHONPATH"].split(":")[0] == str(settings.BASE_DIR)
    assert env["TRACKER_DIR"] == str(tmp_path / "spool")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_trial_run_by_a_real_worker_cannot_read_the_servers_secrets(
    server, owner, api_key, sweep_workers, tmp_path
):
    out = tmp_path / "trial-environ.json"
    planted = {
        "DJANGO_SUPERUSER_PASSWORD": "hunter2-superuser",
        "AWS_SECRET_ACCESS_KEY": "aws-secret-value",
        "TRACKER_API_KEY": api_key,  # a user's key, set on the worker's machine
    }
    (worker,) = sweep_workers(
        1,
        **planted,
        CUDA_VISIBLE_DEVICES="0",
        MYLAB_DATA="/data/mylab",
        TUNING_TRIAL_ENV_PASSTHROUGH="MYLAB_*",
    )
    # The worker's real secrets too: it could not work without them.
    secrets = {**planted, **{n: worker.env[n] for n in ("SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL")}}
    if worker.env.get("REDIS_URL"):
        secrets["REDIS_URL"] = worker.env["REDIS_URL"]
    sweep = sweep_create(
        user=owner,
        project="p",
        fields={
            "name": "env",
            "entry_point": "tests.tuning.test_entrypoints:environ",
            "objective": "score",
            "direction": "maximize",
            "space": {"k": {"type": "categorical", "choices": [1]}},
            "sampler": "grid",
            "pruner": "none",
            "n_trials": 1,
            "config": {"out": str(out)},
        },
    )
    wait_for(lambda: Sweep.objects.get(pk=sweep.pk).status == SweepStatus.FINISHED, 60, "the sweep", tmp_path)
    trial = Trial.objects.get(sweep=sweep)
    assert trial.state == TrialState.COMPLETE, logs(tmp_path)
    seen = json.loads(out.read_text())

    text = json.dumps(seen)
    assert [name for name, value in secrets.items() if value in text] == []
    assert not set(secrets) - {"TRACKER_API_KEY"} & set(seen)
    # What it does get: its own key (revoked now the trial is over), the server, the GPU
    # selection and what the operator listed.
    assert seen["TRACKER_API_KEY"][:10] == ApiKey.objects.get(pk=trial.api_key_id).key_prefix
    assert ApiKey.authenticate(seen["TRACKER_API_KEY"]) is None
    assert (seen["TRACKER_SERVER"], seen["CUDA_VISIBLE_DEVICES"], seen["MYLAB_DATA"]) == (
        server.url,
        "0",
        "/data/mylab",
    )
    ours = {
        "TRACKER_API_KEY",
        "TRACKER_SERVER",
        "TRACKER_DIR",
        "TRACKER_MODE",
        "PYTHONUNBUFFERED",
        "MYLAB_DATA",
    }
    ours |= {"TRACKER_FLUSH_INTERVAL", "TRACKER_HEARTBEAT_INTERVAL"}
    base = set(conf.TRIAL_ENV_BASE)
    assert [n for n in seen if n not in ours | base and not n.startswith("LC_")] == []


# -- who may run sweeps ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_user_without_the_permission_cannot_create_a_sweep_and_nothing_is_stored(
    client, owner, api_key, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as enqueued:
        response = post(client, "/api/v1/sweeps", {**BODY, "start": True}, api_key)
    assert response.status_code == 403
    assert response.json() == {
        "error": "you may not run sweeps: they run code on the workers, which needs the "
        "'tuning.run_sweeps' permission (an administrator grants it)",
        "field": None,
    }
    assert not Sweep.objects.exists() and not Project.objects.exists() and not enqueued


@pytest.mark.django_db
def test_the_permission_comes_from_a_grant_a_group_or_being_a_superuser(client, django_user_model):
    granted = django_user_model.objects.create_user("granted")
    grant_run_sweeps(granted)
    member = django_user_model.objects.create_user("member")
    group = Group.objects.create(name="ml")
    group.permissions.add(Permission.objects.get(codename="run_sweeps"))
    member.groups.add(group)
    root = django_user_model.objects.create_superuser("root", password="x")
    nobody = django_user_model.objects.create_user("nobody")
    for user, status in ((granted, 201), (member, 201), (root, 201), (nobody, 403)):
        key = ApiKey.issue(user, name="t")[1]
        response = post(client, "/api/v1/sweeps", BODY, key)
        assert response.status_code == status, (user, response.json())
    assert sorted(Sweep.objects.values_list("created_by__username", flat=True)) == [
        "granted",
        "member",
        "root",
    ]


@pytest.mark.django_db
def test_starting_or_resuming_needs_the_permission_too(
    client, owner, api_key, django_capture_on_commit_callbacks
):
    grant_run_sweeps(owner)
    sweep_id = post(client, "/api/v1/sweeps", BODY, api_key).json()["id"]
    owner.user_permissions.clear()  # revoked since
    with django_capture_on_commit_callbacks() as enqueued:
        response = post(client, f"/api/v1/sweeps/{sweep_id}/start", {}, api_key)
    assert response.status_code == 403 and "tuning.run_sweeps" in response.json()["error"]
    assert Sweep.objects.get(pk=sweep_id).status == SweepStatus.CREATED and not enqueued
    # Stopping runs nothing: no permission needed.
    assert post(client, f"/api/v1/sweeps/{sweep_id}/stop", {}, api_key).json()["status"] == "stopped"


@pytest.mark.django_db
def test_starting_a_sweep_whose_module_is_no_longer_allowed_is_refused(client, owner, api_key, settings):
    grant_run_sweeps(owner)
    sweep_id = post(client, "/api/v1/sweeps", BODY, api_key).json()["id"]
    settings.TUNING_ENTRY_POINT_MODULES = ["mylab"]
    response = post(client, f"/api/v1/sweeps/{sweep_id}/start", {}, api_key)
    assert response.status_code == 409
    assert response.json() == {
        "error": "module 'examples.train_digits' is not in TUNING_ENTRY_POINT_MODULES (mylab)",
        "field": "entry_point",
    }
    assert Sweep.objects.get(pk=sweep_id).status == SweepStatus.CREATED


@pytest.fixture
def staff_without_run(client, django_user_model):
    """A staff user who may manage sweeps in the admin, but was not granted running code."""
    user = django_user_model.objects.create_user("staff", password="x", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="tuning", codename__in=["add_sweep", "change_sweep", "view_sweep"]
        )
    )
    client.force_login(user)
    return user


@pytest.mark.django_db
def test_staff_without_the_permission_can_neither_add_nor_start_a_sweep_in_the_admin(
    client, staff_without_run, django_capture_on_commit_callbacks
):
    project = Project.objects.create(owner=staff_without_run, name="digits")
    assert client.get("/admin/tuning/sweep/add/").status_code == 403
    assert client.post("/admin/tuning/sweep/add/", {"project": project.pk, "name": "x"}).status_code == 403
    sweep = Sweep.objects.create(
        project=project,
        name="made-by-someone-else",
        entry_point="examples.train_digits:train",
        objective="val/acc",
        space={"lr": {"type": "float", "low": 0.001, "high": 0.1}},
    )
    listing = client.get("/admin/tuning/sweep/").content.decode()
    assert 'value="stop"' in listing and 'value="start"' not in listing and 'value="resume"' not in listing
    with django_capture_on_commit_callbacks() as enqueued:
        client.post("/admin/tuning/sweep/", {"action": "start", "_selected_action": [sweep.pk]})
        response = client.post(f"/admin/tuning/sweep/{sweep.pk}/control/start/", follow=True)
    assert "you may not start sweeps" in response.content.decode()
    assert Sweep.objects.get(pk=sweep.pk).status == SweepStatus.CREATED and not enqueued
    # Nor can they change which code someone else's sweep will run.
    page = client.get(f"/admin/tuning/sweep/{sweep.pk}/change/").content.decode()
    assert 'name="entry_point"' not in page and "examples.train_digits:train" in page
    # And the change form offers them no Start button to click in vain.
    assert 'name="start"' not in page and 'name="resume"' not in page
