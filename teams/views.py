"""Pages of teams and access: API keys, teams (members, roles, invitations, audit log),
joining by invitation, and a project's settings. Views parse, authorise, call one
service, render; a refused change re-renders the page with the message naming the field."""

from __future__ import annotations

from datetime import datetime, time

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.core.mail import send_mail
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from experiments.api.http import checked
from experiments.errors import ApiError
from experiments.models import ApiKey, KeyScope, Visibility
from experiments.selectors import ADMIN, has_role, project_named_or_404, project_role, projects_visible_to
from teams import services
from teams.models import ProjectMember, Role, Team
from teams.selectors import (
    audit_events_for,
    team_at_least,
    team_invitations,
    team_members,
    team_role,
    teams_of,
)


def _error(exc: ApiError) -> str:
    return f"{exc.field}: {exc.message}" if exc.field else exc.message


# --- API keys -------------------------------------------------------------------------


def _expiry(value: str) -> datetime | None:
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise ApiError("must be a date like 2027-01-31", "expires_at") from None
    return timezone.make_aware(datetime.combine(day, time.max))


@login_required
@checked
@require_http_methods(["GET", "POST"])
def keys_page(request: HttpRequest) -> HttpResponse:
    """The user's API keys: make one (shown once), see when and from where each was
    last used, revoke."""
    created, error = None, None
    if request.method == "POST":
        try:
            scope = request.POST.get("scope", KeyScope.READ_WRITE)
            ids = [int(v) for v in request.POST.getlist("projects") if v.isdigit()]
            projects = None
            if request.POST.get("limit") == "on":
                projects = list(projects_visible_to(request.user).filter(pk__in=ids))
                if len(projects) != len(set(ids)):
                    raise ApiError("choose among your projects", "projects")
            key, raw = services.api_key_create(
                user=request.user,
                name=request.POST.get("name", "").strip(),
                scope=scope,
                projects=projects,
                expires_at=_expiry(request.POST.get("expires_at", "").strip()),
            )
            created = {"key": key, "raw": raw}
        except ApiError as exc:
            error = _error(exc)
    keys = (
        ApiKey.objects.filter(user=request.user, internal=False)
        .prefetch_related("projects")
        .order_by("-created_at")
    )
    context = {
        "keys": keys,
        "created": created,
        "error": error,
        "projects": projects_visible_to(request.user).select_related("team").order_by("name"),
        "scopes": KeyScope.choices,
        "now": timezone.now(),
    }
    return render(request, "teams/keys.html", context, status=400 if error else 200)


@login_required
@require_POST
@checked
def key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    try:
        services.api_key_revoke(user=request.user, key_id=key_id)
    except ApiError as exc:
        raise Http404(exc.message) from None
    return HttpResponseRedirect(reverse("keys"))


# --- teams ----------------------------------------------------------------------------


@login_required
@checked
@require_http_methods(["GET", "POST"])
def team_list(request: HttpRequest) -> HttpResponse:
    error = None
    if request.method == "POST":
        try:
            team = services.team_create(
                actor=request.user,
                slug=request.POST.get("slug", "").strip(),
                name=request.POST.get("name", ""),
            )
            return HttpResponseRedirect(reverse("team", args=[team.slug]))
        except ApiError as exc:
            error = _error(exc)
    rows = [(team, team_role(request.user, team)) for team in teams_of(request.user)]
    return render(request, "teams/list.html", {"rows": rows, "error": error}, status=400 if error else 200)


def _visible_team(request: HttpRequest, slug: str) -> Team:
    """A team the user is in (404 otherwise: a team's existence is not revealed)."""
    team = Team.objects.filter(slug=slug, memberships__user=request.user).first()
    if team is None:
        raise Http404(f"no team {slug!r} of yours")
    return team


