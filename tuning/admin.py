"""Sweeps in the admin: create and edit (search space as rows or JSON), start, stop,
resume and delete, live progress in the list, trials inline with links to their runs."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from experiments.admin import PROJECT_FILTER, VisibleToStaff
from experiments.formatting import fmt_duration, fmt_number
from experiments.selectors import ADMIN
from tuning import services
from tuning.errors import SpecError
from tuning.forms import SweepAdminForm
from tuning.models import Sweep, SweepStatus, Trial, error_summary
from tuning.selectors import RUN_SWEEPS, best_trial, user_can_run_sweeps, with_progress

# Fixed once a sweep has trials: changing them would mix incomparable trials in one study.
FROZEN_WHEN_STARTED = (
    "project",
    "entry_point",
    "objective",
    "direction",
    "space",
    "config",
    "sampler",
    "seed",
)


class TrialInline(admin.TabularInline):
    model = Trial
    extra = 0
    can_delete = False
    show_change_link = False
    ordering = ("number", "id")
    fields = (
        "number",
        "state",
        "value_text",
        "params",
        "reports",
        "run_link",
        "duration",
        "peaks",
        "worker",
        "error_details",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="value")
    def value_text(self, trial: Trial) -> str:
        return fmt_number(trial.value)

    @admin.display(description="reports")
    def reports(self, trial: Trial) -> int:
        return len(trial.intermediate or [])

    @admin.display(description="run")
    def run_link(self, trial: Trial) -> str:
        if not trial.run_id:
            return "—"
        return format_html('<a href="{}">run {}</a>', reverse("run", args=[trial.run_id]), trial.run_id)

    @admin.display(description="duration")
    def duration(self, trial: Trial) -> str:
        return fmt_duration(trial.duration_seconds)

    @admin.display(description="peak RSS / GPU")
    def peaks(self, trial: Trial) -> str:
        def mib(v):
            return "—" if v is None else f"{v / 2**20:,.0f} MiB"

        return f"{mib(trial.peak_rss_bytes)} / {mib(trial.peak_gpu_bytes)}"

    @admin.display(description="error")
    def error_details(self, trial: Trial) -> str:
        if not trial.error:
            return trial.note
        summary = error_summary(trial.error, limit=100)
        return format_html(
            '<details><summary>{}</summary><pre style="white-space: pre-wrap">{}</pre></details>',
            summary,
            trial.error,
        )


@admin.register(Sweep)
class SweepAdmin(VisibleToStaff, admin.ModelAdmin):
    form = SweepAdminForm
    list_display = (
        "name",
        "project",
        "status",
        "complete",
        "pruned",
        "failed",
        "running",
        "n_trials",
        "best_value",
        "best_trial_link",
        "created_at",
        "page_link",
    )
    list_filter = ("status", PROJECT_FILTER)
    search_fields = ("name", "project__name", "entry_point")
    inlines = [TrialInline]
    actions = ["start", "stop", "resume"]
    change_list_template = "admin/tuning/sweep/change_list.html"
    change_form_template = "admin/tuning/sweep/change_form.html"
    # Starting, stopping and editing a sweep is for the project's admins (teams.models).
    change_role = ADMIN

    def get_queryset(self, request: HttpRequest):
        return with_progress(super().get_queryset(request).select_related("project"))

    def get_readonly_fields(self, request: HttpRequest, obj: Sweep | None = None):
        if obj is None:
            return ()  # nothing to show before it exists
        base = ("status", "error", "study_name", "created_at", "started_at", "finished_at")
        if obj.started_at is not None:
            return FROZEN_WHEN_STARTED + base
        if not user_can_run_sweeps(request.user):
            # Which code runs is for those who may run code: not changed under someone
            # else's sweep for them to start.
            return ("entry_point", *base)
        return base

    # -- who may run code -------------------------------------------------------------
    def has_run_permission(self, request: HttpRequest) -> bool:
        """Creating, starting and resuming a sweep run its entry point on the workers: for
        users granted ``tuning.run_sweeps`` (the actions' ``permissions=["run"]``)."""
        return self.has_change_permission(request) and user_can_run_sweeps(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and user_can_run_sweeps(request.user)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        # The change form offers Start / Resume only to those who may run code.
        extra = {**(extra_context or {}), "can_run_code": self.has_run_permission(request)}
        return super().change_view(request, object_id, form_url, extra)

    def get_fieldsets(self, request: HttpRequest, obj: Sweep | None = None):
        fieldsets = [
            (
                None,
                {"fields": ("project", "name", "entry_point", "objective", "direction", "space", "config")},
            ),
            (
                "Search",
                {
                    "fields": (
                        "sampler",
                        "sampler_options",
                        "pruner",
                        "pruner_options",
                        "seed",
                        "n_trials",
                        "parallelism",
                    )
                },
            ),
        ]
        if obj is not None:
            state = ("status", "error", "study_name", "created_at", "started_at", "finished_at")
            fieldsets.append(("State", {"fields": state}))
        return fieldsets

    def get_inline_instances(self, request: HttpRequest, obj: Sweep | None = None):
        return super().get_inline_instances(request, obj) if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Sweep, form, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def delete_model(self, request: HttpRequest, obj: Sweep) -> None:
        services.sweep_delete(sweep=obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for sweep in queryset:
            services.sweep_delete(sweep=sweep)

    # -- list columns ---------------------------------------------------------------
    @admin.display(description="complete", ordering="n_complete")
    def complete(self, sweep: Sweep) -> int:
        return sweep.n_complete

    @admin.display(description="pruned", ordering="n_pruned")
    def pruned(self, sweep: Sweep) -> int:
        return sweep.n_pruned

    @admin.display(description="failed", ordering="n_failed")
    def failed(self, sweep: Sweep) -> int:
        return sweep.n_failed

    @admin.display(description="running", ordering="n_running")
    def running(self, sweep: Sweep) -> int:
        return sweep.n_running

    @admin.display(description="best value")
    def best_value(self, sweep: Sweep) -> str:
        best = best_trial(sweep)
        return fmt_number(best.value) if best else "—"

    @admin.display(description="best trial")
    def best_trial_link(self, sweep: Sweep) -> str:
        best = best_trial(sweep)
        if best is None:
            return "—"
        if best.run_id is None:
            return f"#{best.number}"
        return format_html(
            '<a href="{}">#{} (run {})</a>', reverse("run", args=[best.run_id]), best.number, best.run_id
        )

    @admin.display(description="plots")
    def page_link(self, sweep: Sweep) -> str:
        return format_html('<a href="{}">sweep page</a>', reverse("sweep", args=[sweep.pk]))

    # -- actions --------------------------------------------------------------------
    def _each(self, request: HttpRequest, queryset, verb: str, call) -> None:
        done = 0
        for sweep in queryset:
            if not self.has_change_permission(request, sweep):
                self.message_user(
                    request,
                    f"{sweep.name}: only an admin of its project may start, stop or resume it",
                    messages.ERROR,
                )
                continue
            try:
                call(sweep)
                done += 1
            except SpecError as exc:
                self.message_user(request, f"{sweep.name}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"{verb} {done} sweep(s).", messages.SUCCESS)

    @admin.action(description="Start the selected sweeps", permissions=["run"])
    def start(self, request: HttpRequest, queryset) -> None:
        fresh = queryset.filter(status=SweepStatus.CREATED)
        skipped = queryset.exclude(status=SweepStatus.CREATED).count()
        if skipped:
            self.message_user(
                request, f"{skipped} sweep(s) had already started: use Resume.", messages.WARNING
            )
        self._each(request, fresh, "Started", lambda s: services.sweep_start(sweep=s))

    @admin.action(
        description="Stop the selected sweeps (running trials end promptly)", permissions=["change"]
    )
    def stop(self, request: HttpRequest, queryset) -> None:
        self._each(
            request,
            queryset.filter(status__in=[SweepStatus.RUNNING, SweepStatus.CREATED]),
            "Stopped",
            lambda s: services.sweep_stop(sweep=s),
        )

    @admin.action(description="Resume the selected sweeps (up to n_trials)", permissions=["run"])
    def resume(self, request: HttpRequest, queryset) -> None:
        resumable = [SweepStatus.STOPPED, SweepStatus.STOPPING, SweepStatus.FAILED, SweepStatus.FINISHED]
        self._each(
            request, queryset.filter(status__in=resumable), "Resumed", lambda s: services.sweep_start(sweep=s)
        )

    # -- buttons on the change form ---------------------------------------------------
    def get_urls(self):
        own = [
            path(
                "<int:sweep_id>/control/<str:verb>/",
                self.admin_site.admin_view(self.control),
                name="tuning_sweep_control",
            )
        ]
        return own + super().get_urls()

    def control(self, request: HttpRequest, sweep_id: int, verb: str):
        return _control(self, request, sweep_id, verb)

    def changelist_view(self, request: HttpRequest, extra_context=None):
        running = self.get_queryset(request).filter(status__in=[SweepStatus.RUNNING, SweepStatus.STOPPING])
        return super().changelist_view(request, {**(extra_context or {}), "live": running.exists()})


def _control(model_admin: SweepAdmin, request: HttpRequest, sweep_id: int, verb: str):
    """Start / stop / resume one sweep from its change form (POST, CSRF-checked)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not model_admin.has_change_permission(request):
        return HttpResponseRedirect(reverse("admin:index"))
    sweep = get_object_or_404(model_admin.get_queryset(request), pk=sweep_id)
    if not model_admin.has_change_permission(request, sweep):
        messages.error(request, f"{sweep.name}: only an admin of its project may {verb} it.")
        return HttpResponseRedirect(reverse("admin:tuning_sweep_change", args=[sweep_id]))
    call = {"start": services.sweep_start, "resume": services.sweep_start, "stop": services.sweep_stop}.get(
        verb
    )
    if call is None:
        messages.error(request, f"unknown action {verb!r}")
    elif verb != "stop" and not model_admin.has_run_permission(request):
        messages.error(
            request, f"{sweep.name}: you may not {verb} sweeps (needs the {RUN_SWEEPS!r} permission)."
        )
    else:
        try:
            call(sweep=sweep)
            messages.success(request, f"{sweep.name}: {verb} requested.")
        except SpecError as exc:
            messages.error(request, f"{sweep.name}: {exc.message}")
    return HttpResponseRedirect(reverse("admin:tuning_sweep_change", args=[sweep_id]))
