"""The project alerts page: destinations (with "send test"), rules, and the delivery log
with each attempt's answer."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from alerts import services
from alerts.forms import DestinationForm, RuleForm
from alerts.models import AlertRule, Delivery, DeliveryStatus, Destination
from experiments.api.http import checked
from experiments.selectors import project_named_or_404

LOG_ROWS = 50


@login_required
@checked
def project_alerts(request: HttpRequest, name: str) -> HttpResponse:
    project = project_named_or_404(request.user, name)
    destination_form = DestinationForm(project=project, prefix="d")
    rule_form = RuleForm(project=project, prefix="r")
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action == "add-destination":
            destination_form = DestinationForm(request.POST, project=project, prefix="d")
            if destination_form.is_valid():
                destination = destination_form.save(commit=False)
                destination.project = project
                destination.save()
                messages.success(request, f"Destination {destination.name} added.")
                return redirect("project-alerts", name=project.name)
        elif action == "add-rule":
            rule_form = RuleForm(
                request.POST, project=project, prefix="r", instance=AlertRule(project=project)
            )
            if rule_form.is_valid():
                rule = rule_form.save()
                messages.success(request, f"Rule {rule.name} added.")
                return redirect("project-alerts", name=project.name)
        elif action in ("delete-rule", "toggle-rule"):
            rule = get_object_or_404(AlertRule, project=project, pk=request.POST.get("id") or 0)
            if action == "delete-rule":
                rule.delete()
                messages.success(request, f"Rule {rule.name} deleted.")
            else:
                rule.enabled = not rule.enabled
                rule.save(update_fields=["enabled"])
            return redirect("project-alerts", name=project.name)
        elif action == "delete-destination":
            destination = get_object_or_404(Destination, project=project, pk=request.POST.get("id") or 0)
            destination.delete()
            messages.success(request, f"Destination {destination.name} deleted.")
            return redirect("project-alerts", name=project.name)
        else:
            messages.error(request, f"Unknown action {action!r}.")
    deliveries = (
        Delivery.objects.filter(destination__project=project)
        .select_related("rule", "destination", "run")
        .prefetch_related("attempt_log")
        .order_by("-created_at", "-pk")[:LOG_ROWS]
    )
    context = {
        "project": project,
        "destinations": Destination.objects.filter(project=project).order_by("name"),
        "rules": AlertRule.objects.filter(project=project).prefetch_related("destinations").order_by("name"),
        "deliveries": deliveries,
        "destination_form": destination_form,
        "rule_form": rule_form,
        "statuses": DeliveryStatus,
    }
    return render(request, "alerts/project.html", context, status=400 if request.method == "POST" else 200)


@login_required
@checked
@require_POST
def destination_test(request: HttpRequest, name: str, destination_id: int) -> HttpResponse:
    """Send a test message now and say what the receiver answered."""
    project = project_named_or_404(request.user, name)
    destination = get_object_or_404(Destination, project=project, pk=destination_id)
    delivery = services.destination_test(destination=destination)
    attempt = delivery.attempt_log.order_by("-number").first()
    answer = ""
    if attempt is not None:
        answer = (
            f"HTTP {attempt.status_code}"
            if attempt.status_code is not None
            else (attempt.error or attempt.response_excerpt)
        )
    if delivery.status == DeliveryStatus.SENT:
        messages.success(request, f"Test sent to {destination.name}: {answer or 'accepted'}.")
    else:
        messages.error(request, f"Test to {destination.name} failed: {answer}.")
    return redirect(reverse("project-alerts", args=[project.ref]) + "#log")
