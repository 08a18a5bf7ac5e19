"""The embedded default's Celery broker (``dashboard.broker``): a worker polling the
folder while other processes publish never reads a message half-written. kombu's own
filesystem transport does (kombu issue #1551): the worker stops with "Unrecoverable
error: JSONDecodeError", which lost alert retries in CI."""

import multiprocessing
import queue

import pytest
from django.conf import settings
from kombu import Connection

PRODUCERS = 2
MESSAGES = 30
PAYLOAD = "x" * 1_000_000  # large enough that writing it takes a while


def connection(folder: str, transport: str) -> Connection:
    return Connection(
        "filesystem://",
        transport=transport,
        transport_options={
            "data_folder_in": folder,
            "data_folder_out": folder,
            "control_folder": f"{folder}/control",
            "polling_interval": 0.0,
        },
    )


def queue_name(folder: str) -> str:
    """A queue of each test's own: kombu keeps declared exchanges per process, not per folder."""
    return f"jobs-{abs(hash(folder))}"


def produce(folder: str, transport: str, producer: int) -> None:
    with connection(folder, transport) as conn:
        jobs = conn.SimpleQueue(queue_name(folder))
        for i in range(MESSAGES):
            jobs.put({"producer": producer, "i": i, "payload": PAYLOAD})


def consume_while_others_publish(folder: str, transport: str) -> list[tuple[int, int]]:
    """Every message the other processes put, as (producer, i), in the order read."""
    fork = multiprocessing.get_context("fork")
    producers = [fork.Process(target=produce, args=(folder, transport, p)) for p in range(PRODUCERS)]
    received = []
    with connection(folder, transport) as conn:
        jobs = conn.SimpleQueue(queue_name(folder))
        for p in producers:
            p.start()
        try:
            while len(received) < PRODUCERS * MESSAGES:
                try:
                    message = jobs.get(timeout=30)
                except queue.Empty:
                    break
                received.append((message.payload["producer"], message.payload["i"]))
                assert message.payload["payload"] == PAYLOAD
                message.ack()
        finally:
            for p in producers:
                p.join(60)
    return received


def test_a_polling_worker_reads_every_message_whole(tmp_path):
    received = consume_while_others_publish(str(tmp_path), "dashboard.broker:Transport")
    assert sorted(received) == [(p, i) for p in range(PRODUCERS) for i in range(MESSAGES)]
    for p in range(PRODUCERS):  # each producer's messages in the order it put them
        assert [i for q, i in received if q == p] == list(range(MESSAGES))
    assert not list(tmp_path.glob("*.part"))


def test_kombus_own_transport_reads_a_message_half_written(tmp_path):
    """Why the subclass exists: the same traffic breaks the stock transport's reader."""
    with pytest.raises(ValueError, match="Expecting value"):
        consume_while_others_publish(str(tmp_path), "filesystem")


@pytest.mark.skipif(
    bool(settings.CELERY_BROKER_URL != "filesystem://"), reason="a broker other than the embedded one"
)
def test_the_embedded_default_uses_it():
    assert settings.CELERY_BROKER_TRANSPORT == "dashboard.broker:Transport"
