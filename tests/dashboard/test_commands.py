"""Management commands: API keys and the first-start bootstrap of `make run`."""

import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from experiments.models import ApiKey
from tests.helpers import post
from tests.processes import ROOT, process_env

pytestmark = pytest.mark.django_db


def test_create_api_key_prints_a_working_key_as_its_last_line(transactional_db, owner, client):
    out = subprocess.run(
        [sys.executable, "manage.py", "create_api_key", "owner", "--name", "laptop"],
        cwd=ROOT,
        env=process_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    raw = out.stdout.strip().splitlines()[-1]
    assert raw.startswith("trk_")
    key = ApiKey.objects.get()
    assert (key.user, key.name, key.key_prefix) == (owner, "laptop", raw[:10])
    assert raw not in key.key_hash  # stored hashed only
    assert post(client, "/api/v1/runs", {"project": "p"}, raw).status_code == 201


def test_create_api_key_for_an_unknown_user_says_so():
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        call_command("create_api_key", "nobody")


def test_a_revoked_key_stops_working(owner, client, capsys):
    _, raw = ApiKey.issue(owner)
    call_command("revoke_api_key", raw)
    assert "Revoked" in capsys.readouterr().out
    assert post(client, "/api/v1/runs", {"project": "p"}, raw).status_code == 401


def test_bootstrap_creates_an_admin_with_a_random_password_and_a_key_once(capsys, client):
    call_command("bootstrap")
    first = capsys.readouterr().out
    login_line = next(line for line in first.splitlines() if "Dashboard login" in line)
    password = login_line.split("/")[-1].strip()
    key = next(line for line in first.splitlines() if "API key:" in line).split()[-1]
    assert len(password) >= 12
    assert client.login(username="admin", password=password)
    assert post(client, "/api/v1/runs", {"project": "p"}, key).status_code == 201

    call_command("bootstrap")
    second = capsys.readouterr().out
    assert password not in second and key not in second
    assert ApiKey.objects.count() == 1


def test_bootstrap_passwords_differ_between_installs(django_user_model, capsys):
    call_command("bootstrap")
    first = capsys.readouterr().out
    django_user_model.objects.all().delete()
    call_command("bootstrap")
    second = capsys.readouterr().out

    def password(out: str) -> str:
        return next(line for line in out.splitlines() if "Dashboard login" in line).split("/")[-1].strip()

    assert password(first) != password(second)
