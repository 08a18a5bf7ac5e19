from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from experiments.models import (
    ApiKey,
    Baseline,
    BatchReceipt,
    Checkpoint,
    Media,
    Metric,
    MetricDirectionOverride,
    PointChunk,
    Project,
    Run,
)
from experiments.selectors import ADMIN, MEMBER, OWNER, has_role, projects_visible_to, projects_with_role
from teams.audit import audit_record

# A project filter in a list offers only the projects of the rows the user may see.
PROJECT_FILTER = ("project", admin.RelatedOnlyFieldListFilter)


class VisibleToStaff:
    """A ModelAdmin mixin: staff who are not superusers see, change and pick in forms only
    what their roles allow (``experiments.selectors``), not every user's rows: rows of
    projects they can see; change needs ``change_role`` in the row's project (member;
    an admin for sweeps), delete needs ``delete_role`` (admin).

    Subclasses name the lookup from their model to its ``Project`` (``project_lookup``),
    or override ``visible_rows``. Foreign-key choices follow the related model's own
    admin, so a run's project, a metric's run or a sweep's project offers only visible
    ones (a project: only those where the user has ``change_role``), and a user field
    offers only the user themselves.
    """

    project_lookup = "project"
    change_role = MEMBER
    delete_role = ADMIN

    def visible_rows(self, queryset: QuerySet, user) -> QuerySet:
        return queryset.filter(**{f"{self.project_lookup}__in": projects_visible_to(user)})

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return self.visible_rows(queryset, request.user)

    def project_of(self, obj) -> Project | None:
        """The project a row belongs to (following ``project_lookup``), or None."""
        if isinstance(obj, Project):
            return obj
        for name in self.project_lookup.split("__"):
            obj = getattr(obj, name, None)
        return obj if isinstance(obj, Project) else None

    def _role_allows(self, request: HttpRequest, obj, minimum: str) -> bool:
        if obj is None or request.user.is_superuser:
            return True
        project = self.project_of(obj)
        return project is None or has_role(request.user, project, minimum)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and self._role_allows(request, obj, self.change_role)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and self._role_allows(request, obj, self.delete_role)

    def _visible_choices(self, model, user) -> QuerySet | None:
        if model is get_user_model():
            return model._default_manager.filter(pk=user.pk)
        if model is Project:
            return projects_with_role(user, self.change_role)
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


class InternalTable:
    """A ModelAdmin mixin for the server's own bookkeeping (batch receipts, point chunks):
    a read-only window for finding a row, no Add, no edit, no delete."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Project)
class ProjectAdmin(VisibleToStaff, admin.ModelAdmin):
    list_display = ("name", "owner", "team", "visibility", "archived_at", "created_at")
    search_fields = ("name", "owner__username", "team__slug")
    list_filter = (("owner", admin.RelatedOnlyFieldListFilter), "visibility")
    change_role = ADMIN
    delete_role = OWNER

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

    def delete_model(self, request: HttpRequest, obj: Run) -> None:
        audit_record("run.delete", project=obj.project, target=obj.name, run=obj.pk)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for run in queryset.select_related("project"):
            audit_record("run.delete", project=run.project, target=run.name, run=run.pk)
        super().delete_queryset(request, queryset)

    @admin.action(description="Ask the selected runs to stop (tracker.should_stop() turns true)")
    def request_stop(self, request, queryset) -> None:
        if not request.user.is_superuser:
            queryset = queryset.filter(project__in=projects_with_role(request.user, MEMBER))
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
class PointChunkAdmin(InternalTable, VisibleToStaff, admin.ModelAdmin):
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


@admin.register(BatchReceipt)
class BatchReceiptAdmin(InternalTable, VisibleToStaff, admin.ModelAdmin):
    """Which batches each run stored (the duplicate check's table): read-only."""

    project_lookup = "run__project"

    list_display = ("run", "writer", "seq", "points", "received_at")
    raw_id_fields = ("run",)
    show_full_result_count = False


@admin.register(ApiKey)
class ApiKeyAdmin(VisibleToStaff, admin.ModelAdmin):
    """Keys people made (the keys page, ``manage.py create_api_key``). The short-lived
    keys the server issues to sweep trials are not listed: each dies with its trial."""

    list_display = (
        "key_prefix",
        "user",
        "name",
        "scope",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    list_filter = ("revoked_at", "scope")
    # A key acts as its user: moving it to another user would hand that user's access
    # to whoever holds the key. Issue a new key instead.
    readonly_fields = (
        "user",
        "key_prefix",
        "scope",
        "all_projects",
        "projects",
        "expires_at",
        "created_at",
        "last_used_at",
        "last_used_from",
        "revoked_at",
    )
    fields = ("user", "name", *readonly_fields[1:])
    actions = ["revoke"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(internal=False)

    def visible_rows(self, queryset: QuerySet, user) -> QuerySet:
        return queryset.filter(user=user)  # a key is its user's, whatever the projects

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return admin.ModelAdmin.has_change_permission(self, request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return admin.ModelAdmin.has_delete_permission(self, request, obj)

    def has_add_permission(self, request) -> bool:
        # Keys are shown once at creation: the keys page (/keys/) or `manage.py create_api_key`.
        return False

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset) -> None:
        n = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {n} key(s).", messages.SUCCESS)


# --- Baselines and metric directions (experiments.compare.baselines, experiments.directions)


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
