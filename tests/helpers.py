"""Small helpers for API tests: JSON posting with a key, and stored-state snapshots."""

import gzip
import json
from typing import Any

from django.test import Client


def auth(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def post(client: Client, url: str, data: Any, key: str | None, *, raw: bytes | None = None, **extra):
    body = raw if raw is not None else json.dumps(data).encode()
    headers = auth(key) if key else {}
    return client.post(url, body, content_type="application/json", **headers, **extra)


def post_gzip(client: Client, url: str, data: Any, key: str):
    body = gzip.compress(json.dumps(data).encode())
    return client.post(url, body, content_type="application/json", HTTP_CONTENT_ENCODING="gzip", **auth(key))


def stored_state() -> dict:
    """Everything ingestion writes, to prove a rejected request changed nothing."""
    from experiments.models import BatchReceipt, Metric, Point, Run

    return {
        "points": sorted(Point.objects.values_list("metric_id", "step", "value", "wall_time", "rank")),
        "metrics": sorted(
            Metric.objects.values_list("id", "key", "count", "last_value", "min_value", "max_value")
        ),
        "runs": sorted(Run.objects.values_list("id", "status", "points_count", "summary")),
        "receipts": BatchReceipt.objects.count(),
    }
