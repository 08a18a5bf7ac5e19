"""Alert rules judged against run events, and the deliveries they create.

``event_evaluate`` runs after a run event commits (``alerts.listeners``), in whichever
process emitted it; ``runs_check_stalled`` runs in Celery beat; ``alert_send`` serves
``tracker.alert``. Each fires rules through ``rule_fire``, which creates one delivery per
destination, at most once per (rule, destination, run, trigger key): the unique
constraint on ``Delivery`` is what keeps a web process and a worker that both see an
event from sending it twice. A delivery within a rule's cooldown of its previous one is
logged as suppressed and never sent. Sending is ``alerts.tasks.deliver`` (Celery, with
retries), enqueued once the delivery has committed.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from alerts.models import (
    LEVEL_ORDER,
    AlertRule,
    Delivery,
    DeliveryStatus,
    Destination,
    Operator,
    Trigger,
)
from experiments.models import Metric, Run, RunStatus

log = logging.getLogger(__name__)

STATUS_TRIGGERS = {
    RunStatus.FINISHED: Trigger.FINISHED,
    RunStatus.FAILED: Trigger.FAILED,
    RunStatus.CRASHED: Trigger.CRASHED,
}
STATUS_LEVEL = {Trigger.FINISHED: "info", Trigger.FAILED: "critical", Trigger.CRASHED: "critical"}
MAX_SERIES_POINTS = 20_000


@dataclass
class Message:
    """What an alert says, whatever carries it (webhook JSON, Slack text, e-mail)."""

    title: str
    text: str
    level: str = "info"
    step: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    anchor: str = ""

    def payload(self, *, rule: AlertRule | None, run: Run | None, trigger_key: str) -> dict[str, Any]:
        url = ""
        if run is not None:
            url = run_url(run.pk, self.step, self.anchor)
        return {
            "title": self.title,
            "text": self.text,
            "level": self.level,
            "trigger": trigger_key,
            "rule": rule.name if rule is not None else None,
            "project": run.project.name if run is not None else (rule.project.name if rule else None),
            "run": {"id": run.pk, "name": run.name, "status": run.status} if run is not None else None,
            "step": self.step,
            "url": url,
            "evidence": _json_safe(self.evidence),
        }


def run_url(run_id: int, step: int | None = None, anchor: str = "") -> str:
    """The run page (``TRACKER_PUBLIC_URL``) at ``step``, e.g. ``.../runs/7/?step=120#health``."""
    url = f"{settings.TRACKER_PUBLIC_URL}/runs/{run_id}/"
    if step is not None:
        url += f"?step={int(step)}"
    return url + (f"#{anchor}" if anchor else "")


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


# --- firing -------------------------------------------------------------------------


def rule_fire(*, rule: AlertRule, run: Run, trigger_key: str, message: Message) -> list[Delivery]:
    """Create the deliveries of ``rule`` for ``run`` and ``trigger_key`` (one per enabled
    destination) unless they exist, and enqueue the sending of each one not suppressed by
    the cooldown. Returns the deliveries this call created."""
    payload = message.payload(rule=rule, run=run, trigger_key=trigger_key)
    created: list[Delivery] = []
    now = timezone.now()
    with transaction.atomic():
        # One firing of a rule at a time (across processes): the cooldown reads the rule's
        # latest delivery and must not race another firing.
        AlertRule.objects.select_for_update().filter(pk=rule.pk).values_list("pk", flat=True).first()
        for destination in rule.destinations.filter(enabled=True):
            if Delivery.objects.filter(
                rule=rule, destination=destination, run=run, trigger_key=trigger_key[:300]
            ).exists():
                continue
            status, note = DeliveryStatus.PENDING, ""
            if rule.cooldown_minutes > 0:
                since = now - timedelta(minutes=rule.cooldown_minutes)
                last = (
                    Delivery.objects.filter(
                        rule=rule,
                        destination=destination,
                        created_at__gte=since,
                        status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENT, DeliveryStatus.FAILED],
                    )
                    .order_by("-created_at")
                    .first()
                )
                if last is not None:
                    status = DeliveryStatus.SUPPRESSED
                    ago = int((now - last.created_at).total_seconds())
                    note = f"cooldown: delivery {last.pk} was {ago}s ago"
            try:
                with transaction.atomic():
                    delivery = Delivery.objects.create(
                        rule=rule,
                        destination=destination,
                        run=run,
                        trigger_key=trigger_key[:300],
                        payload=payload,
                        status=status,
                        note=note,
                        created_at=now,
                    )
            except IntegrityError:
                continue  # another process created it first
            created.append(delivery)
            if status == DeliveryStatus.PENDING:
                transaction.on_commit(lambda pk=delivery.pk: _enqueue(pk))
    return created


