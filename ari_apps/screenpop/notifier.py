"""From the hotline's call topics to the ringing agent's console, in each console process.

``hotline.call.ringing`` for agent X: if X has a console open on this process, the pop is
read (two prebuilt queries) and handed straight to X's sockets, with no second trip over
the bus; then the ringing message is kept in ``screen_pops`` for a reload. Answer
elsewhere, the end of the ringing and the end of the call take the pop away again.
Frames (``screenpop.show``, ``screenpop.answered``, ``screenpop.gone``) go to the agents'
own user ids only: nobody else's console ever receives a pop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from ari_apps.screenpop.services import CALLER_KINDS, build_pop
from ari_apps.screenpop.store import PopStore
from callcenter.bus import BusMessage
from callcenter.logs import get_logger
from callcenter.store.engine import ReadLease
from webui.ws import WsHub

log = get_logger(__name__)
RINGING = "hotline.call.ringing"
ANSWERED = "hotline.call.answered"
STOPPED = "hotline.call.stopped_ringing"
ENDED = "hotline.call.ended"
TOPICS = (RINGING, ANSWERED, STOPPED, ENDED)
_ID_MAX = 64


def _text(payload: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = payload.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > _ID_MAX or "\x00" in value:
        raise ValueError(key)
    return value


def valid_ringing(payload: dict[str, Any]) -> dict[str, Any]:
    """The ringing message with the fields the pop reads checked; ValueError names a bad one."""
    _text(payload, "call_id")
    _text(payload, "agent")
    elder = payload.get("elder_id")
    if elder is not None and (not isinstance(elder, int) or isinstance(elder, bool)):
        raise ValueError("elder_id")
    if payload.get("caller_kind", "unknown") not in CALLER_KINDS:
        raise ValueError("caller_kind")
    number = payload.get("caller_number", "")
    if not isinstance(number, str) or len(number) > 32:
        raise ValueError("caller_number")
    keep = ("call_id", "agent", "queue", "caller_number", "elder_id", "caller_kind", "priority",
            "reason", "rung_at")
    return {k: payload.get(k) for k in keep}


class PopRelay:
    """Applies the hotline's call topics to this process's consoles and to the pop rows."""

    def __init__(self, hub: WsHub, lease: Callable[[], ReadLease], store: PopStore,
                 clock: Callable[[], datetime]) -> None:
        self._hub = hub
        self._lease = lease
        self._store = store
        self._clock = clock
        #: Messages handled so far, for whoever waits on the relay having caught up.
        self.handled = 0
        self._progress: asyncio.Condition | None = None

    def _user_ids(self, agents: Iterable[str]) -> list[int]:
        wanted = set(agents)
        return sorted({c.principal.user_id for c in self._hub.clients
                       if c.principal.username in wanted})

    def _send(self, topic: str, payload: dict[str, Any], agents: Iterable[str]) -> int:
        users = self._user_ids(agents)
        if not users:
            return 0
        return self._hub.deliver(BusMessage(topic, payload, {"users": users}))

    async def pop_for(self, ringing: dict[str, Any]) -> dict[str, Any]:
        """The pop of one ringing message, read on a lease of the read pool."""
        lease = self._lease()
        try:
            return await lease.run(lambda conn: build_pop(conn, ringing, self._clock()))
        finally:
            await lease.release()

    async def handle(self, message: BusMessage) -> None:
        try:
            await self._handle(message)
        finally:
            self.handled += 1
            if self._progress is not None:
                async with self._progress:
                    self._progress.notify_all()

    async def caught_up(self, count: int, within: float = 10.0) -> None:
        """Wait until ``count`` messages have been handled (TimeoutError after ``within``)."""
        if self._progress is None:
            self._progress = asyncio.Condition()
        async with asyncio.timeout(within), self._progress:
            await self._progress.wait_for(lambda: self.handled >= count)

    async def _handle(self, message: BusMessage) -> None:
        payload = message.payload
        try:
            if message.topic == RINGING:
                await self._ringing(valid_ringing(payload))
            elif message.topic == ANSWERED:
                call_id, agent = _text(payload, "call_id"), _text(payload, "agent", required=False)
                assert call_id is not None
                others = await self._store.answered(call_id, agent)
                self._send("screenpop.gone", {"call_id": call_id, "why": "answered_elsewhere"},
                           others)
                if agent:
                    self._send("screenpop.answered", {"call_id": call_id}, [agent])
            elif message.topic in (STOPPED, ENDED):
                call_id = _text(payload, "call_id")
                assert call_id is not None
                agent = _text(payload, "agent", required=False) if message.topic == STOPPED else None
                if message.topic == STOPPED and agent is None:
                    raise ValueError("agent")
                agents = await self._store.gone(call_id, agent)
                why = "stopped_ringing" if message.topic == STOPPED else "ended"
                self._send("screenpop.gone", {"call_id": call_id, "why": why},
                           {*agents, *([agent] if agent else [])})
        except ValueError as err:
            log.warning("screen-pop: bad hotline message ignored", topic=message.topic,
                        field=str(err))

    async def _ringing(self, ringing: dict[str, Any]) -> None:
        agent = str(ringing["agent"])
        if self._user_ids([agent]):
            pop = await self.pop_for(ringing)
            self._send("screenpop.show", pop, [agent])
        # After the frame: the row is for a reload, not on the agent's critical path.
        await self._store.ringing(agent, str(ringing["call_id"]), ringing, self._clock())
