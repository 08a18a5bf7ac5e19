"""Helpers for the browser tests (Chromium driven by Playwright against a real uvicorn
server): send data as a client would, log in through the form, read a chart's traces.
The ``browser`` and ``page`` fixtures are in tests/conftest.py."""

import json
import time
import urllib.request

from experiments.models import Run


def api(server, api_key: str, path: str, body: dict) -> dict:
    """POST to the server's JSON API, as the SDK does."""
    request = urllib.request.Request(
        f"{server.url}/api/v1/{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def log(
    server, api_key: str, run: Run, rows: list[tuple[int, dict]], seq: int, t0: float | None = None
) -> None:
    """Send (step, {key: value}) rows through the ingest API, so that the server process
    stores them and publishes the live events, as for a real client."""
    t0 = time.time() if t0 is None else t0
    body = {"writer": "test", "seq": seq, "rows": [[s, t0 + s, values] for s, values in rows]}
    api(server, api_key, f"runs/{run.pk}/batches", body)


def login(page, server, owner, path: str) -> None:
    """Open ``path``, which sends us to the login form, and log in through it."""
    page.goto(server.url + path)
    assert "/accounts/login/" in page.url
    page.fill("input[name=username]", owner.username)
    page.fill("input[name=password]", owner.raw_password)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + path)


def chart_traces(page, chart: str, kind: str = "raw") -> dict[str, dict]:
    """The plotted traces of one chart, read back from the Plotly div: {key: {x, y}}.

    The run page builds a card, and fetches its data, only near the viewport: while the
    card is not there the page is scrolled down, then the card is brought into view."""
    page.wait_for_function(
        """name => {
            const card = document.querySelector(`[data-chart='${name}']`);
            if (!card) { window.scrollBy(0, window.innerHeight / 2); return false; }
            card.scrollIntoView({block: "nearest"});
            const el = card.querySelector(".chart");
            return el && el.data && el.data.length > 0;
        }""",
        arg=chart,
        polling=100,
    )
    traces = page.evaluate(
        """([name, kind]) => document.querySelector(`[data-chart='${name}'] .chart`).data
            .filter(t => t.meta && t.meta.kind === kind)
            .map(t => ({key: t.meta.key, x: Array.from(t.x), y: Array.from(t.y)}))""",
        [chart, kind],
    )
    return {t["key"]: {"x": t["x"], "y": t["y"]} for t in traces}
