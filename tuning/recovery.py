"""Every worker recovers lost trials, so a sweep never waits on beat.

When a worker is ready (Celery's ``worker_ready``) it runs
``tuning.services.trials_recover_lost`` at once, then every ``TUNING_WATCHDOG_INTERVAL``
seconds while it lives, in a daemon thread of its main process. A trial whose worker was
SIGKILLed is then failed and replaced about ``TUNING_GRACE_PERIOD`` after its last
heartbeat by any live worker, idle or busy; beat, when it runs, does the same.
"""

from __future__ import annotations

import logging
import threading

from celery.signals import worker_ready, worker_shutdown
from django.db import connection

from tuning import conf

logger = logging.getLogger(__name__)
_stop = threading.Event()


def recover_once() -> None:
    from tuning import services

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


@worker_ready.connect
def _start(**kwargs) -> None:
    _stop.clear()
    threading.Thread(target=_loop, name="tuning-recovery", daemon=True).start()


@worker_shutdown.connect
def _shutdown(**kwargs) -> None:
    _stop.set()
