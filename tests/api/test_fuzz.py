"""A bounded schemathesis run over /api/v1/openapi.json against a real server process:
no input makes the API answer 5xx, and every error answer is in the API's JSON shape.

Every operation is fuzzed with inputs that fit its schema and inputs that do not
(schemathesis's positive and negative modes), once with generated path parameters and
once aimed at real objects (a run with points, media and a checkpoint, its project, a
sweep), so that bodies and queries reach the code behind the lookups. Generation is
derandomized (the same requests every time) and bounded per operation and overall:
``TRACKER_FUZZ_EXAMPLES`` examples per operation, mode and target (default 25), and
``TRACKER_FUZZ_SECONDS`` in all (default 150; what was not reached in time is listed,
and the test does not fail for it).
"""

import hashlib
import os
import time
from collections import Counter

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.helpers import auth, post

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

EXAMPLES = int(os.environ.get("TRACKER_FUZZ_EXAMPLES", "25"))
TIME_CAP = float(os.environ.get("TRACKER_FUZZ_SECONDS", "150"))
SHOWN = 20  # failures printed in full


def _seed(client, api_key: str) -> dict:
    """Real objects for the fuzzer to aim at: path parameter name -> value."""
    run = post(
        client, "/api/v1/runs", {"project": "digits", "config": {"lr": 0.1}, "group": "seeds"}, api_key
    )
    run_id = run.json()["id"]
    other = post(client, "/api/v1/runs", {"project": "digits", "group": "seeds"}, api_key).json()["id"]
    for rid in (run_id, other):
        rows = [[s, 1.0 + s, {"train/loss": 1.0 / (s + 1), "val/acc": s / 10}] for s in range(10)]
        post(client, f"/api/v1/runs/{rid}/batches", {"writer": "w", "seq": 0, "rows": rows}, api_key)
    media = {"uid": "cm", "kind": "confusion_matrix", "name": "val", "step": 9}
    media["data"] = {"labels": ["a", "b"], "matrix": [[3, 1], [0, 4]]}
    post(client, f"/api/v1/runs/{run_id}/media", {"items": [media]}, api_key)
    post(client, "/api/v1/projects/digits/baseline", {"run": other}, api_key)
    body = b"checkpoint bytes"
    query = f"step=9&uid=c1&sha256={hashlib.sha256(body).hexdigest()}"
    checkpoint = client.post(
        f"/api/v1/runs/{run_id}/checkpoints?{query}",
        body,
        content_type="application/octet-stream",
        **auth(api_key),
    ).json()["id"]
    return {"run_id": run_id, "name": "digits", "checkpoint_id": checkpoint, "finding_id": 1, "sweep_id": 1}


def _problem(response: requests.Response) -> str | None:
    """What is wrong with an answer: a 5xx, or an error not in ``{"error", "field"}``."""
    if response.status_code >= 500:
        return "server error"
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            return "error answer is not JSON"
        if not isinstance(body, dict) or set(body) != {"error", "field"}:
            return "error answer is not {error, field}"
    return None


@pytest.mark.django_db(transaction=True)
def test_no_input_makes_the_api_answer_5xx(server, client, owner, api_key):
    from django.contrib.auth.models import Permission

    owner.user_permissions.add(*Permission.objects.filter(codename="run_sweeps"))  # who may run code
    known = _seed(client, api_key)
    # Every request carries the owner's key: inputs are fuzzed, not the credentials
    # (tests/test_api_errors.py covers missing and bad keys).
    config = schemathesis.Config.from_dict({"generation": {"with-security-parameters": False}})
    schema = schemathesis.openapi.from_url(f"{server.url}/api/v1/openapi.json", config=config)
    base_url = f"{server.url}/api/v1"
    operations = sorted((r.ok() for r in schema.get_all_operations()), key=lambda op: op.label)
    session = requests.Session()
    statuses: Counter = Counter()
    failures: list[str] = []
    unreached: list[str] = []
    started = time.monotonic()

    def send(case) -> None:
        response = case.call(
            base_url=base_url, session=session, headers={"Authorization": f"Bearer {api_key}"}
        )
        statuses[response.status_code] += 1
        problem = _problem(response)
        if problem:
            failures.append(
                f"{problem}: {case.as_curl_command()}\n  -> {response.status_code} {response.text[:300]}"
            )

    # Rounds over every operation, real objects first (they reach the most code), so that
    # a time cap cuts every operation short rather than skipping the last ones.
    rounds = [
        (GenerationMode.POSITIVE, True),
        (GenerationMode.NEGATIVE, True),
        (GenerationMode.NEGATIVE, False),
        (GenerationMode.POSITIVE, False),
    ]
    for mode, real in rounds:
        for operation in operations:
            names = {p.name for p in operation.path_parameters}
            if not names and not real:
                continue  # no ids to aim: the first two rounds sent these
            if time.monotonic() - started > TIME_CAP:
                unreached.append(f"{operation.label} ({mode}, {'real' if real else 'generated'} ids)")
                continue
            target = {name: known[name] for name in names} if real else None
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=target)
            fuzz = settings(
                max_examples=EXAMPLES,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],  # no shrinking: every request is recorded
                suppress_health_check=list(HealthCheck),
            )(given(strategy)(send))
            try:
                fuzz()
            except Unsatisfiable:  # nothing in the operation to break (no parameters, no body)
                assert mode == GenerationMode.NEGATIVE, operation.label

    elapsed = time.monotonic() - started
    total = sum(statuses.values())
    summary = (
        f"schemathesis: {total} requests over {len(operations)} operations in {elapsed:.0f}s; "
        f"statuses {dict(sorted(statuses.items()))}; {len(failures)} problems; "
        f"{len(unreached)} runs not reached within {TIME_CAP:.0f}s"
    )
    print(summary)
    if unreached:
        print("not reached:", *unreached, sep="\n  ")
    assert total > 0
    assert not failures, summary + "\n" + "\n".join(failures[:SHOWN])
