"""The hardening glue that settings name: the Content-Security-Policy middleware, the
sign-in throttle's backend, address and lockout page (django-axes does the counting).

The policy itself and every threshold live in ``dashboard/settings.py``.
"""

from __future__ import annotations

import re

from axes.backends import AxesStandaloneBackend
from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render

# A host CSP's host-source grammar accepts: a DNS name or IPv4, with an optional port.
# IPv6 literals ([::1]) are not valid sources; browsers then rely on 'self' alone.
_CSP_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]+)?$")


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, plus this host's websocket origins in ``connect-src``.

    CSP Level 3 lets ``'self'`` match ``ws:``/``wss:`` on the page's own host, but older
    browsers (Safari before 15.4) do not, and would refuse the live updates. Naming the
    host (already checked against ``ALLOWED_HOSTS`` by ``get_host``) covers them without
    allowing websockets to any other host.
    """

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if report_only:
            return parts
        try:
            host = request.get_host()
        except Exception:  # DisallowedHost: Django answers 400 anyway
            return parts
        if _CSP_HOST.match(host):
            parts.update = {**(parts.update or {}), "connect-src": [f"ws://{host}", f"wss://{host}"]}
        return parts


class ThrottledAuthBackend(AxesStandaloneBackend):
    """Refuses a sign-in while its account or address is locked out (django-axes).

    Every sign-in over the network (the login page, the admin's) passes its request, and
    is throttled. A call without one comes from inside the process (a management command,
    a test client's ``login()``): there is no address to count, so it is let through to
    the next backend instead of failing as axes' own backend does.
    """

    def authenticate(self, request: HttpRequest | None, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def client_ip(request: HttpRequest) -> str | None:
    """The address the throttle counts: the connection's, never a header the client sent.

    Behind a proxy, the ASGI server sets it from ``X-Forwarded-For`` for the proxies it
    trusts (uvicorn: ``FORWARDED_ALLOW_IPS``). Reading that header here would let anyone
    pick a fresh address for every guess.
    """
    return request.META.get("REMOTE_ADDR") or None


def lockout_response(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    """The login page again, saying the sign-in is locked and for how long (429)."""
    username = request.POST.get("username", "")
    form = AuthenticationForm(request, initial={"username": username})
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60) if settings.AXES_COOLOFF_TIME else None
    context = {
        "form": form,
        "locked_out": True,
        "cooloff_minutes": minutes,
        "next": request.POST.get("next") or request.GET.get("next", ""),
    }
    return render(request, "registration/login.html", context, status=429)
