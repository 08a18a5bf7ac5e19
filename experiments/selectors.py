"""Who may see what. Every page and API read goes through these, so the rule (today:
a user sees the projects they own) can grow into team memberships in one place."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from experiments.models import Metric, Project, Run


def projects_visible_to(user: AbstractBaseUser) -> QuerySet[Project]:
    return Project.objects.filter(owner=user)


def runs_visible_to(user: AbstractBaseUser) -> QuerySet[Run]:
    return Run.objects.filter(project__in=projects_visible_to(user)).select_related("project")


def run_metrics(run: Run) -> QuerySet[Metric]:
    return Metric.objects.filter(run=run).order_by("key")
