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
        assert await comm.receive_json_from(timeout=5) == {"type": "status", "status": "running"}
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


def test_a_page_that_reconnects_learns_the_status_it_missed(owner):
    """A crash seen while the page's socket was down reached no one; the next connection
    starts with the run's status as it is now."""
    from experiments.models import Run

    run = start_run(owner)
    Run.objects.filter(pk=run.pk).update(status="crashed")

    async def scenario():
        comm = communicator(owner, run.pk)
        assert (await comm.connect())[0]
        first = await comm.receive_json_from(timeout=5)
        await comm.disconnect()
        return first

    assert async_to_sync(scenario)() == {"type": "status", "status": "crashed"}


def test_a_heartbeat_check_that_fails_once_does_not_end_the_watch(owner, settings, monkeypatch):
    """A failed check (a dropped database connection) is logged and tried again; before,
    the watchdog task died with it and the page never learnt of a crash."""
    from datetime import timedelta

    from django.utils import timezone

    from experiments import services
    from experiments.models import Run

    settings.TRACKER_CRASH_AFTER_SECONDS = 2
    run = start_run(owner)
    real, calls = services.runs_mark_crashed, []

    def flaky(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise RuntimeError("connection lost")
        return real(**kwargs)

    monkeypatch.setattr(services, "runs_mark_crashed", flaky)

    async def scenario():
        comm = communicator(owner, run.pk)
        assert (await comm.connect())[0]
        await comm.receive_json_from(timeout=5)  # the status as it is
        await sync_to_async(Run.objects.filter(pk=run.pk).update)(
            heartbeat_at=timezone.now() - timedelta(seconds=5)
        )
        message = await comm.receive_json_from(timeout=5)
        await comm.disconnect()
        return message

    assert async_to_sync(scenario)() == {"type": "status", "status": "crashed"}
    assert len(calls) >= 2


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


def test_the_project_socket_hears_new_runs_new_points_and_status(owner):
    run = start_run(owner)

    async def scenario():
        comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/projects/{run.project_id}/")
        comm.scope["user"] = owner
        assert (await comm.connect())[0]
        second, _ = await sync_to_async(services.run_start)(
            user=owner, start=RunStart("p", "second", "", [], {}, None, {})
        )
        created = await comm.receive_json_from(timeout=5)
        batch = parse_batch({"writer": "w", "seq": 0, "rows": [[0, 1.0, {"loss": 1.0}]]})
        await sync_to_async(services.batch_ingest)(run=second, batch=batch)
        points = await comm.receive_json_from(timeout=5)
        from experiments.payloads import RunEnd

        await sync_to_async(services.run_finish)(run=second, end=RunEnd("finished", 0, "", {}, 0))
        status = await comm.receive_json_from(timeout=5)
        await comm.disconnect()
        return second.pk, created, points, status

    second, created, points, status = async_to_sync(scenario)()
    assert created == {"type": "created", "run": second}
    assert points == {"type": "runs", "runs": [second]}
    assert status == {"type": "status", "status": "finished", "run": second}


def test_a_watched_run_whose_client_went_silent_turns_crashed(owner, settings):
    from datetime import timedelta

    from django.utils import timezone

    from experiments.models import Run

    settings.TRACKER_CRASH_AFTER_SECONDS = 2
    run = start_run(owner)

    async def scenario():
        comm = communicator(owner, run.pk)
        assert (await comm.connect())[0]
        assert await comm.receive_json_from(timeout=5) == {"type": "status", "status": "running"}
        await sync_to_async(Run.objects.filter(pk=run.pk).update)(
            heartbeat_at=timezone.now() - timedelta(seconds=5)
        )
        message = await comm.receive_json_from(timeout=5)
        await comm.disconnect()
        return message

    assert async_to_sync(scenario)() == {"type": "status", "status": "crashed"}
    assert Run.objects.get(pk=run.pk).status == "crashed"


def test_a_watched_project_turns_its_silent_runs_crashed(owner, settings):
    from datetime import timedelta

    from django.utils import timezone

    from experiments.models import Run

    settings.TRACKER_CRASH_AFTER_SECONDS = 2
    run = start_run(owner)

    async def scenario():
        comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/projects/{run.project_id}/")
        comm.scope["user"] = owner
        assert (await comm.connect())[0]
        await sync_to_async(Run.objects.filter(pk=run.pk).update)(
            heartbeat_at=timezone.now() - timedelta(seconds=5)
        )
        message = await comm.receive_json_from(timeout=5)
        await comm.disconnect()
        return message

    assert async_to_sync(scenario)() == {"type": "status", "status": "crashed", "run": run.pk}
