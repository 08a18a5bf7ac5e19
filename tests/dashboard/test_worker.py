"""A real Celery worker process runs the tasks that a finished run enqueues."""

import time

import pytest

from experiments.models import Metric
from tests.helpers import post

pytestmark = pytest.mark.django_db(transaction=True)


def test_finishing_a_run_has_the_worker_recompute_its_summaries(client, api_key, celery_worker):
    run_id = post(client, "/api/v1/runs", {"project": "digits"}, api_key).json()["id"]
    rows = [[s, float(s), {"loss": 10.0 - s}] for s in range(10)]
    post(client, f"/api/v1/runs/{run_id}/batches", {"writer": "w", "seq": 0, "rows": rows}, api_key)
    # Step 9 logged again after a resume: the exact summary must use the newer value.
    post(
        client,
        f"/api/v1/runs/{run_id}/batches",
        {"writer": "w", "seq": 1, "rows": [[9, 99.0, {"loss": 4.0}]]},
        api_key,
    )
    assert Metric.objects.get(key="loss").count == 11  # the incremental count includes both rows

    post(client, f"/api/v1/runs/{run_id}/finish", {"status": "finished"}, api_key)

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Metric.objects.get(key="loss").count != 10:
        time.sleep(0.2)
    metric = Metric.objects.get(key="loss")
    assert metric.count == 10, celery_worker.log()
    assert (metric.last_step, metric.last_value) == (9, 4.0)
    assert (metric.min_value, metric.min_step, metric.max_value, metric.max_step) == (2.0, 8, 10.0, 0)
    assert "experiments.tasks.run_finalize" in celery_worker.log()
