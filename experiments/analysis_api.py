"""``GET /api/v1/projects/NAME/analysis``: the hyperparameter analysis of a project's
runs (``experiments.analysis``); its OpenAPI path is in ``experiments.analysis_openapi``."""

from django.http import HttpRequest

from experiments.analysis import QueryError, project_analysis
from experiments.api.http import api_view, json_response
from experiments.errors import NotFound
from experiments.selectors import project_named


@api_view(("GET",), allow_session=True)
def project_analysis_view(request: HttpRequest, user, name: str):
    project = project_named(user, name)
    if project is None:
        raise NotFound(f"project {name!r} does not exist or is not yours", "project")
    try:
        return project_analysis(user, project, request.GET)
    except QueryError as error:
        # The API's error shape, with the column of the query that is wrong.
        return json_response(error.as_dict(), status=400)
