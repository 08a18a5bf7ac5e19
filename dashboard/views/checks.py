"""The API's request checks for pages: path ids past 64 bits and names or query values
holding a NUL name nothing that exists (PostgreSQL cannot even compare with a NUL), and
a query or form value holding one is refused, so a page answers 404 or 400 before it
reads anything."""

import functools
from collections.abc import Callable
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest

from experiments.api.decorators import check_fields, check_request, error_response
from experiments.errors import ApiError, NotFound


def checked(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        try:
            check_request(request, kwargs)
            if request.method == "POST":
                check_fields(request.POST, "form field")
        except NotFound as exc:
            raise Http404(exc.message) from None
        except ApiError as exc:
            if request.path.endswith(".json"):  # what page scripts fetch: the API's shape
                return error_response(exc.message, exc.field, exc.status)
            return HttpResponseBadRequest(f"{exc.field}: {exc.message}", content_type="text/plain")
        return view(request, **kwargs)

    return wrapper
