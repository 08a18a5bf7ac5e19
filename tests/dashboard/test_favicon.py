"""The favicon: every page links static/favicon.svg, the live server serves it, and a
browser asking /favicon.ico (the admin's pages link none) is sent there, not a 404."""

import urllib.request

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_pages_link_the_favicon_and_the_server_serves_it(client, server, owner):
    client.force_login(owner)
    html = client.get("/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html
    login_page = client.get("/accounts/login/").content.decode()  # no user yet: still linked
    assert 'href="/static/favicon.svg"' in login_page

    with urllib.request.urlopen(f"{server.url}/static/favicon.svg", timeout=30) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("image/svg+xml")
        assert response.read().startswith(b"<svg")

    # urllib follows the redirect: /favicon.ico ends at the same icon.
    with urllib.request.urlopen(f"{server.url}/favicon.ico", timeout=30) as response:
        assert response.status == 200 and response.url == f"{server.url}/static/favicon.svg"
        assert response.read().startswith(b"<svg")


@pytest.mark.django_db
def test_favicon_ico_is_a_permanent_redirect_to_the_svg(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == "/static/favicon.svg"
