"""Stored findings: replacing an analyzer's findings of a run, reading them (with their
dismissals) for the page, the API and the runs table, and dismissing them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from experiments import events
from experiments.diagnostics import causes
from experiments.diagnostics.base import Finding
from experiments.diagnostics.models import Finding as FindingRow
from experiments.diagnostics.models import FindingDismissal, FindingSeverity, RunDiagnosis
from experiments.errors import NotFound
from experiments.jsonvalues import jsonable
from experiments.models import Project, Run

SEVERITIES = [FindingSeverity.CRITICAL, FindingSeverity.WARNING, FindingSeverity.INFO]
_CONTENT = (
    "severity",
    "title",
    "summary",
    "explanation",
    "remedies",
    "evidence",
    "keys",
    "marks",
    "step_start",
    "step_end",
    "score",
)


def json_safe(value: Any) -> Any:
    """Evidence as JSON: numpy scalars as Python numbers, NaN and ±inf as the strings every
    answer spells them with (``experiments.jsonvalues``)."""
    return jsonable(value)


def _as_read(value: Any) -> Any:
    """Evidence as stored, for JSON out: PostgreSQL's jsonb keeps numbers as decimals, so
    a float such as 3.3e31 comes back as an integer wider than 64 bits; make it a float."""
    if isinstance(value, dict):
        return {k: _as_read(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_read(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return float(value)
    return value


def _row_values(finding: Finding, analyzer: str, score: float) -> dict:
    return {
        "analyzer": analyzer,
        "kind": finding.kind,
        "subject": finding.subject[:200],
        "severity": finding.severity,
        "title": finding.title[:200],
        "summary": finding.summary,
        "explanation": finding.explanation,
        "remedies": [str(r) for r in finding.remedies],
        "evidence": json_safe(finding.evidence),
        "keys": [str(k) for k in finding.keys if k],
        "marks": json_safe(finding.marks),
        "step_start": finding.step_start,
        "step_end": finding.step_end,
        "score": score,
    }


def findings_replace(
    *, run: Run, produced: dict[str, list[tuple[Finding, float]]], errors: dict[str, str]
) -> bool:
    """Store each analyzer's new findings of ``run`` in place of its previous ones (a
    finding that keeps firing keeps its row, by fingerprint), note the pass and tell the
    run's pages (a "findings" event). Analyzers absent from ``produced`` (they failed) keep
    theirs. Returns whether any finding changed. The run row is locked, so two passes over
    one run take turns."""
    now = timezone.now()
    changed = False
    with transaction.atomic():
        Run.objects.select_for_update().filter(pk=run.pk).values_list("pk", flat=True).first()
        existing = {
            row.fingerprint: row for row in FindingRow.objects.filter(run=run, analyzer__in=list(produced))
        }
        keep: set[str] = set()
        for analyzer, findings in produced.items():
            for finding, score in findings:
                fingerprint = finding.fingerprint[:300]
                if fingerprint in keep:
                    continue  # one finding per fingerprint and pass: the first wins
                keep.add(fingerprint)
                values = _row_values(finding, analyzer, score)
                row = existing.get(fingerprint)
                if row is None:
                    FindingRow.objects.create(
                        run=run, fingerprint=fingerprint, first_seen_at=now, updated_at=now, **values
                    )
                    changed = True
                elif (
                    any(_as_read(getattr(row, name)) != values[name] for name in _CONTENT)
                    or row.analyzer != analyzer
                ):
                    for name, value in values.items():
                        setattr(row, name, value)
                    row.updated_at = now
                    row.save()
                    changed = True
        stale = [row.pk for fp, row in existing.items() if fp not in keep]
        if stale:
            FindingRow.objects.filter(pk__in=stale).delete()
            changed = True
        RunDiagnosis.objects.update_or_create(
            run=run,
            defaults={
                "diagnosed_at": now,
                "last_step": _last_step(run),
                "run_status": run.status,
                "errors": errors,
            },
        )
        # Every pass says so (at most one per interval per run): the page shows when the
        # run was last checked. ``changed`` tells readers of the findings (the runs table's
        # badges) whether there is anything to fetch.
        counts = severity_counts(findings_of(run, include_dismissed=False))
        events.emit(run, {"type": "findings", "changed": changed, **counts})
    return changed


def _last_step(run: Run) -> int | None:
    from django.db.models import Max

    return run.metrics.aggregate(m=Max("last_step"))["m"]


def findings_of(run: Run, include_dismissed: bool = True) -> QuerySet[FindingRow]:
    """The run's findings, most pressing first, each with ``dismissed`` (bool) and, when
    dismissed, ``dismissal`` fields fetched separately by ``finding_dicts``."""
    dismissed = FindingDismissal.objects.filter(run=OuterRef("run"), fingerprint=OuterRef("fingerprint"))
    rows = FindingRow.objects.filter(run=run).annotate(dismissed=Exists(dismissed))
    if not include_dismissed:
        rows = rows.filter(dismissed=False)
    return rows.order_by("-score", "kind", "subject")


def severity_counts(rows: Iterable[FindingRow]) -> dict:
    """Active findings by severity, one mistake counted once: a consequence folded under
    its root cause (``causes``) is not counted, and its root counts at the worst
    severity of its group."""
    rows = list(rows)
    order, parent = causes.grouped(rows)
    worst = {i: rows[i].severity for i in order if i not in parent}
    for i in parent:
        root = causes.root_of(parent, i)
        if SEVERITIES.index(rows[i].severity) < SEVERITIES.index(worst[root]):
            worst[root] = rows[i].severity
    counts = {str(s): 0 for s in SEVERITIES}
    for severity in worst.values():
        counts[severity] = counts.get(severity, 0) + 1
    return {"counts": counts, "total": sum(counts.values())}


def finding_dict(
    row: FindingRow, dismissal: FindingDismissal | None = None, caused_by: dict | None = None
) -> dict:
    data = {
        "id": row.pk,
        "analyzer": row.analyzer,
        "kind": row.kind,
        "subject": row.subject,
        "severity": row.severity,
        "title": row.title,
        "summary": row.summary,
        "explanation": row.explanation,
        "remedies": row.remedies,
        "evidence": _as_read(row.evidence),
        "keys": row.keys,
        "marks": _as_read(row.marks),
        "step_start": row.step_start,
        "step_end": row.step_end,
        "score": row.score,
        "first_seen_at": row.first_seen_at,
        "updated_at": row.updated_at,
        "dismissed": bool(getattr(row, "dismissed", dismissal is not None)),
        "dismissed_at": None,
        "dismissed_by": None,
        "dismiss_note": "",
        "caused_by": caused_by,
    }
    if dismissal is not None:
        data |= {
            "dismissed": True,
            "dismissed_at": dismissal.dismissed_at,
            "dismissed_by": dismissal.dismissed_by.get_username() if dismissal.dismissed_by else None,
            "dismiss_note": dismissal.note,
        }
    return data


def next_steps(rows: list[FindingRow], limit: int = 3, folded: set[int] | None = None) -> list[dict]:
    """The "what to try next" list: the first remedy of the most pressing findings, one per kind,
    in the order given (most pressing first), leaving out consequences (pks in ``folded``):
    their cause's remedy is the one to try."""
    out, kinds = [], set()
    for row in rows:
        if getattr(row, "dismissed", False) or row.kind in kinds or not row.remedies:
            continue
        if folded and row.pk in folded:
            continue
        kinds.add(row.kind)
        out.append(
            {"finding": row.pk, "severity": row.severity, "title": row.title, "action": row.remedies[0]}
        )
        if len(out) == limit:
            break
    return out


