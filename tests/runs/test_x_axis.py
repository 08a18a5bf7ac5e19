"""The run page's x-axis (issue #16): a logged counter (tokens, epoch) as the x-axis, each
point placed at that counter's value at its step (interpolated between the counter's
own steps), and a logarithmic x-axis; both kept across reloads."""

import pytest

from experiments.models import Project, Run
from tests.browser import chart_traces, log, login

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_counter_as_the_x_axis_and_log_x(page, server, owner, api_key):
    run = Run.objects.create(project=Project.objects.create(owner=owner, name="xs"), name="counted")
    rows = []
    for step in range(1, 41):
        values = {"train/loss": 1.0 / step}
        if step % 4 == 0:  # the counter is logged every 4th step only
            values["tokens"] = 512.0 * step
        rows.append((step, values))
    log(server, api_key, run, rows, seq=0)
    login(page, server, owner, f"/runs/{run.pk}/")
    assert chart_traces(page, "loss")["train/loss"]["x"][:3] == [1, 2, 3]
    options = page.eval_on_selector_all("#x-axis option", "els => els.map(e => e.value)")
    assert "metric:tokens" in options and "metric:train/loss" not in options
    page.select_option("#x-axis", "metric:tokens")
    page.wait_for_function(
        "() => document.querySelector(\"[data-chart='loss'] .chart\").layout.xaxis.title.text === 'tokens'"
    )
    page.wait_for_function(
        "() => document.querySelector(\"[data-chart='loss'] .chart\").data[0].x.includes(2048 * 1.5)"
    )
    x = chart_traces(page, "loss")["train/loss"]["x"]
    # Steps 1-3 come before the counter's first value (step 4): no x, not drawn.
    assert x[:3] == [None, None, None]
    assert x[3] == 2048.0 and x[39] == 512.0 * 40
    assert x[4] == pytest.approx(512.0 * 5)  # step 5, between the counter's steps 4 and 8
    page.check("#log-x")
    page.wait_for_function(
        "() => document.querySelector(\"[data-chart='loss'] .chart\").layout.xaxis.type === 'log'"
    )
    page.reload()  # the choice is kept
    page.wait_for_function(
        "() => document.querySelector(\"[data-chart='loss'] .chart\")?.layout?.xaxis.title.text === 'tokens'"
    )
    assert page.is_checked("#log-x")
    assert page.errors == []
