"""The audit log: who changed what, when, from where (``AuditEvent``).

Services record events (``audit_record``) without knowing the request: the web layer
says who is acting and from which address (``AuditMiddleware`` for pages and the admin,
``experiments.api.http`` for API keys) in context variables, read here. A worker acting
on its own (a sweep's watchdog) is recorded with no actor.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from teams.models import AuditEvent

_actor: contextvars.ContextVar = contextvars.ContextVar("audit_actor", default=None)
_address: contextvars.ContextVar = contextvars.ContextVar("audit_address", default=None)


def client_address(request: HttpRequest) -> str | None:
    """The client's address as this server saw it (``REMOTE_ADDR``; a proxy in front
    should set it, e.g. with uvicorn's ``--proxy-headers``)."""
    return request.META.get("REMOTE_ADDR") or None


def audit_context(*, actor=None, address: str | None = None) -> None:
    """Say who acts, and from where, for the rest of this request (or task)."""
    if actor is not None:
        _actor.set(actor)
    if address is not None:
        _address.set(address)


def audit_record(
    action: str, *, project=None, team=None, target: str = "", actor=None, **detail
) -> AuditEvent:
    """Add one event; ``project`` implies its team. ``actor`` defaults to the request's."""
    actor = actor if actor is not None else _actor.get()
    if isinstance(actor, _LazyUser):
        actor = actor.resolve()
    if actor is not None and not getattr(actor, "pk", None):
        actor = None
    if team is None and project is not None:
        team = project.team
    return AuditEvent.objects.create(
        actor=actor,
        actor_name=actor.get_username() if actor is not None else "(server)",
        action=action,
        team=team,
        project=project,
        target=target[:300],
        detail=detail,
        address=_address.get(),
    )


class AuditMiddleware:
    """Sets the audit context of every request: the signed-in user (an API key's user is
    set by ``experiments.api.http``) and the client's address."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        actor_token = _actor.set(None)
        address_token = _address.set(client_address(request))
        try:
            if hasattr(request, "user"):
                _actor.set(_LazyUser(request))  # evaluated only when an event is recorded
            return self.get_response(request)
        finally:
            _actor.reset(actor_token)
            _address.reset(address_token)


class _LazyUser:
    """The request's user, loaded only if an event is recorded (most requests record none)."""

    def __init__(self, request: HttpRequest) -> None:
        self._request = request

    def resolve(self):
        user = self._request.user
        return user if user.is_authenticated else None