def _caused_by(cause: FindingRow, effect: FindingRow, root: FindingRow) -> dict:
    rule = causes.explains(cause, effect)
    return {
        "id": cause.pk,
        "kind": cause.kind,
        "title": cause.title,
        "why": rule.why if rule else "",
        "root": root.pk,
    }


def run_health(run: Run) -> dict:
    """Everything the Health panel and ``GET /runs/{id}/findings`` show. Active findings
    come grouped by root cause (``causes``): each root, then the findings it explains,
    each of those with ``caused_by``; dismissed findings last."""
    rows = list(findings_of(run))
    dismissals = {
        d.fingerprint: d for d in FindingDismissal.objects.filter(run=run).select_related("dismissed_by")
    }
    diagnosis = RunDiagnosis.objects.filter(run=run).first()
    active = [r for r in rows if not r.dismissed]
    order, parent = causes.grouped(active)
    linked = {
        active[i].pk: _caused_by(active[j], active[i], active[causes.root_of(parent, i)])
        for i, j in parent.items()
    }
    ordered = [active[i] for i in order] + [r for r in rows if r.dismissed]
    return {
        "run": run.pk,
        "status": run.status,
        "diagnosed_at": diagnosis.diagnosed_at if diagnosis else None,
        "diagnosed_step": diagnosis.last_step if diagnosis else None,
        "analyzer_errors": diagnosis.errors if diagnosis else {},
        **severity_counts(active),
        "folded": len(parent),
        "dismissed": len(rows) - len(active),
        "next": next_steps([active[i] for i in order], folded=set(linked)),
        "findings": [
            finding_dict(r, dismissals.get(r.fingerprint) if r.dismissed else None, linked.get(r.pk))
            for r in ordered
        ],
    }


