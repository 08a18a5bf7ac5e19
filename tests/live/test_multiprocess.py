"""Production shape: two server processes share the Redis channel layer, so a batch
posted to one reaches a websocket connected to the other."""

import json
import os

import pytest
from django.test import Client
from websockets.sync.client import connect

from tests.helpers import post
from tests.processes import ServerProcess, process_env

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (run by `make test` when Redis is up)"
    ),
]


def test_a_batch_posted_to_one_process_reaches_a_websocket_on_another(owner, api_key, tmp_path):
    first = ServerProcess(process_env(), log_path=tmp_path / "first.log")
    second = ServerProcess(process_env(), log_path=tmp_path / "second.log")
    first.start()
    second.start()
    try:
        browser = Client()
        browser.force_login(owner)
        cookie = f"sessionid={browser.cookies['sessionid'].value}"
        run_id = post(Client(), "/api/v1/runs", {"project": "p"}, api_key).json()["id"]

        url = second.url.replace("http://", "ws://") + f"/ws/runs/{run_id}/"
        with connect(url, additional_headers={"Cookie": cookie, "Origin": second.url}, open_timeout=10) as ws:
            import urllib.request

            # Every connection first says the run's status as it is (experiments/consumers.py).
            assert json.loads(ws.recv(timeout=10)) == {"type": "status", "status": "running"}

            body = json.dumps({"writer": "w", "seq": 0, "rows": [[1, 1.0, {"train/loss": 0.5}]]}).encode()
            req = urllib.request.Request(
                f"{first.url}/api/v1/runs/{run_id}/batches",
                data=body,
                headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
            )
            with urllib.request.urlopen(req, timeout=10) as r:
                assert json.loads(r.read())["stored"] == 1
            message = json.loads(ws.recv(timeout=10))
        assert message == {"type": "points", "keys": ["train/loss"]}
    finally:
        first.stop()
        second.stop()
