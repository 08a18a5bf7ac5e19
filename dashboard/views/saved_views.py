"""Saved views of the runs table (``experiments.models.SavedView``): members save the
table's state under a name; the view's creator or a project admin deletes it."""

from urllib.parse import parse_qsl, urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_POST

from experiments.api.http import checked
from experiments.models import Project, SavedView
from experiments.selectors import MEMBER, can_admin, project_named_or_404, require_role_page

MAX_NAME = 100
MAX_QUERY = 8_000
# The table's own parameters; anything else in a saved query string is dropped.
TABLE_PARAMS = ("q", "sort", "cols", "c", "m", "s", "group_by", "archived")


def view_url(view: SavedView, project: Project | None = None) -> str:
    """The table's URL with the view's state (``project``: the view's, when already read)."""
    project = project or view.project
    return reverse("project", args=[project.ref]) + (f"?{view.query}" if view.query else "")


def saved_views(user, project: Project, *, admin: bool) -> list[dict]:
    """The project's views for its table page: name, link, whether ``user`` (a project
    admin or not) may delete each."""
    return [
        {
            "id": view.pk,
            "name": view.name,
            "url": view_url(view, project),
            "can_delete": admin or view.created_by_id == user.pk,
        }
        for view in SavedView.objects.filter(project=project)
    ]


def _refuse(message: str) -> HttpResponse:
    return HttpResponse(message, status=400, content_type="text/plain")


@login_required
@require_POST
@checked
def view_save(request: HttpRequest, name: str) -> HttpResponse:
    """Save the table's state (``query``, the page's query string) as ``view`` (a name);
    saving under an existing name replaces that view's state."""
    project = project_named_or_404(request.user, name)
    require_role_page(request.user, project, MEMBER)
    view_name = request.POST.get("view", "").strip()
    if not view_name:
        return _refuse("view: give the view a name")
    if len(view_name) > MAX_NAME:
        return _refuse(f"view: a name has at most {MAX_NAME} characters, got {len(view_name)}")
    raw = request.POST.get("query", "")
    if len(raw) > MAX_QUERY:
        return _refuse(f"query: at most {MAX_QUERY} characters, got {len(raw)}")
    query = urlencode([(k, v) for k, v in parse_qsl(raw.lstrip("?")) if k in TABLE_PARAMS])
    view, created = SavedView.objects.get_or_create(
        project=project, name=view_name, defaults={"query": query, "created_by": request.user}
    )
    if not created:
        view.query = query
        view.save(update_fields=["query"])
    return HttpResponseRedirect(view_url(view, project))


@login_required
@require_POST
@checked
def view_delete(request: HttpRequest, name: str, view_id: int) -> HttpResponse:
    project = project_named_or_404(request.user, name)
    require_role_page(request.user, project, MEMBER)
    view = get_object_or_404(SavedView, project=project, pk=view_id)
    if not (view.created_by_id == request.user.pk or can_admin(request.user, project)):
        raise PermissionDenied("only the view's author or a project admin may delete it")
    view.delete()
    return HttpResponseRedirect(reverse("project", args=[project.ref]))