def _enqueue(delivery_id: int) -> None:
    # By the task's name: the tasks module calls this one (no import cycle).
    from celery import current_app

    try:
        current_app.send_task("alerts.tasks.deliver", args=[delivery_id])
    except Exception:  # the delivery stays pending, visible in the log
        log.exception("could not enqueue alert delivery %s", delivery_id)


def _rules(project_id: int, trigger: str) -> list[AlertRule]:
    return list(
        AlertRule.objects.filter(project_id=project_id, trigger=trigger, enabled=True).select_related(
            "project"
        )
    )


# --- run events ---------------------------------------------------------------------


def event_evaluate(*, run_id: int, project_id: int, event: dict) -> int:
    """Fire the rules of ``project_id`` that ``event`` of ``run_id`` meets; returns the
    deliveries created."""
    kind = event.get("type")
    if kind == "status":
        trigger = STATUS_TRIGGERS.get(event.get("status"))
        if trigger is None:
            return 0
        rules = _rules(project_id, trigger)
        if not rules:
            return 0
        run = Run.objects.select_related("project").filter(pk=run_id).first()
        if run is None:
            return 0
        return sum(
            len(
                rule_fire(
                    rule=r, run=run, trigger_key=f"status:{trigger}", message=_status_message(run, trigger)
                )
            )
            for r in rules
        )
    if kind == "points":
        keys = set(event.get("keys") or ())
        rules = [r for r in _rules(project_id, Trigger.METRIC) if r.metric_key in keys]
        return sum(_metric_evaluate(rule, run_id) for rule in rules)
    if kind == "findings":
        rules = _rules(project_id, Trigger.FINDING)
        return _findings_evaluate(rules, run_id) if rules else 0
    return 0


def _status_message(run: Run, trigger: str) -> Message:
    last_step = Metric.objects.filter(run=run).aggregate(m=Max("last_step"))["m"]
    verb = {Trigger.FINISHED: "finished", Trigger.FAILED: "failed", Trigger.CRASHED: "crashed"}[trigger]
    text = f"Run {run.name} of {run.project.name} {verb}"
    text += f" at step {last_step}." if last_step is not None else "."
    evidence: dict[str, Any] = {"status": run.status}
    if trigger == Trigger.FAILED and run.error:
        evidence["error"] = run.error.strip().splitlines()[-1][:300]
        text += f" {evidence['error']}"
    if trigger == Trigger.CRASHED:
        text += " Its client went silent (no heartbeat)."
    return Message(
        title=f"{run.name} {verb}", text=text, level=STATUS_LEVEL[trigger], step=last_step, evidence=evidence
    )


def _crossed(op: str, value: float, threshold: float) -> bool:
    return {
        Operator.GE: value >= threshold,
        Operator.GT: value > threshold,
        Operator.LE: value <= threshold,
        Operator.LT: value < threshold,
    }[op]


def metric_trigger_key(rule: AlertRule) -> str:
    if rule.operator == Operator.NAN:
        return f"metric:{rule.metric_key} is nan"
    return f"metric:{rule.metric_key} {rule.operator} {rule.threshold:g}"


def _metric_evaluate(rule: AlertRule, run_id: int) -> int:
    """Fire ``rule`` when its metric's stored extremes say it crossed; the step is the first
    point that did (read from the series only then, and only once per run)."""
    metric = Metric.objects.filter(run_id=run_id, key=rule.metric_key).first()
    if metric is None or not metric.count:
        return 0
    op = rule.operator
    if op == Operator.NAN:
        if not metric.nonfinite_count:
            return 0
    else:
        if rule.threshold is None:
            return 0
        extreme = metric.max_value if op in (Operator.GE, Operator.GT) else metric.min_value
        if extreme is None or not _crossed(op, extreme, rule.threshold):
            return 0
    key = metric_trigger_key(rule)
    if Delivery.objects.filter(rule=rule, run_id=run_id, trigger_key=key).exists():
        return 0
    step, value = _first_crossing(metric, rule)
    run = Run.objects.select_related("project").get(pk=run_id)
    if op == Operator.NAN:
        what = f"{rule.metric_key} is {value}"
    else:
        what = f"{rule.metric_key} = {value:.6g} ({op} {rule.threshold:g})"
    message = Message(
        title=f"{run.name}: {what}",
        text=f"Run {run.name} of {run.project.name}: {what}"
        + (f" at step {step}." if step is not None else "."),
        level="critical" if op == Operator.NAN else "info",
        step=step,
        evidence={"metric": rule.metric_key, "value": value, "step": step, "threshold": rule.threshold},
    )
    return len(rule_fire(rule=rule, run=run, trigger_key=key, message=message))


