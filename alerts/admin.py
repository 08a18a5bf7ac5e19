"""Alerts in the admin: destinations, rules, the delivery log (read-only, with each
attempt), and data set profiles. Staff see the rows of the projects they may see."""

from django.contrib import admin

from alerts.forms import DestinationForm, RuleForm
from alerts.models import AlertRule, Attempt, DatasetProfile, Delivery, Destination
from experiments.admin import PROJECT_FILTER, VisibleToStaff


class _AdminDestinationForm(DestinationForm):
    class Meta(DestinationForm.Meta):
        fields = ("project", *DestinationForm.Meta.fields)


class _AdminRuleForm(RuleForm):
    class Meta(RuleForm.Meta):
        fields = ("project", *RuleForm.Meta.fields)
        widgets = {}


@admin.register(Destination)
class DestinationAdmin(VisibleToStaff, admin.ModelAdmin):
    form = _AdminDestinationForm
    list_display = ("name", "project", "kind", "url", "emails", "enabled")
    list_filter = (PROJECT_FILTER, "kind", "enabled")


@admin.register(AlertRule)
class AlertRuleAdmin(VisibleToStaff, admin.ModelAdmin):
    form = _AdminRuleForm
    list_display = ("name", "project", "trigger", "describe", "cooldown_minutes", "enabled")
    list_filter = (PROJECT_FILTER, "trigger", "enabled")
    filter_horizontal = ("destinations",)


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    can_delete = False
    readonly_fields = ("number", "at", "status_code", "response_excerpt", "error", "duration_ms")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(VisibleToStaff, admin.ModelAdmin):
    project_lookup = "destination__project"
    list_display = ("created_at", "rule", "destination", "run", "trigger_key", "status", "attempts")
    list_filter = ("status",)
    readonly_fields = (
        "rule",
        "destination",
        "run",
        "trigger_key",
        "payload",
        "status",
        "attempts",
        "note",
        "created_at",
        "sent_at",
    )
    inlines = (AttemptInline,)

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(DatasetProfile)
class DatasetProfileAdmin(VisibleToStaff, admin.ModelAdmin):
    project_lookup = "run__project"
    list_display = ("run", "name", "split", "created_at")
    readonly_fields = ("run", "name", "split", "profile", "created_at")
    exclude = ("hashes",)
