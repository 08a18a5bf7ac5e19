"""Saved views of the runs table (issue #16): a member saves the table's state (filter,
sort, columns, grouping) under a name; everyone who can see the project gets the view as
a link that opens the table exactly so; only members save, only the author or an admin
deletes; a wrong name is refused with the field named, and nothing stored is lost."""

from urllib.parse import parse_qs, urlsplit

import pytest

from experiments.models import Metric, Project, Run, SavedView, Visibility
from tests.browser import login

pytestmark = pytest.mark.django_db

STATE = "q=config.lr+%3E+0.01&sort=-best%3Aval%2Facc&cols=1&c=lr&m=val%2Facc&group_by=config.opt"


def make_project(owner) -> Project:
    project = Project.objects.create(owner=owner, name="looks", visibility=Visibility.INSTANCE)
    for i, lr in enumerate([0.001, 0.1, 0.3]):
        run = Run.objects.create(project=project, name=f"r{i}", config={"lr": lr, "opt": "adam"})
        Metric.objects.create(run=run, key="val/acc", count=1, last_step=0, last_value=lr, max_value=lr)
    return project


def test_a_member_saves_a_view_and_every_reader_opens_it(client, owner, stranger):
    make_project(owner)
    client.force_login(owner)
    response = client.post("/projects/looks/views/", {"view": "best lr", "query": STATE + "&offset=200&x=1"})
    assert response.status_code == 302
    view = SavedView.objects.get()
    assert (view.name, view.created_by) == ("best lr", owner)
    # The page offset and unknown parameters are not part of a view.
    assert parse_qs(view.query) == parse_qs(STATE)
    assert response["Location"] == f"/projects/looks/?{view.query}"
    html = client.get(response["Location"]).content.decode()
    assert 'value="config.lr &gt; 0.01"' in html  # the filter is applied
    assert 'id="groups-table"' in html  # and the grouping
    # Saving under the same name replaces the state.
    client.post("/projects/looks/views/", {"view": "best lr", "query": "q=status+%3D+finished"})
    assert SavedView.objects.get().query == "q=status+%3D+finished"
    # A reader of the project (instance-visible) sees the view, cannot save or delete.
    client.force_login(stranger)
    html = client.get("/projects/looks/").content.decode()
    assert '<a href="/projects/looks/?q=status+%3D+finished">best lr</a>' in html
    assert 'id="save-view-form"' not in html
    assert client.post("/projects/looks/views/", {"view": "mine", "query": ""}).status_code == 403
    assert client.post(f"/projects/looks/views/{view.pk}/delete/").status_code == 403
    assert SavedView.objects.count() == 1
    # The author deletes it.
    client.force_login(owner)
    assert client.post(f"/projects/looks/views/{view.pk}/delete/").status_code == 302
    assert not SavedView.objects.exists()


def test_a_wrong_name_is_refused_and_names_the_field(client, owner):
    make_project(owner)
    client.force_login(owner)
    SavedView.objects.create(project=Project.objects.get(), name="kept", query="q=a")
    for data, message in [
        ({"view": "  ", "query": "q=x"}, "view: give the view a name"),
        ({"view": "x" * 101, "query": "q=x"}, "view: a name has at most 100 characters, got 101"),
        ({"view": "long", "query": "q=" + "x" * 8001}, "query: at most 8000 characters, got 8003"),
    ]:
        response = client.post("/projects/looks/views/", data)
        assert (response.status_code, response.content.decode()) == (400, message)
    assert list(SavedView.objects.values_list("name", "query")) == [("kept", "q=a")]


def test_another_users_private_project_has_no_views_to_save(client, owner, stranger):
    project = make_project(owner)
    Project.objects.filter(pk=project.pk).update(visibility=Visibility.PRIVATE)
    client.force_login(stranger)
    assert client.post("/projects/looks/views/", {"view": "x", "query": ""}).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_saving_and_opening_a_view_in_the_browser(page, server, owner):
    make_project(owner)
    login(page, server, owner, "/projects/looks/")
    page.fill("#run-query", "config.lr > 0.01")
    page.press("#run-query", "Enter")
    page.wait_for_url("**q=config.lr*")
    page.click("#views-menu summary")
    page.fill("#save-view-form input[name=view]", "high lr")
    page.click("#save-view-form button[type=submit]")
    page.wait_for_url("**q=config.lr*")
    page.goto(server.url + "/projects/looks/")
    page.click("#views-menu summary")
    page.click("#views-menu a:text('high lr')")
    page.wait_for_url("**q=config.lr*")
    names = page.locator("#runs-table tbody tr[data-run] td.name a:first-of-type").all_inner_texts()
    assert sorted(names) == ["r1", "r2"]
    assert parse_qs(urlsplit(page.url).query)["q"] == ["config.lr > 0.01"]
    assert page.errors == []