@login_required
@checked
@require_http_methods(["GET", "POST"])
def team_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """Members and roles; for admins: change roles, remove, invite, the audit log."""
    team = _visible_team(request, slug)
    is_admin = team_at_least(request.user, team, ADMIN)
    error, invite_url = None, None
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "role":
                user = get_object_or_404(get_user_model(), username=request.POST.get("username", ""))
                services.member_set_role(
                    actor=request.user, team=team, user=user, role=request.POST.get("role", "")
                )
            elif action == "remove":
                user = get_object_or_404(get_user_model(), username=request.POST.get("username", ""))
                services.member_remove(actor=request.user, team=team, user=user)
                if user.pk == request.user.pk:
                    return HttpResponseRedirect(reverse("teams"))
            elif action == "invite":
                token = services.invite_make(
                    actor=request.user, team=team, role=request.POST.get("role", "member")
                )
                invite_url = request.build_absolute_uri(reverse("team-join", args=[token]))
                email = request.POST.get("email", "").strip()
                if email and getattr(settings, "EMAIL_HOST", "") and settings.EMAIL_HOST != "localhost":
                    send_mail(
                        f"Join {team.name} on Tracker",
                        f"{request.user.get_username()} invites you to team {team.name}: {invite_url}",
                        None,
                        [email],
                        fail_silently=True,
                    )
            elif action == "revoke-invite":
                raw = request.POST.get("invitation", "")
                if not raw.isdigit():
                    raise ApiError(f"must be an invitation number, not {raw!r}", "invitation")
                services.invite_revoke(actor=request.user, team=team, invitation_id=int(raw))
            else:
                raise ApiError("unknown action", "action")
        except ApiError as exc:
            error = _error(exc)
        if error is None and invite_url is None:
            return HttpResponseRedirect(reverse("team", args=[team.slug]))
    context = {
        "team": team,
        "members": team_members(team),
        "my_role": team_role(request.user, team),
        "is_admin": is_admin,
        "roles": Role.values,
        "projects": team.projects.order_by("name"),
        "events": audit_events_for(team) if is_admin else [],
        "invitations": team_invitations(team) if is_admin else [],
        "error": error,
        "invite_url": invite_url,
        "invite_days": settings.TEAMS_INVITE_MAX_AGE_DAYS,
    }
    return render(request, "teams/detail.html", context, status=400 if error else 200)


@require_http_methods(["GET", "POST"])
@checked
def team_join(request: HttpRequest, token: str) -> HttpResponse:
    """An invitation: a signed-in person joins; a new person creates an account and joins."""
    try:
        team, role = services.invite_read(token)
    except ApiError as exc:
        return render(request, "teams/join.html", {"error": exc.message}, status=exc.status)
    form = UserCreationForm(request.POST or None) if not request.user.is_authenticated else None
    if request.method == "POST":
        try:
            if request.user.is_authenticated:
                services.invite_accept(token=token, user=request.user)
                return HttpResponseRedirect(reverse("team", args=[team.slug]))
            if form.is_valid():
                # One transaction: a link revoked or used meanwhile leaves no account behind.
                with transaction.atomic():
                    user = form.save()
                    services.invite_accept(token=token, user=user)
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                return HttpResponseRedirect(reverse("team", args=[team.slug]))
        except ApiError as exc:
            return render(request, "teams/join.html", {"error": exc.message}, status=exc.status)
    return render(request, "teams/join.html", {"team": team, "role": role, "form": form})


# --- project settings -----------------------------------------------------------------


@login_required
@checked
@require_http_methods(["GET", "POST"])
def project_settings(request: HttpRequest, name: str) -> HttpResponse:
    """Visibility, members (per-project roles) and the danger zone (archive, delete):
    for the project's admins (its owner to delete)."""
    project = project_named_or_404(request.user, name)
    if not has_role(request.user, project, ADMIN):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied(f"only an admin of project {project.name!r} may change its settings")
    error = None
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "visibility":
                services.project_settings_set(
                    actor=request.user, project=project, visibility=request.POST.get("visibility", "")
                )
            elif action == "member":
                role = request.POST.get("role", "") or None
                services.project_member_set(
                    actor=request.user,
                    project=project,
                    username=request.POST.get("username", "").strip(),
                    role=role,
                )
            elif action in ("archive", "unarchive"):
                services.project_archive(actor=request.user, project=project, archived=action == "archive")
            elif action == "delete":
                services.project_delete(
                    actor=request.user, project=project, confirm=request.POST.get("confirm", "")
                )
                return HttpResponseRedirect(reverse("projects"))
            else:
                raise ApiError("unknown action", "action")
            return HttpResponseRedirect(reverse("project-settings", args=[project.ref]))
        except ApiError as exc:
            error = _error(exc)
    context = {
        "project": project,
        "my_role": project_role(request.user, project),
        "visibilities": Visibility.choices,
        "members": ProjectMember.objects.filter(project=project)
        .select_related("user")
        .order_by("user__username"),
        "roles": [Role.ADMIN, Role.MEMBER, Role.VIEWER],
        "error": error,
    }
    return render(request, "teams/project_settings.html", context, status=400 if error else 200)
