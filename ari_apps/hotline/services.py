"""The hotline's call control in one object, and the commands console processes send it.

A console process without call control reaches it over the bus (``callcenter.commands``):
``hotline.agent`` (login, pause, unpause, logout), ``hotline.agents``, ``hotline.transfer``,
``hotline.dial`` and ``hotline.supervise``. In the process that has it, the same commands
run locally without the bus.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ari_apps.hotline.agents import Agents
from ari_apps.hotline.agi import ROUTE, HotlineRoute
from ari_apps.hotline.callbacks import Callbacks
from ari_apps.hotline.calls import CallTracker
from ari_apps.hotline.consult import Consults
from ari_apps.hotline.exceptions import HotlineError, PbxUnavailable
from ari_apps.hotline.recovery import reconcile
from ari_apps.hotline.routing import warm_route
from ari_apps.hotline.snapshot import SnapshotWriter
from ari_apps.hotline.store import HotlineStore
from ari_apps.hotline.supervise import Supervision
from ari_apps.hotline.transfer import Transfers
from callcenter.asterisk import AmiClient, AsteriskCluster, FastAgiServer, StasisRouter
from callcenter.bus import Bus
from callcenter.calls.models import Call
from callcenter.commands import CommandPath
from callcenter.journal import Journal
from callcenter.logs import get_logger
from callcenter.notify.outbox import Outbox
from callcenter.scheduler import Scheduler
from callcenter.settings import Settings
from callcenter.store.direct import DirectStatements, touching
from callcenter.store.engine import SessionFactory

log = get_logger(__name__)
# Newchannel, Newstate and DialBegin follow attended transfers' Local channels (consult.py);
# QueueMemberStatus frees an agent whose call nobody followed (calls.py).
CALL_EVENTS = ("QueueCaller*", "Agent*", "QueueMemberStatus", "Hangup", "DialEnd",
               "Newchannel", "Newstate", "DialBegin", "UserEvent")
MEMBER_EVENTS = "QueueMember*"
#: Direct connections for call rows: several writes per call, each holding one for a round
#: trip (two queued the writes of 50 calls a second behind each other).
ROW_CONNECTIONS = 4


class HotlineService:
    """Routing, agents, call records, callbacks, transfers and supervision on one node."""

    def __init__(self, cluster: AsteriskCluster, router: StasisRouter | None,
                 sessions: SessionFactory, journal: Journal, scheduler: Scheduler,
                 outbox: Outbox, bus: Bus, settings: Settings,
                 clock: Callable[[], datetime]) -> None:
        self.cluster = cluster
        self.settings = settings
        self.clock = clock
        # The call rows' writes, and the route's reads (on the caller's time: never queued
        # behind writes), run on connections of their own (PostgreSQL), one statement each.
        self.direct = DirectStatements(sessions.kw["bind"], size=ROW_CONNECTIONS)
        self.route_reads = DirectStatements(sessions.kw["bind"])
        self.store = HotlineStore(sessions, journal, self.direct)
        self.agents = Agents(self.ami, self.store, sessions, settings, bus, clock)
        self.tracker = CallTracker(self.store, self.agents, bus, settings, sessions, clock,
                                   self.ami, self.route_reads)
        self.callbacks = Callbacks(sessions, self.store, self.tracker, scheduler, outbox, bus,
                                   settings, self.ami, clock, self.route_reads)
        consults = Consults(self.tracker, self.store, bus, self.ami, clock)
        self.transfers = Transfers(self.tracker, self.agents, self.store, settings, self.ami,
                                   clock, consults)
        self.supervision = Supervision(cluster, self.tracker, self.agents, sessions, settings)
        if router is not None:
            self.supervision.attach(router)
        self.route = HotlineRoute(self.route_reads, settings, self.tracker, clock)
        self.snapshot = SnapshotWriter(sessions, settings, clock)
        self.agi: FastAgiServer | None = None
        self._warming: asyncio.Future[Any] | None = None

    def ami(self) -> AmiClient:
        """The AMI client of the hotline's node (the first node)."""
        client = next(iter(self.cluster.ami.values()), None)
        if client is None or not client.connected:
            raise PbxUnavailable("Asterisk (AMI) is not connected")
        return client

    def attach(self, commands: CommandPath) -> None:
        """AMI handlers, the resync hook, the scheduler kind and the commands."""
        for pattern in CALL_EVENTS:
            self.cluster.on_ami(pattern, self.tracker.on_event)
        self.cluster.on_ami_receipt("AgentCalled", self.tracker.ringing_now)
        self.cluster.on_ami(MEMBER_EVENTS, self.agents.on_member_event)
        for client in self.cluster.ami.values():
            client.on_resync(self.resync)
            break
        self.callbacks.register()
        commands.handle("hotline.agent", self._agent_command)
        commands.handle("hotline.agents", self._agents_command)
        commands.handle("hotline.transfer", self._transfer_command)
        commands.handle("hotline.dial", self._dial_command)
        commands.handle("hotline.supervise", self._supervise_command)

    async def start(self, *, agi: bool = True) -> None:
        """The FastAGI route and the routing snapshot; the route's read and the call rows'
        connections are made ready in the background (a store that is down at the start
        must not hold the route: its calls go by the default decision meanwhile)."""
        self.snapshot.start()
        self._warming = asyncio.gather(self.route_reads.warm(warm_route),
                                       self.direct.warm(touching(Call.__table__)))
        if agi:
            self.agi = FastAgiServer(self.settings.agi_bind)
            self.agi.add_route(ROUTE, self.route.serve)
            await self.agi.start()

    async def resync(self, ami: AmiClient) -> None:
        """Every FullyBooted: agents re-applied and read back, open call rows reconciled."""
        await self.agents.resync(ami)
        await reconcile(self.tracker, ami)
        await self.callbacks.recover()

    async def close(self) -> None:
        """Stop serving."""
        if self.agi is not None:
            await self.agi.close()
        if self._warming is not None:
            self._warming.cancel()
            await asyncio.gather(self._warming, return_exceptions=True)
        await self.snapshot.close()
        await self.supervision.close()
        await self.agents.close()
        await self.tracker.flushed()  # the call rows written behind their events
        await self.direct.close()
        await self.route_reads.close()

    # -- commands -----------------------------------------------------------------------

    async def _agent_command(self, args: dict[str, Any]) -> dict[str, Any]:
        user, action = str(args["user"]), str(args["action"])
        if action == "login":
            return await self.agents.login(user, [str(q) for q in args.get("queues", [])])
        if action == "pause":
            return await self.agents.pause(user, str(args.get("reason", "")))
        if action == "unpause":
            return await self.agents.unpause(user)
        if action == "logout":
            return await self.agents.logout(user)
        raise HotlineError("unknown agent action", {"action": action})

    async def _agents_command(self, _args: dict[str, Any]) -> dict[str, Any]:
        return {"agents": self.agents.views()}

    async def _transfer_command(self, args: dict[str, Any]) -> dict[str, Any]:
        return await self.transfers.transfer(str(args["call"]), str(args.get("mode", "blind")),
                                             str(args.get("to", "")), str(args.get("target", "")),
                                             str(args["user"]))

    async def _dial_command(self, args: dict[str, Any]) -> dict[str, Any]:
        elder = args.get("elder_id")
        return await self.transfers.click_to_dial(str(args["user"]), str(args["number"]),
                                                  int(elder) if elder is not None else None)

    async def _supervise_command(self, args: dict[str, Any]) -> dict[str, Any]:
        return await self.supervision.supervise(str(args["call"]), str(args["user"]),
                                                str(args["mode"]))
