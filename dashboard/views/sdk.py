"""The SDK served by the server itself: a PEP 503 "simple" index with one wheel, and the
"Log a run" page that shows the install line and the five lines with this server's address.

The index and the wheel need no login: they hold the SDK's code, which is open source and
carries no user data, and ``pip`` cannot sign in. The page itself does need one.
"""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_GET

from dashboard.sdk_wheel import sdk_wheel


def _index_page(title: str, links: list[tuple[str, str]]) -> HttpResponse:
    body = format_html_join("\n", '<a href="{}">{}</a><br>', links)
    html = format_html(
        "<!DOCTYPE html>\n<html><head><title>{}</title></head><body>\n{}\n</body></html>\n", title, body
    )
    return HttpResponse(html, content_type="text/html; charset=utf-8")


@require_GET
def simple_root(request: HttpRequest) -> HttpResponse:
    wheel = sdk_wheel()
    return _index_page("Simple index", [(reverse("sdk-simple-project", args=[wheel.name]), wheel.name)])


@require_GET
def simple_project(request: HttpRequest, name: str) -> HttpResponse:
    wheel = sdk_wheel()
    if name.lower().replace("_", "-") != wheel.name:
        raise Http404(f"this server serves only the {wheel.name!r} package")
    href = f"{reverse('sdk-wheel', args=[wheel.filename])}#sha256={wheel.sha256}"
    return _index_page(f"Links for {wheel.name}", [(href, wheel.filename)])


@require_GET
def wheel_file(request: HttpRequest, filename: str) -> FileResponse:
    wheel = sdk_wheel()
    if filename != wheel.filename:
        raise Http404(f"this server serves {wheel.filename}")
    return FileResponse(wheel.path.open("rb"), as_attachment=True, filename=wheel.filename)


def install_command() -> str:
    """The one line that installs the SDK from this server, at its public address
    (``TRACKER_PUBLIC_URL``: what training machines reach, on any port or behind a proxy)."""
    return f"pip install --index-url {settings.TRACKER_PUBLIC_URL}{reverse('sdk-simple')} tracker"


@login_required
def start_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "start.html",
        {
            "server": settings.TRACKER_PUBLIC_URL,
            "install": install_command(),
            "version": sdk_wheel().version,
            "username": request.user.get_username(),
        },
    )
