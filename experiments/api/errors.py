"""Django's error views for the whole site, answering in the API's JSON shape
``{"error": ..., "field": ...}`` on API paths (``/api/``) and with Django's own pages
elsewhere. Wired as ``handler400``/``403``/``404``/``500`` in ``dashboard.urls``; Django
calls them when ``DEBUG`` is off (with it on, it shows its debug pages)."""

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404
from django.views import defaults

from experiments.api.http import error_response


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        # The exception's text may name settings or hosts: say only what kind it was.
        return error_response(f"bad request ({type(exception).__name__})", None, 400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return error_response("permission denied", None, 403)
    return defaults.permission_denied(request, exception)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        if isinstance(exception, Resolver404):
            return error_response(f"no API endpoint at {request.path}; see /api/v1/openapi.json", "path", 404)
        return error_response(str(exception) or "not found", None, 404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return error_response("internal server error: the server logged the details", None, 500)
    return defaults.server_error(request)
