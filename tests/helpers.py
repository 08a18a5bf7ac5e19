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


def stored_points(run_id: int | None = None, key: str | None = None) -> list[tuple]:
    """Every stored point as (key, step, value, wall_time, rank), in insertion order per
    metric, undeduplicated (re-logged steps appear twice): what is on disk, not a read."""
    from experiments.chunks import chunks_read
    from experiments.models import Metric

    metrics = Metric.objects.order_by("pk")
    if run_id is not None:
        metrics = metrics.filter(run_id=run_id)
    if key is not None:
        metrics = metrics.filter(key=key)
    out = []
    for metric in metrics:
        p = chunks_read(metric.pk)
        out += [
            (metric.key, s, v, w, r)
            for s, v, w, r in zip(p.step.tolist(), p.value.tolist(), p.wall_time.tolist(), p.rank.tolist())
        ]
    return out


def stored_state() -> dict:
    """Everything ingestion writes, to prove a rejected request changed nothing."""
    from experiments.models import BatchReceipt, Metric, Run

    return {
        "points": sorted(map(repr, stored_points())),
        "metrics": sorted(
            Metric.objects.values_list("id", "key", "count", "last_value", "min_value", "max_value")
        ),
        "runs": sorted(Run.objects.values_list("id", "status", "points_count", "summary")),
        "receipts": BatchReceipt.objects.count(),
    }


def rejected(response, status: int, field: str | None, *words: str) -> dict:
    """Assert an API refusal: its status, the field it names and the words of its error."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["field"] == field, body
    for word in words:
        assert word in body["error"], body
    return body