@transaction.atomic
def finding_dismiss(
    *, run: Run, finding_id: int, user: AbstractBaseUser | None, dismissed: bool = True, note: str = ""
) -> dict:
    """Dismiss (or restore) a finding of ``run``; the dismissal holds for every later pass."""
    row = FindingRow.objects.filter(run=run, pk=finding_id).first()
    if row is None:
        raise NotFound(f"run {run.pk} has no finding {finding_id}", "finding")
    dismissal = None
    if dismissed:
        dismissal, _ = FindingDismissal.objects.update_or_create(
            run=run,
            fingerprint=row.fingerprint,
            defaults={"dismissed_by": user, "dismissed_at": timezone.now(), "note": note[:2000]},
        )
    else:
        FindingDismissal.objects.filter(run=run, fingerprint=row.fingerprint).delete()
    row.dismissed = dismissed
    events.emit(
        run,
        {"type": "findings", "changed": True, **severity_counts(findings_of(run, include_dismissed=False))},
    )
    return finding_dict(row, dismissal)


def project_health(project: Project, run_ids: list[int] | None = None) -> dict[int, dict]:
    """Per run of ``project`` with active findings: counts by severity, the worst severity
    and the titles, most pressing first (for the runs table's badges), each mistake once:
    consequences folded under their root cause (``causes``). One query."""
    dismissed = FindingDismissal.objects.filter(run=OuterRef("run"), fingerprint=OuterRef("fingerprint"))
    rows = (
        FindingRow.objects.filter(run__project=project)
        .annotate(dismissed=Exists(dismissed))
        .filter(dismissed=False)
    )
    if run_ids is not None:
        rows = rows.filter(run_id__in=run_ids)
    by_run: dict[int, list[FindingRow]] = {}
    for row in rows.order_by("run_id", "-score", "kind", "subject").only(
        "pk", "run_id", "kind", "severity", "title", "step_start"
    ):
        by_run.setdefault(row.run_id, []).append(row)
    out: dict[int, dict] = {}
    for run_id, found in by_run.items():
        order, parent = causes.grouped(found)
        counts = severity_counts(found)
        worst = next(s for s in SEVERITIES if counts["counts"][s])
        titles = [found[i].title for i in order if i not in parent]
        out[run_id] = {"counts": counts["counts"], "worst": worst, "titles": titles}
    return out
