"""The diagnostics admin: per-project analyzer settings (the defaults and what each
threshold means listed under the form), findings (read-only; dismiss in bulk), dismissals
and when each run was last diagnosed. Staff see the rows of the projects they may see
(``experiments.admin.VisibleToStaff``).

These models were the experiments app's before diagnostics became its own app: their
pages also answer under ``/admin/experiments/<model>/``, where they used to be
(``legacy_urls``, included by ``dashboard.urls``)."""

from django import forms
from django.contrib import admin, messages
from django.urls import URLPattern, URLResolver, include, path
from django.utils import timezone

from experiments.admin import PROJECT_FILTER, VisibleToStaff
from experiments.diagnostics.models import AnalyzerSettings, Finding, FindingDismissal, RunDiagnosis


def _analyzer_choices() -> list[tuple[str, str]]:
    from experiments.diagnostics.base import analyzers

    return [(a.name, f"{a.name}: {a.title}") for a in analyzers()]


class AnalyzerSettingsForm(forms.ModelForm):
    analyzer = forms.ChoiceField(choices=_analyzer_choices)
    thresholds = forms.JSONField(
        required=False,
        initial=dict,
        help_text='Only the thresholds to change, e.g. {"patience": 5}; the rest keep their defaults.',
    )

    class Meta:
        model = AnalyzerSettings
        fields = ("project", "analyzer", "enabled", "thresholds")

    def clean(self):
        from experiments.diagnostics.base import validate_thresholds

        data = super().clean()
        if data.get("analyzer"):
            try:
                data["thresholds"] = validate_thresholds(data["analyzer"], data.get("thresholds") or {})
            except ValueError as exc:
                self.add_error("thresholds", str(exc))
        return data


@admin.register(AnalyzerSettings)
class AnalyzerSettingsAdmin(VisibleToStaff, admin.ModelAdmin):
    """A project's thresholds for one analyzer, or the analyzer turned off. The defaults
    and what each threshold means are listed under the form."""

    form = AnalyzerSettingsForm
    list_display = ("project", "analyzer", "enabled", "thresholds", "updated_at")
    list_filter = ("analyzer", "enabled", PROJECT_FILTER)
    search_fields = ("project__name", "analyzer")
    readonly_fields = ("defaults",)

    @admin.display(description="Defaults")
    def defaults(self, obj) -> str:
        from django.utils.html import format_html_join

        from experiments.diagnostics.base import analyzers

        rows = [
            (a.name, name, value, a.threshold_help.get(name, ""))
            for a in analyzers()
            if obj is None or not obj.analyzer or a.name == obj.analyzer
            for name, value in a.thresholds.items()
        ]
        return format_html_join("", "<div><code>{}.{} = {}</code> {}</div>", rows)

    def save_model(self, request, obj, form, change) -> None:
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)


class FindingDismissedFilter(admin.SimpleListFilter):
    title = "dismissed"
    parameter_name = "dismissed"

    def lookups(self, request, model_admin):
        return [("yes", "Dismissed"), ("no", "Active")]

    def queryset(self, request, queryset):
        from django.db.models import Exists, OuterRef

        dismissed = FindingDismissal.objects.filter(run=OuterRef("run"), fingerprint=OuterRef("fingerprint"))
        if self.value() == "yes":
            return queryset.filter(Exists(dismissed))
        if self.value() == "no":
            return queryset.exclude(Exists(dismissed))
        return queryset


@admin.register(Finding)
class FindingAdmin(VisibleToStaff, admin.ModelAdmin):
    """What the analyzers found; each pass replaces a run's findings, so edit nothing
    here: dismiss from the run page or the API, tune thresholds in analyzer settings."""

    project_lookup = "run__project"

    list_display = ("run", "severity", "kind", "subject", "title", "step_start", "step_end", "updated_at")
    list_filter = ("severity", "kind", FindingDismissedFilter)
    search_fields = ("title", "kind", "run__name", "run__project__name")
    list_select_related = ("run",)
    raw_id_fields = ("run",)
    actions = ["dismiss"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Dismiss the selected findings (they stay dismissed on later passes)")
    def dismiss(self, request, queryset) -> None:
        n = 0
        for finding in queryset:
            _, created = FindingDismissal.objects.get_or_create(
                run_id=finding.run_id,
                fingerprint=finding.fingerprint,
                defaults={"dismissed_by": request.user},
            )
            n += created
        self.message_user(request, f"Dismissed {n} finding(s).", messages.SUCCESS)


@admin.register(FindingDismissal)
class FindingDismissalAdmin(VisibleToStaff, admin.ModelAdmin):
    project_lookup = "run__project"

    list_display = ("run", "fingerprint", "dismissed_by", "dismissed_at", "note")
    raw_id_fields = ("run",)
    search_fields = ("fingerprint", "run__name")


@admin.register(RunDiagnosis)
class RunDiagnosisAdmin(VisibleToStaff, admin.ModelAdmin):
    project_lookup = "run__project"

    list_display = ("run", "diagnosed_at", "last_step", "run_status", "errors")
    raw_id_fields = ("run",)

    def has_add_permission(self, request) -> bool:
        return False


def legacy_urls() -> list[URLPattern | URLResolver]:
    """Each model's admin pages under its old app label (``/admin/experiments/finding/``...),
    served by the same model admin as under ``/admin/diagnostics/``."""
    return [
        path(f"{model._meta.model_name}/", include(admin.site.get_model_admin(model).urls))
        for model in (AnalyzerSettings, Finding, FindingDismissal, RunDiagnosis)
    ]
