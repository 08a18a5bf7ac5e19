"""Every worker recovers lost trials, so a sweep never waits on beat.

When a worker is ready (Celery's ``worker_ready``) it runs
``tuning.services.trials_recover_lost`` at once, then every ``TUNING_WATCHDOG_INTERVAL``
seconds while it lives, in a daemon thread of its main process. A trial whose worker was
SIGKILLed is then failed and replaced about ``TUNING_GRACE_PERIOD`` after its last
heartbeat by any live worker, idle or busy; beat, when it runs, does the same.

``start`` and ``stop`` are connected to ``worker_ready`` / ``worker_shutdown`` in
``TuningConfig.ready``.
"""

from __future__ import annotations

import logging
import threading

from django.db import connection

from tuning import conf, services

logger = logging.getLogger(__name__)
_stop = threading.Event()


def recover_once() -> None:
    try:
        recovered = services.trials_recover_lost()
        if recovered.lost or recovered.restarted:
            logger.warning(
                "recovered from dead workers: trials %s failed and replaced, sweeps %s restarted",
                recovered.lost,
                recovered.restarted,
            )
    except Exception:
        # The database may be restarting: the next pass tries again.
        logger.exception("recovering lost trials failed")
    finally:
        connection.close()  # this thread's own connection; a fresh one each pass


def _loop() -> None:
    while True:
        recover_once()
        if _stop.wait(conf.watchdog_interval()):
            return


def start(**kwargs) -> None:
    """Receiver of ``worker_ready``: the recovery thread of this worker."""
    _stop.clear()
    threading.Thread(target=_loop, name="tuning-recovery", daemon=True).start()


def stop(**kwargs) -> None:
    """Receiver of ``worker_shutdown``."""
    _stop.set()
