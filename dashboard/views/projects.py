"""Projects list and a project's runs table."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from experiments.selectors import projects_visible_to, runs_visible_to


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    projects = projects_visible_to(request.user).order_by("name")
    return render(request, "projects/list.html", {"projects": projects})


@login_required
def project_detail(request: HttpRequest, name: str) -> HttpResponse:
    project = get_object_or_404(projects_visible_to(request.user), name=name)
    runs = runs_visible_to(request.user).filter(project=project).order_by("-created_at")
    return render(request, "projects/detail.html", {"project": project, "runs": runs})
