"""Forms of the project alerts page (and the admin): a destination, a rule."""

from __future__ import annotations

from django import forms
from django.core.validators import validate_email

from alerts.models import AlertRule, Destination, DestinationKind, Operator, Trigger


class DestinationForm(forms.ModelForm):
    url = forms.URLField(max_length=500, required=False, assume_scheme="https", label="URL")

    class Meta:
        model = Destination
        fields = ("name", "kind", "url", "emails", "enabled")

    def __init__(self, *args, project=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.project = project

    def clean(self) -> dict:
        data = super().clean()
        kind = data.get("kind")
        if kind in (DestinationKind.WEBHOOK, DestinationKind.SLACK) and not data.get("url"):
            self.add_error("url", "a webhook needs the URL to POST to")
        if kind == DestinationKind.EMAIL:
            addresses = [a.strip() for a in (data.get("emails") or "").split(",") if a.strip()]
            if not addresses:
                self.add_error("emails", "e-mail needs at least one address")
            for address in addresses:
                try:
                    validate_email(address)
                except forms.ValidationError:
                    self.add_error("emails", f"{address!r} is not an e-mail address")
        project = self.project or data.get("project") or getattr(self.instance, "project", None)
        name = data.get("name")
        if project is not None and name:
            clash = Destination.objects.filter(project=project, name=name).exclude(pk=self.instance.pk)
            if clash.exists():
                self.add_error("name", f"this project already has a destination named {name!r}")
        return data


class RuleForm(forms.ModelForm):
    class Meta:
        model = AlertRule
        fields = (
            "name",
            "trigger",
            "stalled_minutes",
            "finding_kind",
            "min_level",
            "metric_key",
            "operator",
            "threshold",
            "destinations",
            "cooldown_minutes",
            "enabled",
        )
        widgets = {"destinations": forms.CheckboxSelectMultiple}

    def __init__(self, *args, project=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if project is not None:
            self.fields["destinations"].queryset = Destination.objects.filter(project=project)

    def clean(self) -> dict:
        data = super().clean()
        trigger = data.get("trigger")
        if trigger == Trigger.STALLED and not (data.get("stalled_minutes") or 0) > 0:
            self.add_error("stalled_minutes", "a stalled rule needs the minutes without a new step (> 0)")
        if trigger == Trigger.METRIC:
            if not data.get("metric_key"):
                self.add_error("metric_key", "a metric rule needs the metric's key, e.g. val/acc")
            if not data.get("operator"):
                self.add_error("operator", "a metric rule needs an operator (>=, <=, ..., or is NaN)")
            elif data["operator"] != Operator.NAN and data.get("threshold") is None:
                self.add_error("threshold", f"{data['operator']} needs a threshold")
        if (data.get("cooldown_minutes") or 0) < 0:
            self.add_error("cooldown_minutes", "must be 0 or more")
        project = getattr(self.instance, "project", None) if self.instance.project_id else data.get("project")
        for destination in data.get("destinations") or ():
            if project is not None and destination.project_id != project.pk:
                self.add_error("destinations", f"{destination.name} belongs to another project")
        return data
