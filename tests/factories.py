"""Stored objects for tests, made directly in the database (not through the API): a
project of a user, a run in a project, an API key, a sweep. Each takes the fields a test
cares about and fills in the rest."""

from experiments.models import ApiKey, Project, Run


def project(owner, name: str = "digits", **fields) -> Project:
    """The owner's project called ``name``, made on first use."""
    found, _ = Project.objects.get_or_create(owner=owner, name=name, defaults=fields)
    return found


def run(owner, name: str = "run", project: str = "digits", **fields) -> Run:
    """A run called ``name`` in the owner's project ``project`` (made on first use)."""
    return Run.objects.create(project=globals()["project"](owner, project), name=name, **fields)


def api_key(user, name: str = "tests") -> str:
    """A new API key of ``user``: the raw key, as a client sends it."""
    return ApiKey.issue(user, name=name)[1]


def sweep(project: Project, name: str = "s", **fields):
    """A sweep in ``project``; pass ``entry_point``, ``objective``, ``space`` and the rest."""
    from tuning.models import Sweep

    return Sweep.objects.create(project=project, name=name, **fields)
