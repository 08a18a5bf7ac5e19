"""Shared fixtures: personas, API keys, and real server / worker processes.

The suite runs twice under `make test`: on the embedded default (SQLite, filesystem
broker) and, when reachable, on PostgreSQL + Redis (DATABASE_URL / REDIS_URL set).
Test state lives under var/test so it never touches a `make run` instance.
"""

import pytest

from tests.processes import CeleryWorker, ServerProcess, process_env

PASSWORD = "correct-horse-battery-staple"

# SDK settings for tests: quick flushes, heartbeats and retries, bounded waits.
FAST = {
    "TRACKER_FLUSH_INTERVAL": "0.05",
    "TRACKER_HEARTBEAT_INTERVAL": "0.2",
    "TRACKER_BACKOFF_BASE": "0.05",
    "TRACKER_BACKOFF_MAX": "0.3",
    "TRACKER_HTTP_TIMEOUT": "3",
    "TRACKER_FINISH_TIMEOUT": "10",
    # No system-metrics sampler: tests count every point a run stores. Tests of the
    # sampler (tests/sdk/test_system_metrics.py) turn it on with init(system_interval=...).
    "TRACKER_SYSTEM_INTERVAL": "0",
}


def _persona(django_user_model, username: str, **extra):
    user = django_user_model.objects.create_user(username=username, password=PASSWORD, **extra)
    user.raw_password = PASSWORD
    return user


@pytest.fixture
def owner(django_user_model):
    """The user whose projects and runs the test is about."""
    return _persona(django_user_model, "owner")


@pytest.fixture
def stranger(django_user_model):
    """Another user, who must not see or touch the owner's data."""
    return _persona(django_user_model, "stranger")


@pytest.fixture
def api_key(owner) -> str:
    from tests import factories

    return factories.api_key(owner)


@pytest.fixture
def stranger_api_key(stranger) -> str:
    from tests import factories

    return factories.api_key(stranger)


@pytest.fixture
def server(transactional_db, tmp_path):
    """A real ASGI server process (uvicorn, the production entry point) serving the app
    against the test database. ``server.stop()`` / ``server.start()`` restart it on the
    same port, for tests of what clients do while the server is away."""
    proc = ServerProcess(process_env(), log_path=tmp_path / "server.log")
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def sdk(server, api_key, tmp_path, monkeypatch):
    """The SDK pointed at the test server by environment, as a user would configure it."""
    import tracker

    monkeypatch.setenv("TRACKER_SERVER", server.url)
    monkeypatch.setenv("TRACKER_API_KEY", api_key)
    monkeypatch.setenv("TRACKER_DIR", str(tmp_path / "spool"))
    monkeypatch.delenv("TRACKER_RUN_ID", raising=False)
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    yield server
    tracker.finish(timeout=1)


@pytest.fixture
def celery_worker(transactional_db, tmp_path):
    """A real Celery worker process on the test broker and database."""
    worker = CeleryWorker(process_env(), log_path=tmp_path / "worker.log")
    worker.start()
    yield worker
    worker.stop()


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    """Chromium (Debian's) driven by Playwright; the test is skipped without either."""
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium not installed: apt-get install chromium")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright not installed: pip install playwright"
    )
    # Playwright's sync API runs an event loop in this thread; the ORM calls that create test
    # data are still plain synchronous calls. Allowed while the browser runs, and only then.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            yield browser
            browser.close()


@pytest.fixture
def page(request, browser):
    """A fresh browser tab whose script errors are collected in ``page.errors``. A test
    module may set ``VIEWPORT`` (a Playwright viewport dict) and ``PAGE_ERRORS_FAIL = True``
    (any script error fails the test at teardown)."""
    viewport = getattr(request.module, "VIEWPORT", {"width": 1400, "height": 1000})
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    yield page
    if getattr(request.module, "PAGE_ERRORS_FAIL", False):
        assert not page.errors, page.errors
    context.close()


@pytest.fixture(autouse=True)
def _empty_artifact_store():
    """Each test starts with an empty artifact store: databases restart their ids between
    tests, so files a previous test's run 1 left would otherwise sit in this test's run 1."""
    import shutil

    from django.conf import settings

    root = getattr(settings, "TRACKER_ARTIFACT_ROOT", None) or settings.MEDIA_ROOT
    shutil.rmtree(root, ignore_errors=True)


def pytest_sessionfinish(session, exitstatus) -> None:
    import shutil

    from django.conf import settings

    if settings.VAR_DIR.parent.name == "test" and settings.VAR_DIR.name.startswith("session-"):
        shutil.rmtree(settings.VAR_DIR, ignore_errors=True)


def pytest_sessionstart(session) -> None:
    """Start from an empty test broker: tasks left by an earlier run would otherwise be
    picked up by the first worker a test starts."""
    import shutil
    from pathlib import Path

    from django.conf import settings

    folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        Path(folder).mkdir(parents=True, exist_ok=True)
    # On Redis, keys carry this session's own prefix (tests/settings.py): nothing to clear.


# `make test` runs the suite on the embedded default, then on PostgreSQL + Redis. Tests
# whose subject does not depend on the database run once, in the first pass (marked
# `once`; test-postgres deselects them): client compatibility with upstream frameworks and
# the data checks' real trainings (framework imports, training, torchrun subprocesses),
# `make run` and pip installs of the SDK, and browser tests of what pages draw (their
# data's queries run on PostgreSQL through the same views' non-browser tests). Live pages
# (tests/live/, sockets over Redis) and pages that write run in both passes.
ONCE_TESTS = (
    "tests/integrations/",
    "tests/importers/",
    "tests/mlflow/test_frameworks.py",
    "tests/datachecks/",  # real trainings and two-process torchrun jobs per finding
    "tests/dashboard/test_make_run.py",
    "tests/sdk/test_install.py",
    "tests/dashboard/test_security_csp_browser.py",
    "tests/dashboard/test_theme_browser.py",
    "tests/security/test_xss.py",
    "tests/runs/test_huge_run.py",
    "tests/runs/test_x_axis.py",
    "tests/media/test_browser.py",
    "tests/analysis/test_browser.py",
    "tests/compare/test_picker_browser.py",
)
# The schema fuzzer's findings were PostgreSQL's (NUL bytes, 64-bit overflow): it runs in
# the PostgreSQL pass when there is one, else in the first (Makefile: PG_ONCE).
PG_ONCE_TESTS = ("tests/api/test_fuzz.py",)


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        if path.startswith(ONCE_TESTS):
            item.add_marker(pytest.mark.once)
        if path.startswith(PG_ONCE_TESTS):
            item.add_marker(pytest.mark.pg_once)
