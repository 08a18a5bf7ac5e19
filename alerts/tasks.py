"""Celery tasks of alerts: sending a delivery (with retries and exponential back-off) and
the periodic stalled-run check (``CELERY_BEAT_SCHEDULE``)."""

from celery import shared_task
from django.conf import settings

from alerts import services
from alerts.delivery import delivery_attempt


@shared_task(bind=True, name="alerts.tasks.deliver", acks_late=True, soft_time_limit=60, time_limit=90)
def deliver(self, delivery_id: int) -> str:
    """Try a delivery; on 5xx / 429 / no answer, again after ALERTS_RETRY_BACKOFF x 2^n s,
    ALERTS_MAX_RETRIES times, then it is failed. Each try is in the delivery log."""
    final = self.request.retries >= settings.ALERTS_MAX_RETRIES
    outcome = delivery_attempt(delivery_id, final=final)
    if outcome == "retry":
        countdown = settings.ALERTS_RETRY_BACKOFF * (2**self.request.retries)
        raise self.retry(countdown=countdown, max_retries=settings.ALERTS_MAX_RETRIES)
    return outcome


@shared_task(name="alerts.tasks.runs_check_stalled", acks_late=True, soft_time_limit=50, time_limit=60)
def runs_check_stalled() -> int:
    return services.runs_check_stalled()
