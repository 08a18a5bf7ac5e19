"""Stored project names no page could route are renamed by a migration (issue #10, 5)."""

import importlib

import pytest
from django.apps import apps

from experiments.models import Project

pytestmark = pytest.mark.django_db

migration = importlib.import_module("experiments.migrations.0009_routable_project_names")


def test_unroutable_names_are_renamed_and_their_pages_open(client, owner):
    Project.objects.create(owner=owner, name="a-b")
    slash = Project.objects.create(owner=owner, name="a/b")
    dots = Project.objects.create(owner=owner, name="..")
    kept = Project.objects.create(owner=owner, name="fine")

    migration.rename_unroutable(apps, None)

    names = {p.pk: p.name for p in Project.objects.all()}
    assert names[slash.pk] == "a-b-2"  # "a-b" was taken
    assert names[dots.pk] == "project--"
    assert names[kept.pk] == "fine"
    client.force_login(owner)
    assert client.get("/").status_code == 200
    assert client.get("/projects/a-b-2/").status_code == 200
