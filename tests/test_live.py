"""The run websocket: only the run's owner may subscribe, and committed batches reach it."""

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from experiments import services
from experiments.payloads import RunStart, parse_batch
from experiments.routing import websocket_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)


def communicator(user, run_id: int) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/runs/{run_id}/")
    comm.scope["user"] = user
    return comm


def start_run(owner):
    run, _ = services.run_start(user=owner, start=RunStart("p", "r", "", [], {}, None, {}))
    return run


def test_the_owner_receives_new_points_and_status_changes(owner):
    run = start_run(owner)

    async def scenario():
        comm = communicator(owner, run.pk)
        connected, _ = await comm.connect()
        assert connected
        batch = parse_batch(
            {"writer": "w", "seq": 0, "rows": [[0, 1.0, {"train/loss": 1.0, "val/acc": 0.5}]]}
        )
        await sync_to_async(services.batch_ingest)(run=run, batch=batch)
        points = await comm.receive_json_from(timeout=5)
        await sync_to_async(services.run_heartbeat)(run=run, dropped=0)
        await comm.disconnect()
        return points

    points = async_to_sync(scenario)()
    assert points == {"type": "points", "keys": ["train/loss", "val/acc"]}


def test_a_stranger_is_refused_with_4403(owner, stranger):
    run = start_run(owner)

    async def scenario():
        comm = communicator(stranger, run.pk)
        connected, _ = await comm.connect()
        closed = await comm.receive_output(timeout=5)
        return connected, closed

    connected, closed = async_to_sync(scenario)()
    assert connected is True  # accepted only to deliver the close code
    assert closed == {"type": "websocket.close", "code": 4403}


def test_an_anonymous_visitor_is_refused(owner):
    from django.contrib.auth.models import AnonymousUser

    run = start_run(owner)

    async def scenario():
        comm = communicator(AnonymousUser(), run.pk)
        await comm.connect()
        return await comm.receive_output(timeout=5)

    assert async_to_sync(scenario)()["code"] == 4403


def test_points_events_of_a_busy_run_are_merged_within_the_interval():
    from experiments import live

    sent = []

    async def fake_send(run_id, event):
        sent.append((run_id, event))

    async def scenario():
        coalescer = live.Coalescer(interval=0.2)
        original, live._send = live._send, fake_send
        try:
            for i in range(100):  # 100 batches in quick succession
                await coalescer.publish(7, {"type": "points", "keys": [f"k{i % 3}"]})
            await coalescer.publish(8, {"type": "points", "keys": ["other"]})
            await asyncio.sleep(0.5)
            await coalescer.publish(7, {"type": "status", "status": "finished"})
        finally:
            live._send = original

    import asyncio

    async_to_sync(scenario)()
    assert sent == [
        (7, {"type": "points", "keys": ["k0"]}),
        (8, {"type": "points", "keys": ["other"]}),
        (7, {"type": "points", "keys": ["k0", "k1", "k2"]}),
        (7, {"type": "status", "status": "finished"}),
    ]
