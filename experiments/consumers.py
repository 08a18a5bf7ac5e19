"""Websocket consumers: one Channels group per run (``run_<id>``) for its page, and one
per project (``project_<id>``) for its runs table."""

import asyncio
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from experiments.models import Run
from experiments.selectors import projects_visible_to, runs_visible_to

log = logging.getLogger(__name__)


def run_group(run_id: int) -> str:
    return f"run_{run_id}"


def project_group(project_id: int) -> str:
    return f"project_{project_id}"


class _GroupConsumer(AsyncJsonWebsocketConsumer):
    """Joins one group if the user may see its object; otherwise closes with 4403.

    While a page watches, this web process also checks the heartbeats of the running
    runs it shows: a client that went silent turns its run "crashed" on screen within
    seconds, on every deployment shape (in the embedded default the Celery worker's
    periodic check cannot reach browsers: its channel layer is in-memory)."""

    group: str = ""
    watchdog: asyncio.Task | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not await self.visible(user):
            # Accept, then close with an application code: a refused handshake reaches the
            # browser as a bare 1006, and the page could not tell "forbidden" from "down".
            await self.accept()
            await self.close(code=4403)
            return
        self.group = self.group_name()
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self.watchdog = asyncio.get_running_loop().create_task(self._watch_heartbeats())
        await self.connected()

    async def disconnect(self, code: int) -> None:
        if self.watchdog is not None:
            self.watchdog.cancel()
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def _watch_heartbeats(self) -> None:
        from experiments.services import runs_mark_crashed

        silent = settings.TRACKER_CRASH_AFTER_SECONDS
        period = max(0.5, min(5.0, silent / 4))
        mark = database_sync_to_async(runs_mark_crashed)
        while True:
            await asyncio.sleep(period)
            try:
                await mark(silent_for_seconds=silent, **self.watched())
            except Exception:  # one failed check (a dropped connection) must not end the watch
                log.exception("heartbeat check failed for %s; trying again", self.group)

    async def connected(self) -> None:
        """Called once the socket joined its group; subclasses send what a page that
        (re)connects may have missed."""

    def watched(self) -> dict:
        """Which runs' heartbeats this page checks, as runs_mark_crashed filters."""
        return {"run_id": -1}

    async def run_event(self, message: dict) -> None:
        await self.send_json(message["event"])

    def group_name(self) -> str:
        """The group to join; subclasses name it from the URL."""
        return ""

    async def visible(self, user) -> bool:
        """Whether ``user`` may watch; subclasses check their object. Default: no."""
        return False


class RunConsumer(_GroupConsumer):
    """Pushes a run's events (new points for keys, status changes) to its page."""

    async def connect(self) -> None:
        self.run_id = self.scope["url_route"]["kwargs"]["run_id"]
        await super().connect()

    def watched(self) -> dict:
        return {"run_id": self.run_id}

    async def connected(self) -> None:
        # A status change while the page was away (a crash seen by another page's
        # watchdog) reached no one; every connection starts with the status as it is.
        status = await database_sync_to_async(self._status)()
        if status:
            await self.send_json({"type": "status", "status": status})

    def _status(self) -> str | None:
        return Run.objects.filter(pk=self.run_id).values_list("status", flat=True).first()

    def group_name(self) -> str:
        return run_group(self.run_id)

    @database_sync_to_async
    def visible(self, user) -> bool:
        return runs_visible_to(user).filter(pk=self.run_id).exists()


class ProjectConsumer(_GroupConsumer):
    """Pushes a project's run events to its runs table: ``created``, ``status`` (with
    ``run``) and ``runs`` (ids of runs with new points, merged)."""

    def group_name(self) -> str:
        return project_group(self.scope["url_route"]["kwargs"]["project_id"])

    def watched(self) -> dict:
        return {"project_id": self.scope["url_route"]["kwargs"]["project_id"]}

    @database_sync_to_async
    def visible(self, user) -> bool:
        project_id = self.scope["url_route"]["kwargs"]["project_id"]
        return projects_visible_to(user).filter(pk=project_id).exists()
