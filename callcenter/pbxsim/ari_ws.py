"""ARI events WebSocket: one connection per application, ApplicationReplaced on takeover."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from callcenter.pbxsim.ari_rest import SIM_KEY
from callcenter.pbxsim.objects import ASTERISK_ID, SimEvent

if TYPE_CHECKING:
    from callcenter.pbxsim.server import PbxSimulator


class EventHub:
    """Routes model events to the WebSocket that currently owns each app."""

    def __init__(self, sim: PbxSimulator) -> None:
        self.sim = sim
        self.owners: dict[str, asyncio.Queue[dict[str, Any] | None]] = {}
        self.sockets: set[web.WebSocketResponse] = set()

    def on_event(self, event: SimEvent) -> None:
        """Model sink: deliver an ARI event to each subscribed app with a live socket."""
        if event.ari is None:
            return
        for app in sorted(event.apps):
            queue = self.owners.get(app)
            if queue is None:
                continue  # "Inactive Stasis app missed message": events are dropped
            queue.put_nowait({**event.ari, "asterisk_id": ASTERISK_ID, "application": app})

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """GET /ari/events?app=…"""
        apps = [a for a in request.query.get("app", "").split(",") if a]
        if not apps:
            return web.json_response({"message": "Missing parameter app"}, status=400)
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        self.sockets.add(ws)
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        for app in apps:
            old = self.owners.get(app)
            if old is not None:
                old.put_nowait({"type": "ApplicationReplaced", "timestamp": self.sim.clock.iso(),
                                "application": app, "asterisk_id": ASTERISK_ID})
            self.owners[app] = queue
            self.sim.model.active_apps.add(app)
        writer = asyncio.get_running_loop().create_task(self._write(ws, queue))
        try:
            async for _msg in ws:
                pass  # clients do not send anything meaningful
        finally:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            for app in apps:
                if self.owners.get(app) is queue:
                    del self.owners[app]
                    self.sim.model.active_apps.discard(app)
            self.sockets.discard(ws)
        return ws

    async def _write(self, ws: web.WebSocketResponse, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        while True:
            message = await queue.get()
            if message is None:
                break
            await ws.send_str(json.dumps(message))

    async def close(self) -> None:
        """Close every WebSocket (on shutdown)."""
        for ws in list(self.sockets):
            await ws.close()


def attach(app: web.Application) -> None:
    """Add the events route to the ARI web app."""

    async def events(request: web.Request) -> web.StreamResponse:
        return await request.app[SIM_KEY].hub.handle(request)

    app.router.add_get("/ari/events", events)
