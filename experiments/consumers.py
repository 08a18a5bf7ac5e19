"""Websocket consumers: one Channels group per run (``run_<id>``)."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from experiments.selectors import runs_visible_to


def run_group(run_id: int) -> str:
    return f"run_{run_id}"


class RunConsumer(AsyncJsonWebsocketConsumer):
    """Pushes a run's events (new points for keys, status changes) to its page."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        self.run_id = self.scope["url_route"]["kwargs"]["run_id"]
        if user is None or not user.is_authenticated or not await self._visible(user):
            # Accept, then close with an application code: a refused handshake reaches the
            # browser as a bare 1006, and the page could not tell "forbidden" from "down".
            await self.accept()
            await self.close(code=4403)
            return
        self.group = run_group(self.run_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    @database_sync_to_async
    def _visible(self, user) -> bool:
        return runs_visible_to(user).filter(pk=self.run_id).exists()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def run_event(self, message: dict) -> None:
        await self.send_json(message["event"])
