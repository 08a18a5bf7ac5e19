"""Text series (issue #12, finding 5): strings logged with ``tracker.log`` travel as media
items of kind ``text`` (``{"value": text}``, ``name`` = the key), are validated like every
input (no NUL, at most TRACKER_MAX_TEXT_LENGTH characters) and shown on the run page's
Text section: per key, the latest value and the (step, value) table, newest first."""

import pytest
from django.test import override_settings

from experiments.media.items import media_store, parse_media
from experiments.models import Media
from tests import factories
from tests.helpers import post


@pytest.fixture
def run(owner):
    return factories.run(owner, "r")


def text_item(uid="t0", name="sample", step=0, value="hello"):
    return {"uid": uid, "kind": "text", "name": name, "step": step, "data": {"value": value}}


def media_url(run) -> str:
    return f"/api/v1/runs/{run.pk}/media"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a\x00b", "NUL"),
        (5, "must be a string"),
        ("x" * 51, "TRACKER_MAX_TEXT_LENGTH"),
    ],
)
@override_settings(TRACKER_MAX_TEXT_LENGTH=50)
def test_bad_text_is_refused_naming_the_field_and_the_limit(client, run, api_key, value, message):
    body = {"items": [text_item(), text_item("t1", value=value)]}
    response = post(client, media_url(run), body, api_key)
    assert response.status_code == 400
    assert response.json()["field"] == "items[1].data.value"
    assert message in response.json()["error"]
    assert not Media.objects.exists()


@pytest.mark.django_db
def test_the_run_page_shows_each_key_latest_value_and_its_table(client, run, owner, stranger):
    values = [(0, "first"), (5, "a <script>alert(1)</script>"), (9, "last line\nsecond line")]
    items = [text_item(f"s{step}", "eval/sample", step, value) for step, value in values]
    items.append(text_item("n0", "note", 2, "only one"))
    media_store(run=run, items=parse_media({"items": items}))

    client.force_login(owner)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    section = page.split('id="text-section"', 1)[1].split("</section>\n  </section>", 1)[0]
    assert section.index("eval/sample") < section.index("note")
    assert '<pre class="text-latest">last line\nsecond line</pre>' in section
    assert "a &lt;script&gt;alert(1)&lt;/script&gt;" in section and "<script>" not in section
    rows = section.split('data-text-key="eval/sample"')[1].split("data-text-key")[0]
    assert rows.index(">9<") < rows.index(">5<") < rows.index(">0<")  # newest first
    assert "latest at step 2" in section

    index = client.get(f"/runs/{run.pk}/media.json").json()["media"]["text"]
    assert index == {"eval/sample": 3, "note": 1}
    one = client.get(f"/runs/{run.pk}/media.json", {"kind": "text", "name": "note"}).json()
    assert one["text"][0]["rows"] == [{"step": 2, "value": "only one"}]

    client.force_login(stranger)
    assert client.get(f"/runs/{run.pk}/").status_code == 404


@pytest.mark.django_db
def test_a_run_without_text_has_no_text_section(client, run, owner):
    client.force_login(owner)
    # There, hidden, for run_media.js to fill when the first text arrives live.
    assert (
        '<section class="media-section" id="text-section" hidden>'
        in client.get(f"/runs/{run.pk}/").content.decode()
    )
