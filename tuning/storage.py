"""Optuna's RDB storage on the project's own database (or ``TUNING_STORAGE_URL``).

Every worker opens the same study by name, so any number of them, on any machines, pull
trials of one study. Connections are not pooled (``NullPool``): a worker touches the
storage a few times per trial, and unpooled connections survive Celery's forking and
never keep a test database from being dropped.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import optuna
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from tuning import conf

_DRIVERS = {
    "django.db.backends.sqlite3": "sqlite",
    "django.db.backends.postgresql": "postgresql+psycopg2",
}
_cache: dict[str, tuple[int, optuna.storages.RDBStorage]] = {}


def storage_url() -> str:
    """The SQLAlchemy URL of the study storage: ``TUNING_STORAGE_URL``, else the URL of
    Django's default database (its test database under tests)."""
    explicit = conf.storage_url()
    if explicit:
        return explicit
    db = connections["default"].settings_dict
    driver = _DRIVERS.get(db["ENGINE"])
    if driver is None:
        raise ImproperlyConfigured(
            f"sweeps need SQLite or PostgreSQL (or TUNING_STORAGE_URL); the database engine is {db['ENGINE']}"
        )
    if driver == "sqlite":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    url = URL.create(
        driver,
        username=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None,
        port=int(db["PORT"]) if db.get("PORT") else None,
        database=db["NAME"],
    )
    return url.render_as_string(hide_password=False)


def _immediate_transactions(engine: Any) -> None:
    """SQLite: take the write lock when a transaction begins, as Django's connections do
    here. Otherwise a transaction that read first fails with "database is locked" when it
    tries to write after another process did, instead of waiting its turn."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def get_storage() -> optuna.storages.RDBStorage:
    """This process's storage (created once per process; tables on first use)."""
    url = storage_url()
    cached = _cache.get(url)
    if cached is not None and cached[0] == os.getpid():
        return cached[1]
    sqlite = url.startswith("sqlite")
    kwargs: dict[str, Any] = {"poolclass": NullPool}
    if sqlite:
        kwargs["connect_args"] = {"timeout": 30}
    for attempt in range(5):
        try:
            storage = optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
            break
        except Exception:
            # Two workers creating the tables of a fresh database at once: one loses the race.
            if attempt == 4:
                raise
            time.sleep(0.5 + attempt)
    if sqlite:
        _immediate_transactions(storage.engine)
    _cache[url] = (os.getpid(), storage)
    return storage


def open_study(
    name: str,
    direction: str,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
) -> optuna.Study:
    """The study ``name``, created on first use by whichever worker gets there first."""
    return optuna.create_study(
        storage=get_storage(),
        study_name=name,
        direction=direction,
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )


def delete_study(name: str) -> bool:
    """Remove a deleted sweep's study; False when there was none (never started)."""
    try:
        optuna.delete_study(study_name=name, storage=get_storage())
    except KeyError:
        return False
    return True
