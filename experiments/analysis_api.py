"""``GET /api/v1/projects/NAME/analysis``: the hyperparameter analysis of a project's
runs (``experiments.analysis``); its OpenAPI path is in ``experiments.analysis_openapi``.
Errors have the API's one shape, ``{"error", "field"}``: a filter's message names its
column ("... (at column 12)")."""

from django.http import HttpRequest

from experiments.analysis import project_analysis
from experiments.api.http import api_view
from experiments.errors import NotFound
from experiments.selectors import project_named


@api_view(("GET",), allow_session=True)
def project_analysis_view(request: HttpRequest, user, name: str) -> dict:
    project = project_named(user, name)
    if project is None:
        raise NotFound(f"project {name!r} does not exist or is not yours", "project")
    return project_analysis(user, project, request.GET)