def _first_crossing(metric: Metric, rule: AlertRule) -> tuple[int | None, Any]:
    from experiments.queries import metric_series

    series = metric_series(metric, MAX_SERIES_POINTS)
    for step, value in zip(series.step, series.value, strict=True):
        if rule.operator == Operator.NAN:
            if not math.isfinite(value):
                return step, str(value)
        elif math.isfinite(value) and _crossed(rule.operator, value, rule.threshold):
            return step, value
    # Extremes kept by the metric row (the series may be a downsampled view).
    if rule.operator == Operator.NAN:
        return None, "NaN"
    if rule.operator in (Operator.GE, Operator.GT):
        return metric.max_step, metric.max_value
    return metric.min_step, metric.min_value


def _findings_evaluate(rules: list[AlertRule], run_id: int) -> int:
    from experiments.diagnostics.store import findings_of

    run = Run.objects.select_related("project").filter(pk=run_id).first()
    if run is None:
        return 0
    rows = list(findings_of(run, include_dismissed=False))
    created = 0
    for rule in rules:
        least = LEVEL_ORDER.get(rule.min_level, 0)
        for row in rows:
            if rule.finding_kind and row.kind != rule.finding_kind:
                continue
            if LEVEL_ORDER.get(row.severity, 0) < least:
                continue
            step = row.step_start if row.step_start is not None else row.step_end
            evidence = dict(row.evidence or {})
            message = Message(
                title=f"{run.name}: {row.title}",
                text=f"{row.summary}" + (f"\nTry: {row.remedies[0]}" if row.remedies else ""),
                level=row.severity,
                step=step,
                evidence={"kind": row.kind, "subject": row.subject, **evidence},
                anchor="health",
            )
            created += len(
                rule_fire(rule=rule, run=run, trigger_key=f"finding:{row.fingerprint}", message=message)
            )
    return created


# --- stalled runs (Celery beat) -----------------------------------------------------


def runs_check_stalled(*, now: float | None = None) -> int:
    """Fire every stalled rule on the running runs of its project whose last new step is
    older than its ``stalled_minutes``; once per run and last step (a run that moves on and
    stalls again alerts again). Returns the deliveries created."""
    now = time.time() if now is None else now
    created = 0
    for rule in AlertRule.objects.filter(
        trigger=Trigger.STALLED, enabled=True, stalled_minutes__gt=0
    ).select_related("project"):
        limit = rule.stalled_minutes * 60.0
        for run in Run.objects.filter(project_id=rule.project_id, status=RunStatus.RUNNING).select_related(
            "project"
        ):
            last = Metric.objects.filter(run=run).aggregate(wall=Max("last_wall_time"), step=Max("last_step"))
            since = last["wall"] if last["wall"] is not None else run.started_at.timestamp()
            if now - since < limit:
                continue
            minutes = (now - since) / 60.0
            step = last["step"]
            message = Message(
                title=f"{run.name} stalled",
                text=f"Run {run.name} of {run.project.name} has logged no new step for {minutes:.0f} min"
                + (f" (last step {step})." if step is not None else " (no step logged yet)."),
                level="warning",
                step=step,
                evidence={"silent_minutes": round(minutes, 1), "last_step": step},
            )
            created += len(rule_fire(rule=rule, run=run, trigger_key=f"stalled:{step}", message=message))
    return created


# --- tracker.alert ------------------------------------------------------------------


def alert_send(*, run: Run, title: str, text: str, level: str, step: int | None) -> list[AlertRule]:
    """``tracker.alert`` from training code: through every enabled ``alert`` rule of the
    run's project at or under ``level``. The same title and text alert once per run.
    Returns the rules it went through (none: nothing is configured to receive it)."""
    rules = [
        r
        for r in _rules(run.project_id, Trigger.ALERT)
        if LEVEL_ORDER[level] >= LEVEL_ORDER.get(r.min_level, 0)
    ]
    digest = hashlib.sha256(f"{title}\0{text}".encode()).hexdigest()[:16]
    message = Message(title=title, text=text, level=level, step=step, evidence={"source": "tracker.alert"})
    for rule in rules:
        rule_fire(rule=rule, run=run, trigger_key=f"alert:{level}:{digest}", message=message)
    return rules


# --- send test ----------------------------------------------------------------------


def destination_test(*, destination: Destination) -> Delivery:
    """A test message to ``destination``, sent now (one attempt, in this process), logged
    like any delivery. Returns it, with its attempt."""
    from alerts.delivery import delivery_attempt

    message = Message(
        title=f"Test alert from {destination.project.name}",
        text=f"This is a test of the alert destination {destination.name!r} "
        f"of project {destination.project.name}.",
        level="info",
    )
    payload = message.payload(rule=None, run=None, trigger_key="test")
    payload["project"] = destination.project.name
    delivery = Delivery.objects.create(
        destination=destination, trigger_key=f"test:{time.time_ns()}", payload=payload
    )
    delivery_attempt(delivery.pk, final=True)
    delivery.refresh_from_db()
    return delivery
