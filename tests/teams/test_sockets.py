"""Every websocket group against every persona (issue #15): who may see the run or the
project joins its group and is sent its events; everyone else is closed with 4403 and
is sent nothing. The routes are walked from ``experiments.routing``, so a new group
cannot be missed."""

import json

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from experiments.consumers import project_group, run_group
from experiments.routing import websocket_urlpatterns
from tests.teams.world import build

pytestmark = pytest.mark.django_db(transaction=True)


def _groups(world) -> dict[str, tuple[str, str]]:
    """Each websocket route -> (its URL for the team project, its group's name)."""
    urls = {
        "ws/runs/<int:run_id>/": (f"/ws/runs/{world.run.pk}/", run_group(world.run.pk)),
        "ws/projects/<int:project_id>/": (
            f"/ws/projects/{world.project.pk}/",
            project_group(world.project.pk),
        ),
    }
    routes = {str(p.pattern) for p in websocket_urlpatterns}
    assert routes == set(urls), f"websocket routes without a row in this test: {routes - set(urls)}"
    return urls


def _join(user, url: str, group: str) -> dict:
    async def scenario():
        comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), url)
        comm.scope["user"] = user
        await comm.connect()
        await get_channel_layer().group_send(group, {"type": "run.event", "event": {"type": "probe"}})
        result = {"closed": None, "event": None}
        for _ in range(5):
            message = await comm.receive_output(timeout=5)
            if message["type"] == "websocket.close":
                result["closed"] = message["code"]
                break
            event = json.loads(message["text"])
            if event.get("type") == "probe":
                result["event"] = event
                break
        await comm.disconnect()
        return result

    return async_to_sync(scenario)()


def test_each_group_takes_exactly_who_may_see_it(django_user_model):
    world = build(django_user_model)
    failures = []
    for route, (url, group) in _groups(world).items():
        for persona in world.personas:
            if persona.key is not None:
                continue  # sockets take the browser's session: a key persona is anonymous here
            user = persona.user or AnonymousUser()
            result = _join(user, url, group)
            if persona.role is None:
                if result != {"closed": 4403, "event": None}:
                    failures.append(f"{persona.name} on {route}: {result}, expected closed 4403")
            elif result != {"closed": None, "event": {"type": "probe"}}:
                failures.append(
                    f"{persona.name} on {route}: {result}, expected to receive the group's events"
                )
    assert not failures, "\n".join(failures)
