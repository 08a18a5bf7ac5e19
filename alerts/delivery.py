"""Sending one delivery: its message rendered for the destination (signed JSON for a
webhook, ``{"text": ...}`` for Slack / Mattermost, a mail through Django's mail
settings), one attempt logged with the receiver's answer, and whether to try again.

Signature of a webhook: header ``X-Tracker-Signature: sha256=<hex>``, the HMAC-SHA256 of
the exact request body with the destination's secret (verify with ``signature_valid``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from typing import Literal

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from alerts.models import Attempt, Delivery, DeliveryStatus, DestinationKind

Outcome = Literal["sent", "retry", "failed", "skipped"]
EXCERPT = 500
SIGNATURE_HEADER = "X-Tracker-Signature"
LEVEL_ICON = {"info": "ℹ️", "warning": "⚠️", "critical": "🚨"}


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, header: str) -> bool:
    """Whether ``header`` (the ``X-Tracker-Signature`` value) signs ``body``."""
    return hmac.compare_digest(signature(secret, body), header or "")


def text_of(payload: dict) -> str:
    """The message as plain text: title, text, the link, the evidence."""
    lines = [
        f"{LEVEL_ICON.get(payload.get('level'), '')} {payload.get('title', '')}".strip(),
        payload.get("text", ""),
    ]
    if payload.get("url"):
        lines.append(payload["url"])
    evidence = payload.get("evidence") or {}
    if evidence:
        lines.append("Evidence: " + ", ".join(f"{k}={v}" for k, v in evidence.items()))
    return "\n".join(line for line in lines if line)


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str, str]:
    """(status code, response excerpt, error) of one POST; never raises for HTTP trouble."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=settings.ALERTS_HTTP_TIMEOUT) as response:
            return response.status, response.read(EXCERPT).decode("utf-8", "replace"), ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(EXCERPT).decode("utf-8", "replace"), ""
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, "", f"{type(exc).__name__}: {reason}"[:500]


def _send(delivery: Delivery) -> tuple[int | None, str, str]:
    destination = delivery.destination
    payload = delivery.payload
    if destination.kind == DestinationKind.EMAIL:
        recipients = destination.recipients
        if not recipients:
            return None, "", "no e-mail address is set on this destination"
        try:
            sent = send_mail(
                subject=f"[tracker] {payload.get('title', '')}"[:200],
                message=text_of(payload),
                from_email=None,
                recipient_list=recipients,
            )
        except Exception as exc:  # SMTP errors of every kind
            return None, "", f"{type(exc).__name__}: {exc}"[:500]
        return (
            None,
            f"mail accepted for {len(recipients)} recipient(s)" if sent else "",
            "" if sent else "not sent",
        )
    if not destination.url:
        return None, "", "no URL is set on this destination"
    if destination.kind == DestinationKind.SLACK:
        body = json.dumps({"text": text_of(payload)}).encode()
        headers = {"Content-Type": "application/json"}
    else:
        body = json.dumps({**payload, "delivery": delivery.pk, "sent_at": time.time()}).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "tracker-alerts",
            "X-Tracker-Delivery": str(delivery.pk),
            SIGNATURE_HEADER: signature(destination.secret, body),
        }
    return _post(destination.url, body, headers)


def delivery_attempt(delivery_id: int, *, final: bool) -> Outcome:
    """One try of a pending delivery, logged as an ``Attempt``. 2xx (or a mail accepted)
    is sent; 5xx, 429 or no answer is worth another try unless ``final``; any other answer
    fails it for good."""
    delivery = Delivery.objects.select_related("destination").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return "skipped"  # a retried task message after it was sent, or a deleted rule
    started = time.perf_counter()
    code, excerpt, error = _send(delivery)
    elapsed = (time.perf_counter() - started) * 1000.0
    is_mail = delivery.destination.kind == DestinationKind.EMAIL
    if (is_mail and not error) or (code is not None and 200 <= code < 300):
        outcome: Outcome = "sent"
    elif code is None or code >= 500 or code == 429:
        outcome = "failed" if final else "retry"
    else:
        outcome = "failed"
    with transaction.atomic():
        number = delivery.attempts + 1
        Attempt.objects.create(
            delivery=delivery,
            number=number,
            status_code=code,
            response_excerpt=excerpt[:EXCERPT],
            error=error,
            duration_ms=elapsed,
        )
        fields = {"attempts": number}
        if outcome == "sent":
            fields |= {"status": DeliveryStatus.SENT, "sent_at": timezone.now()}
        elif outcome == "failed":
            fields |= {"status": DeliveryStatus.FAILED}
        Delivery.objects.filter(pk=delivery.pk).update(**fields)
    return outcome
