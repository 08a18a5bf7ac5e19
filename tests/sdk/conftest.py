"""The SDK's transports for the contract suite: every test that takes ``transport`` runs
twice, once online (HTTP to the test server as it logs) and once offline (a spool on disk,
then ``python -m tracker sync``), and must find the same stored run both times."""

import pytest

import tracker
from experiments.models import Run
from tests.sdk.support import sync


class Transport:
    """How a run reaches the server: ``init()`` starts a run that way, ``stored(run)``
    brings the finished run to the server (a sync, offline) and returns its id there."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.offline = mode == "offline"
        self.synced = None  # the sync's CompletedProcess, offline

    def __repr__(self) -> str:
        return self.mode

    def init(self, **kwargs) -> tracker.Run:
        return tracker.init(mode=self.mode, **kwargs)

    def stored(self, run: tracker.Run) -> int:
        if not self.offline:
            return run.id
        assert run.id is None and not Run.objects.exists()
        self.synced = sync(run.dir)
        assert self.synced.returncode == 0, self.synced.stderr
        return Run.objects.get().id


@pytest.fixture(params=["online", "offline"])
def transport(request, sdk) -> Transport:
    """The online and the offline transport, each pointed at the test server (``sdk``)."""
    return Transport(request.param)
