"""Media and checkpoints follow the batches' rules: an upload the server keeps refusing is
set aside (kept on disk, counted, named at ``finish``) and the uploads after it go on;
``python -m tracker sync --retry-quarantined DIR`` sends it again. A server that answers
nothing, or answers everything with 500, is down: nothing is set aside, and everything
arrives once it is back.

The refusals come from a small proxy in front of the real server.
"""

import gzip
import json
import logging
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest

import tracker
from experiments.models import Checkpoint, Media
from tests.sdk.support import RelayProxy

LABELS = ["a", "b"]


class RefusingProxy(RelayProxy):
    """Forwards every request to ``upstream``, except: media items named in ``poison``
    (answered 500, as a server that chokes on them), checkpoints whose file name is in
    ``refuse_files`` (answered with that status), and, while ``down`` is set, every
    request (answered 500: a server whose database is away)."""

    def __init__(self, upstream: str):
        self.poison: set[str] = set()
        self.refuse_files: dict[str, int] = {}
        self.down = threading.Event()
        self.refused: list[str] = []
        super().__init__(upstream)

    def refusal(self, path: str, headers, raw: bytes) -> tuple[int, bytes] | None:
        refused = self._refusal(path, headers, raw)
        if refused is None:
            return None
        status, message = refused
        return status, json.dumps({"error": message}).encode()

    def _refusal(self, path: str, headers, raw: bytes) -> tuple[int, str] | None:
        if self.down.is_set():
            self.refused.append(path)
            return 500, "the database is away"
        route = urlsplit(path)
        if route.path.endswith("/media"):
            plain = gzip.decompress(raw) if headers.get("Content-Encoding") == "gzip" else raw
            names = {item["name"] for item in json.loads(plain)["items"]}
            if names & self.poison:
                self.refused.append(path)
                return 500, "the server choked on this upload"
        if route.path.endswith("/checkpoints"):
            filename = parse_qs(route.query).get("filename", [""])[0]
            if filename in self.refuse_files:
                self.refused.append(path)
                return self.refuse_files[filename], "checkpoint too large"
        return None

    def close(self) -> None:
        self.down.clear()
        super().close()


@pytest.fixture
def proxy(sdk, monkeypatch):
    """The SDK pointed at the proxy, which forwards to the test server."""
    refusing = RefusingProxy(sdk.url)
    monkeypatch.setenv("TRACKER_SERVER", refusing.url)
    yield refusing
    refusing.close()


def stored_media(run_id: int) -> list[tuple[str, int]]:
    return sorted(Media.objects.filter(run_id=run_id).values_list("name", "step"))


def set_aside(run) -> list[dict]:
    folder = run.dir / "uploads" / "quarantine"
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]


def sync(capsys, *args: str) -> tuple[int, str]:
    """``python -m tracker sync ...`` in this process; (exit code, stdout + stderr)."""
    from tracker.cli import main

    capsys.readouterr()
    code = main(["sync", *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.mark.django_db(transaction=True)
def test_a_media_item_the_server_keeps_refusing_is_set_aside_while_the_later_ones_arrive(
    proxy, caplog, capsys
):
    run = tracker.init(project="uploads")
    proxy.poison.add("poison")
    with caplog.at_level(logging.WARNING, logger="tracker"):
        tracker.log_confusion_matrix([0, 1], [0, 1], labels=LABELS, step=0, split="poison")
        for step in range(1, 6):
            tracker.log_confusion_matrix([0, 1], [1, 1], labels=LABELS, step=step)
        assert run.uploader.flush(20), "the later uploads waited behind the refused one"
        assert stored_media(run.id) == [("val", step) for step in range(1, 6)]
        run.finish()

    # TRACKER_QUARANTINE_AFTER (5) counted tries; a retry sent before any other request was
    # answered is not counted, so under load the upload may be refused once or twice more.
    assert 5 <= len(proxy.refused) <= 7
    [kept] = set_aside(run)
    assert kept["body"]["items"][0]["name"] == "poison"
    assert (kept["reason"]["status"], kept["reason"]["error"]) == (500, "the server choked on this upload")
    assert run.uploader.quarantined == 1
    assert "1 media/checkpoint uploads of run" in caplog.text
    assert f"python -m tracker sync --retry-quarantined {run.dir}" in caplog.text

    # Still refused: it stays set aside, with the server's answer printed.
    code, output = sync(capsys, "--retry-quarantined", str(run.dir))
    assert code == 0, output
    assert "is still refused: HTTP 500: the server choked on this upload; it stays set aside" in output
    assert set_aside(run)[0]["reason"]["tries"] == 6

    # The server takes it now: delivered once, nothing left on disk.
    proxy.poison.clear()
    code, output = sync(capsys, "--retry-quarantined", str(run.dir))
    assert code == 0, output
    assert "1 set-aside media items and checkpoints delivered" in output
    assert stored_media(run.id) == [("poison", 0)] + [("val", step) for step in range(1, 6)]
    assert not list((run.dir / "uploads").iterdir())


@pytest.mark.django_db(transaction=True)
def test_a_checkpoint_refused_with_a_4xx_is_set_aside_at_once_and_the_next_one_arrives(proxy, tmp_path):
    proxy.refuse_files["big.pt"] = 413
    big, small = tmp_path / "big.pt", tmp_path / "small.pt"
    big.write_bytes(b"x" * 4096)
    small.write_bytes(b"y" * 64)
    run = tracker.init(project="uploads")
    tracker.save_checkpoint(big, step=1)
    tracker.save_checkpoint(small, step=2, wait=True)

    assert list(Checkpoint.objects.filter(run_id=run.id).values_list("filename", "step")) == [("small.pt", 2)]
    assert len(proxy.refused) == 1  # an answer about the upload itself: no point in trying again
    [kept] = set_aside(run)
    assert (kept["query"]["filename"], kept["reason"]["status"]) == ("big.pt", 413)
    assert (run.dir / "uploads" / "quarantine" / kept["file"]).read_bytes() == b"x" * 4096


@pytest.mark.django_db(transaction=True)
def test_a_server_that_answers_everything_with_500_is_down_and_nothing_is_set_aside(proxy):
    run = tracker.init(project="uploads")
    proxy.down.set()
    for step in range(3):
        tracker.log_confusion_matrix([0, 1], [0, 1], labels=LABELS, step=step)
    # Well past TRACKER_QUARANTINE_AFTER (5) refusals of each upload.
    wait_for(lambda: sum(path.endswith("/media") for path in proxy.refused) >= 20, timeout=20)

    assert set_aside(run) == [] and run.uploader.quarantined == 0
    assert len(list((run.dir / "uploads").glob("*-media.json"))) == 3  # kept, in line
    proxy.down.clear()
    assert run.uploader.flush(10)
    assert stored_media(run.id) == [("val", step) for step in range(3)]
    assert set_aside(run) == []
