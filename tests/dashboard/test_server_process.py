"""The production entry point (uvicorn + dashboard.asgi) serves the API and static files."""

import http.client
import json
import time
from urllib.parse import urlparse

import pytest

from tests.helpers import stored_points

pytestmark = pytest.mark.django_db(transaction=True)


def request(
    conn: http.client.HTTPConnection, method: str, path: str, key: str, body=None
) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def test_batches_over_one_kept_alive_connection_are_all_stored(server, api_key):
    u = urlparse(server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    status, run = request(conn, "POST", "/api/v1/runs", api_key, {"project": "p"})
    assert status == 201
    for seq in range(20):
        rows = [[seq * 10 + i, time.time(), {"loss": float(seq * 10 + i)}] for i in range(10)]
        status, body = request(
            conn,
            "POST",
            f"/api/v1/runs/{run['id']}/batches",
            api_key,
            {"writer": "w", "seq": seq, "rows": rows},
        )
        assert (status, body["stored"]) == (200, 10)
    status, history = request(conn, "GET", f"/api/v1/runs/{run['id']}/history", api_key)
    assert history["metrics"]["loss"]["value"] == [float(s) for s in range(200)]
    assert len(stored_points()) == 200
    conn.close()


def test_it_serves_plotly_from_static_without_a_cdn(server):
    u = urlparse(server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.request("GET", "/static/vendor/plotly/plotly.min.js")
    response = conn.getresponse()
    body = response.read()
    assert response.status == 200
    assert b"plotly.js v" in body[:500] and len(body) > 1_000_000
