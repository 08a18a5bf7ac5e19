"""The hardening settings as deployed: `check --deploy` is clean with the production
settings the README documents (read from the README itself), production defaults are safe
without them, and the embedded default still works over plain HTTP."""

import json
import re
import secrets
from pathlib import Path

import pytest

from tests.processes import ROOT, run_manage


def readme_production_settings() -> dict[str, str]:
    """The NAME=value lines of the README's "Production settings" block."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Production settings", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    pairs = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
    assert pairs["SECRET_KEY"].startswith("<")  # a placeholder, never a key to copy
    pairs["SECRET_KEY"] = secrets.token_urlsafe(50)
    return pairs


SETTINGS = (
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_PROXY_SSL_HEADER",
)


def settings_under(tmp_path: Path, env: dict[str, str]) -> dict:
    code = (
        "import json; from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {SETTINGS!r}}}))"
    )
    result = run_manage(tmp_path, env, "shell", "-c", code)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_check_deploy_is_clean_with_the_readmes_production_settings(tmp_path):
    result = run_manage(
        tmp_path, readme_production_settings(), "check", "--deploy", "--fail-level", "WARNING"
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_is_https_by_default(tmp_path):
    env = {"DATABASE_URL": "postgres://tracker@db:5432/tracker", "SECRET_KEY": secrets.token_urlsafe(50)}

    assert settings_under(tmp_path, env) == {
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_PROXY_SSL_HEADER": None,
    }


def test_the_embedded_default_works_over_plain_http(tmp_path):
    assert settings_under(tmp_path, {}) == {
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 0,
        "SECURE_PROXY_SSL_HEADER": None,
    }


def test_each_setting_has_its_own_switch(tmp_path):
    env = {
        "DATABASE_URL": "postgres://tracker@db:5432/tracker",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "TRACKER_HTTPS": "0",
        "SESSION_COOKIE_SECURE": "1",
        "SECURE_HSTS_SECONDS": "600",
        "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO",
    }

    assert settings_under(tmp_path, env) == {
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": False,
        "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 600,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
    }


def test_a_typo_in_a_switch_stops_the_server(tmp_path):
    result = run_manage(tmp_path, {"TRACKER_HTTPS": "ture"}, "check")

    assert result.returncode != 0
    assert "TRACKER_HTTPS='ture' is not a boolean" in result.stderr


@pytest.mark.django_db
def test_every_page_carries_the_content_security_policy(client, owner):
    client.force_login(owner)

    for path in ("/accounts/login/", "/", "/admin/login/"):
        policy = client.get(path)["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["script-src"] == "'self'", path
        assert directives["default-src"] == "'self'"
        assert directives["object-src"] == "'none'"
        assert directives["frame-ancestors"] == "'none'"
        assert directives["base-uri"] == "'self'"
        assert directives["form-action"] == "'self'"
        assert directives["img-src"] == "'self' data: blob:"
        # Websockets to this host only, named for browsers where 'self' does not cover ws:.
        assert directives["connect-src"] == "'self' ws://testserver wss://testserver"
