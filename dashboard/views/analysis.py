"""The hyperparameter analysis page of a project (templates/projects/analysis.html,
static/js/analysis.js) and the JSON its script fetches; the logic is
``experiments.analysis``, shared with ``GET /api/v1/projects/NAME/analysis``."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from experiments.analysis import AGGS, EVALUATORS, QueryError, project_analysis
from experiments.api.http import checked, json_response, page_json
from experiments.selectors import project_named_or_404


@login_required
@checked
def analysis_page(request: HttpRequest, name: str) -> HttpResponse:
    project = project_named_or_404(request.user, name)
    params = request.GET
    page_data = {
        "project": project.ref,
        "dataUrl": reverse("analysis-data", args=[project.ref]),
        "runUrl": reverse("run", args=[0]),
        "q": params.get("q", ""),
        "metric": params.get("metric", ""),
        "agg": params.get("agg", "best"),
        "importance": params.get("importance", "mdi"),
    }
    context = {"project": project, "page_data": page_data, "aggs": AGGS, "evaluators": EVALUATORS}
    return render(request, "projects/analysis.html", context)


@page_json
def analysis_data(request: HttpRequest, name: str):
    project = project_named_or_404(request.user, name)
    try:
        return project_analysis(request.user, project, request.GET)
    except QueryError as error:
        return json_response(error.as_dict(), status=400)
