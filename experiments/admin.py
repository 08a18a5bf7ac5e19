from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from experiments.models import (
    AnalyzerSettings,
    ApiKey,
    Baseline,
    BatchReceipt,
    Checkpoint,
    Finding,
    FindingDismissal,
    Media,
    Metric,
    MetricDirectionOverride,
    PointChunk,
    Project,
    Run,
    RunDiagnosis,
)
from experiments.selectors import projects_visible_to

# A project filter in a list offers only the projects of the rows the user may see.
PROJECT_FILTER = ("project", admin.RelatedOnlyFieldListFilter)


class VisibleToStaff:
    """A ModelAdmin mixin: staff who are not superusers see, change and pick in forms only
    what the pages let them see (``experiments.selectors``), not every user's rows.

    Subclasses name the lookup from their model to its ``Project`` (``project_lookup``),
    or override ``visible_rows``. Foreign-key choices follow the related model's own
    admin, so a run's project, a metric's run or a sweep's project offers only visible
    ones, and a user field offers only the user themselves.
    """

    project_lookup = "project"

    def visible_rows(self, queryset: QuerySet, user) -> QuerySet:
        return queryset.filter(**{f"{self.project_lookup}__in": projects_visible_to(user)})

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return self.visible_rows(queryset, request.user)

    def _visible_choices(self, model, user) -> QuerySet | None:
        if model is get_user_model():
            return model._default_manager.filter(pk=user.pk)
        related_admin = self.admin_site._registry.get(model)
        if isinstance(related_admin, VisibleToStaff):
            return related_admin.visible_rows(model._default_manager.all(), user)
        return None

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if not request.user.is_superuser and "queryset" not in kwargs:
            choices = self._visible_choices(db_field.related_model, request.user)
            if choices is not None:
                kwargs["queryset"] = choices
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Project)
class ProjectAdmin(VisibleToStaff, admin.ModelAdmin):
    list_display = ("name", "owner", "created_at")
    search_fields = ("name", "owner__username")
    list_filter = (("owner", admin.RelatedOnlyFieldListFilter),)

    def visible_rows(self, queryset: QuerySet, user) -> QuerySet:
        return queryset.filter(pk__in=projects_visible_to(user).values("pk"))


class MetricInline(admin.TabularInline):
    model = Metric
    extra = 0
    can_delete = False
    fields = ("key", "count", "last_step", "last_value", "min_value", "max_value", "nonfinite_count")
    readonly_fields = fields


@admin.register(Run)
class RunAdmin(VisibleToStaff, admin.ModelAdmin):
    list_display = (
        "id",
        "name",
        "project",
        "group",
        "status",
        "created_at",
        "points_count",
        "dropped_points",
    )
    list_filter = ("status", PROJECT_FILTER)
    search_fields = ("name", "group", "project__name")
    readonly_fields = ("created_at", "heartbeat_at", "points_count", "dropped_points")
    inlines = [MetricInline]
    actions = ["request_stop"]

    @admin.action(description="Ask the selected runs to stop (tracker.should_stop() turns true)")
    def request_stop(self, request, queryset) -> None:
        n = queryset.update(stop_requested=True)
        self.message_user(request, f"Asked {n} run(s) to stop.", messages.SUCCESS)


@admin.register(Metric)
class MetricAdmin(VisibleToStaff, admin.ModelAdmin):
    project_lookup = "run__project"

    list_display = ("key", "run", "count", "last_step", "last_value", "min_value", "max_value")
    search_fields = ("key", "run__name")
    list_select_related = ("run",)
    raw_id_fields = ("run",)


@admin.register(PointChunk)
class PointChunkAdmin(VisibleToStaff, admin.ModelAdmin):
    """Read-only window on the points table (chunks of up to 256 points of one metric);
    filter by metric id, never list it whole."""

    project_lookup = "metric__run__project"

    list_display = (
        "id",
        "metric_id",
        "rank",
        "step_min",
        "step_max",
        "count",
        "nan_count",
        "value_min",
        "value_max",
    )
    raw_id_fields = ("metric",)
    show_full_result_count = False
    list_per_page = 100

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(BatchReceipt)
class BatchReceiptAdmin(VisibleToStaff, admin.ModelAdmin):
    project_lookup = "run__project"

    list_display = ("run", "writer", "seq", "points", "received_at")
    raw_id_fields = ("run",)
    show_full_result_count = False


@admin.register(ApiKey)
class ApiKeyAdmin(VisibleToStaff, admin.ModelAdmin):
    list_display = ("key_prefix", "user", "name", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    # A key acts as its user: moving it to another user would hand that user's access
    # to whoever holds the key. Issue a new key instead.
    readonly_fields = ("user", "key_prefix", "created_at", "last_used_at", "revoked_at")
    fields = ("user", "name", "key_prefix", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def visible_rows(self, queryset: QuerySet, user) -> QuerySet:
        return queryset.filter(user=user)  # a key is its user's, whatever the projects

    def has_add_permission(self, request) -> bool:
        # Keys are shown once at creation; use `manage.py create_api_key USERNAME`.
        return False

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset) -> None:
        n = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {n} key(s).", messages.SUCCESS)


# --- Baselines and metric directions (experiments.baselines, experiments.directions) ---


@admin.register(Baseline)
class BaselineAdmin(VisibleToStaff, admin.ModelAdmin):
    """Every baseline a project has had; the active one has no "replaced at". Set one
    from a run's page, the API or `python -m tracker baseline set`, which keep the
    one-active rule; editing here is for notes."""

    list_display = ("project", "label", "kind", "run", "group", "set_by", "set_at", "replaced_at")
    list_filter = (PROJECT_FILTER,)
    search_fields = ("label", "group", "project__name")
    raw_id_fields = ("run",)
    readonly_fields = ("project", "run", "group", "label", "set_by", "set_at", "replaced_at")
    fields = ("project", "run", "group", "label", "note", "set_by", "set_at", "replaced_at")

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(MetricDirectionOverride)
class MetricDirectionOverrideAdmin(VisibleToStaff, admin.ModelAdmin):
    """Which way is better for a metric in one project, where its name misleads."""

    list_display = ("project", "key", "direction", "updated_at")
    list_filter = (PROJECT_FILTER, "direction")
    search_fields = ("key", "project__name")


@admin.register(Media)
class MediaAdmin(VisibleToStaff, admin.ModelAdmin):
    """Logged figures: confusion matrices, curves, histograms, model summaries."""

    project_lookup = "run__project"

    list_display = ("run", "kind", "name", "step", "created_at")
    list_filter = ("kind",)
    search_fields = ("name", "run__name", "run__project__name")
    raw_id_fields = ("run",)
    readonly_fields = ("run", "kind", "name", "step", "uid", "data", "created_at")

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Checkpoint)
class CheckpointAdmin(VisibleToStaff, admin.ModelAdmin):
    """Checkpoint files in the artifact store (deleting a row here leaves its file)."""

    project_lookup = "run__project"

    list_display = ("run", "step", "filename", "size", "best_metric", "created_at")
    search_fields = ("filename", "sha256", "run__name", "run__project__name")
    raw_id_fields = ("run",)
    readonly_fields = (
        "run",
        "step",
        "uid",
        "filename",
        "sha256",
        "size",
        "metrics",
        "best_metric",
        "path",
        "created_at",
    )

    def has_add_permission(self, request) -> bool:
        return False


# --- Diagnostics (experiments.diagnostics) ---------------------------------------------


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
