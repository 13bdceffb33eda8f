"""Agents over AMI: log in and out of queues, pause with a reason, and their state as
Asterisk reports it.

Asterisk is the truth for membership and pauses (``QueueMemberAdded/Removed/Pause/Status``
and, after any reconnect or Asterisk restart, ``QueueStatus``); the product is the truth for
what each agent *asked*: every login, logout, pause and unpause is an ``agent_events`` row.
On every AMI FullyBooted (the product's first login, a reconnect, an Asterisk restart) the
asked state is re-applied: members missing from a queue are added back with their pause
and reason, pauses that differ are set again, members who logged out are removed. So
logins and pause reasons survive restarts of the product and of Asterisk
(``persistentmembers = no``: Asterisk's own astdb copy could bring back agents who logged
out meanwhile). Ringing, in-call and wrap-up come from the call tracker (``calls.py``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from ari_apps.hotline.exceptions import (
    NoSoftphone,
    NotLoggedIn,
    SoftphoneTaken,
    SoftphoneUnregistered,
    UnknownPauseReason,
    UnknownQueue,
)
from ari_apps.hotline.keys import AGENT_CHANGED, AUDIENCE
from ari_apps.hotline.store import HotlineStore
from callcenter.asterisk import AmiActionError, AmiClient, AmiEvent
from callcenter.bus import Bus, BusMessage
from callcenter.calls.models import AgentEvent, AgentEventKind
from callcenter.logs import get_logger
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from callcenter.store.models import User

log = get_logger(__name__)
#: Device states (Asterisk ``enum ast_device_state``) of a softphone nobody can ring.
UNREACHABLE = {"4", "5"}
SETTLE_SECONDS = 2.0  # AST_DEVICE_INVALID, AST_DEVICE_UNAVAILABLE
#: What Asterisk appends to an interface to name one of its channels.
_CHANNEL_SUFFIX = re.compile(r"-[0-9a-f]{8}(;[12])?$")


@dataclass
class AgentState:
    """One agent as Asterisk and the call tracker report them."""

    agent: str
    interface: str
    queues: set[str] = field(default_factory=set)
    paused: bool = False
    reason: str = ""
    device: str = "1"
    ringing: int = 0
    in_call: bool = False
    wrapup_until: datetime | None = None
    since: datetime | None = None
    last_state: str = "logged_out"

    def state(self, now: datetime) -> str:
        """logged_out | idle | ringing | in_call | wrapup | paused."""
        if not self.queues:
            return "logged_out"
        if self.in_call:
            return "in_call"
        if self.ringing:
            return "ringing"
        if self.wrapup_until is not None and now < self.wrapup_until:
            return "wrapup"
        return "paused" if self.paused else "idle"

    def view(self, now: datetime) -> dict[str, Any]:
        """The ``hotline.agent.changed`` payload (also ``GET /api/agents``)."""
        return {"agent": self.agent, "state": self.state(now), "reason": self.reason,
                "queues": sorted(self.queues), "interface": self.interface,
                "reachable": self.device not in UNREACHABLE,
                "since": (self.since or now).isoformat()}

@dataclass(frozen=True)
class Asked:
    """What an agent asked for, from ``agent_events``."""

    queues: frozenset[str]
    paused: bool
    reason: str

async def asked_states(sessions: SessionFactory) -> dict[str, Asked]:
    """Each agent's last asked queues and pause, replayed from the trail."""
    queues: dict[str, set[str]] = {}
    pauses: dict[str, tuple[bool, str]] = {}
    async with sessions() as db:
        rows = await db.execute(select(AgentEvent).order_by(AgentEvent.at, AgentEvent.id))
        for event in rows.scalars():
            mine = queues.setdefault(event.agent, set())
            if event.kind == AgentEventKind.LOGIN and event.queue:
                mine.add(event.queue)
            elif event.kind == AgentEventKind.LOGOUT:
                mine.discard(event.queue) if event.queue else mine.clear()
                if not mine:
                    pauses.pop(event.agent, None)
            elif event.kind == AgentEventKind.PAUSE:
                pauses[event.agent] = (True, event.reason)
            elif event.kind == AgentEventKind.UNPAUSE:
                pauses[event.agent] = (False, "")
    return {agent: Asked(frozenset(qs), *pauses.get(agent, (False, "")))
            for agent, qs in queues.items()}

class Agents:
    """The roster: AMI actions for the console, AMI events into state, resync on boot."""

    def __init__(self, ami: Callable[[], AmiClient], store: HotlineStore,
                 sessions: SessionFactory, settings: Settings, bus: Bus,
                 clock: Callable[[], datetime]) -> None:
        self._ami = ami
        self.store = store
        self.sessions = sessions
        self.settings = settings
        self.bus = bus
        self.clock = clock
        self.by_agent: dict[str, AgentState] = {}
        self.by_interface: dict[str, AgentState] = {}
        self._lock = asyncio.Lock()
        #: Set (and replaced) at each change of any agent's state: what an action waits on.
        self._moved = asyncio.Event()
        self._timers: set[asyncio.TimerHandle] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- the console's actions ----------------------------------------------------------

    def interface_of(self, endpoint: str) -> str:
        """The queue member interface for a softphone endpoint (ENDPOINT_DIAL_TEMPLATE)."""
        return self.settings.endpoint_dial_template.format(endpoint=endpoint)

    async def endpoint(self, username: str) -> str | None:
        """The user's softphone endpoint from their profile (None: none, or not active)."""
        async with self.sessions() as db:
            return (await db.execute(select(User.endpoint).where(
                User.username == username, User.active.is_(True)))).scalar_one_or_none()

    async def _endpoint(self, username: str) -> str:
        endpoint = await self.endpoint(username)
        if not endpoint:
            raise NoSoftphone("no softphone endpoint in your profile", {"agent": username})
        return endpoint

    async def login(self, username: str, queues: list[str]) -> dict[str, Any]:
        """QueueAdd into ``queues`` (each must be a hotline queue); refused if unreachable."""
        unknown = [q for q in queues if q not in self.settings.hotline_queues]
        if unknown or not queues:
            raise UnknownQueue("unknown queue", {"queues": unknown,
                                                 "known": sorted(self.settings.hotline_queues)})
        interface = self.interface_of(await self._endpoint(username))
        asked = (await asked_states(self.sessions)).get(username)
        paused, reason = (asked.paused, asked.reason) if asked and asked.queues else (False, "")
        ami = self._ami()
        async with self._lock:
            added = []
            for queue in queues:
                try:
                    await ami.queue_add(queue, interface, member_name=username, paused=paused)
                    added.append(queue)
                except AmiActionError as err:
                    if "Already there" not in err.message:
                        raise UnknownQueue(f"Asterisk refused the queue: {err.message}",
                                           {"queue": queue}) from err
            members = [m for m in await ami.queue_status(member=interface)
                       if m.name == "QueueMember"]
            # "Already there" under another agent's name: that agent's calls would ring
            # here, and this user's pause or logout would be theirs.
            taken = {m.get("Queue"): m.get("Name") for m in members
                     if m.get("Queue") in queues and m.get("Queue") not in added
                     and m.get("Name") not in (None, "", username, interface)}
            device = next((m.get("Status") for m in members), "1")
            if taken or device in UNREACHABLE:
                for queue in added:
                    await ami.queue_remove(queue, interface)
            if taken:
                raise SoftphoneTaken(
                    "your softphone is logged in to the queue as another agent",
                    {"interface": interface, "agent": sorted(set(taken.values()))[0],
                     "queues": sorted(taken)})
            if device in UNREACHABLE:
                raise SoftphoneUnregistered(
                    "your softphone is not registered: Asterisk cannot ring it",
                    {"interface": interface, "device_state": device})
            if paused and reason:
                await ami.queue_pause(None, interface, True, reason=reason)
            now = self.clock()
            for queue in queues:
                await self.store.agent_event(username, queue, AgentEventKind.LOGIN, now)
        return await self._settled(username, lambda s: s is not None and set(queues) <= s.queues
                                   and s.paused == paused)

    async def pause(self, username: str, reason: str) -> dict[str, Any]:
        """QueuePause in every queue, with a reason from the settings."""
        if reason not in self.settings.hotline_pause_reasons:
            raise UnknownPauseReason("unknown pause reason", {
                "reason": reason, "known": sorted(self.settings.hotline_pause_reasons)})
        state = self._logged_in(username)
        await self._ami().queue_pause(None, state.interface, True, reason=reason)
        await self.store.agent_event(username, None, AgentEventKind.PAUSE, self.clock(), reason,
                                     self.settings.hotline_pause_reasons[reason])
        return await self._settled(username, lambda s: s is not None and s.paused)

    async def unpause(self, username: str) -> dict[str, Any]:
        """QueuePause false in every queue."""
        state = self._logged_in(username)
        await self._ami().queue_pause(None, state.interface, False)
        await self.store.agent_event(username, None, AgentEventKind.UNPAUSE, self.clock())
        return await self._settled(username, lambda s: s is not None and not s.paused)

    async def logout(self, username: str) -> dict[str, Any]:
        """QueueRemove from every queue (logged out even if Asterisk lost them already)."""
        state = self.by_agent.get(username)
        ami = self._ami()
        now = self.clock()
        queues = set(state.queues) if state else set()
        asked = (await asked_states(self.sessions)).get(username)
        queues |= set(asked.queues) if asked else set()
        if not queues:
            raise NotLoggedIn("not logged in to any queue", {"agent": username})
        for queue in sorted(queues):
            if state is not None:
                try:
                    await ami.queue_remove(queue, state.interface)
                except AmiActionError as err:
                    log.info("queue member already gone", agent=username, queue=queue,
                             error=err.message)
            await self.store.agent_event(username, queue, AgentEventKind.LOGOUT, now)
        return await self._settled(username, lambda s: s is None or not s.queues)

    def _logged_in(self, username: str) -> AgentState:
        state = self.by_agent.get(username)
        if state is None or not state.queues:
            raise NotLoggedIn("not logged in to any queue", {"agent": username})
        return state

    async def _settled(self, username: str,
                       done: Callable[[AgentState | None], bool]) -> dict[str, Any]:
        """The agent's state once Asterisk's events say the action ``done``: they follow
        its response, and on a real Asterisk may not even be read when it comes (an
        unpause answered "paused"). Bounded: the state as it is after SETTLE_SECONDS."""
        try:
            async with asyncio.timeout(SETTLE_SECONDS):
                await self._ami().dispatcher.drain()
                while True:
                    moved = self._moved
                    if done(self.by_agent.get(username)):
                        break
                    await moved.wait()
        except TimeoutError:
            log.info("agent state answered before Asterisk told the action's outcome",
                     agent=username)
        state = self.by_agent.get(username)
        now = self.clock()
        if state is None:
            return {"agent": username, "state": "logged_out", "reason": "", "queues": [],
                    "interface": "", "reachable": True, "since": now.isoformat()}
        return state.view(now)

    def views(self) -> list[dict[str, Any]]:
        """Every agent Asterisk knows, with their state."""
        now = self.clock()
        return [s.view(now) for s in sorted(self.by_agent.values(), key=lambda s: s.agent)]

    # -- AMI events ---------------------------------------------------------------------

    async def on_member_event(self, event: AmiEvent) -> None:
        """QueueMemberAdded/Removed/Pause/Status: Asterisk's word on a member."""
        queue, interface = event.get("Queue"), event.get("Interface")
        state = self.by_interface.get(interface)
        if event.name == "QueueMemberAdded":
            state = self._member(event.get("MemberName") or interface, interface)
        if state is None:
            log.warning("queue member event for a member the product does not know",
                        event_type=event.name, queue=queue, interface=interface)
            return
        if event.name == "QueueMemberRemoved":
            state.queues.discard(queue)
        elif queue:
            state.queues.add(queue)
        state.paused = event.get("Paused") == "1"
        state.reason = event.get("PausedReason") if state.paused else ""
        state.device = event.get("Status") or state.device
        await self.publish(state)

    def _member(self, agent: str, interface: str) -> AgentState:
        state = self.by_agent.get(agent)
        if state is None or state.interface != interface:
            if state is not None:
                self.by_interface.pop(state.interface, None)
            state = AgentState(agent, interface)
            self.by_agent[agent] = state
        self.by_interface[interface] = state
        return state

    async def publish(self, state: AgentState) -> None:
        """``hotline.agent.changed`` when the agent's state or reason changed."""
        now = self.clock()
        current = state.state(now)
        if current != state.last_state or state.since is None:
            state.since = now
        state.last_state = current
        self._moved.set()
        self._moved = asyncio.Event()
        await self.bus.publish(BusMessage(AGENT_CHANGED, state.view(now), AUDIENCE))

    # -- from the call tracker ----------------------------------------------------------

    def can_take(self, queue: str) -> bool:
        """Whether ``queue`` has a logged-in agent whose phone is reachable: app_queue
        refuses a caller otherwise (the rendered ``joinempty = unavailable,invalid``)."""
        return any(queue in s.queues and s.device not in UNREACHABLE
                   for s in self.by_agent.values())

    def find(self, member_name: str, interface: str) -> AgentState | None:
        """The agent behind a queue event's MemberName/Interface (None: not known)."""
        return self.by_interface.get(interface) or self.by_agent.get(member_name)

    def by_channel(self, channel: str) -> AgentState | None:
        """The agent whose member interface dialled ``channel`` (``PJSIP/agent-7001`` made
        ``PJSIP/agent-7001-0000002a``; ``Local/a@ctx/n`` made ``Local/a@ctx-00000051;1``)."""
        stem = _CHANNEL_SUFFIX.sub("", channel)
        return next((s for s in self.by_interface.values()
                     if stem in (s.interface, s.interface.removesuffix("/n"))), None)

    async def call_state(self, state: AgentState, *, ringing: int = 0,
                         in_call: bool | None = None, wrapup_queue: str | None = None) -> None:
        """Ringing (+1/-1), in a call, or wrapping up after one."""
        state.ringing = max(0, state.ringing + ringing)
        if in_call is not None:
            state.in_call = in_call
        if wrapup_queue is not None:
            seconds = self.settings.hotline_queues.get(wrapup_queue, 0)
            state.wrapup_until = self.clock() + timedelta(seconds=seconds)
            if seconds:
                handle = asyncio.get_running_loop().call_later(seconds, self._wrapped, state)
                self._timers.add(handle)
        await self.publish(state)

    def _wrapped(self, state: AgentState) -> None:
        task = asyncio.get_running_loop().create_task(self.publish(state))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- resync -------------------------------------------------------------------------

    async def resync(self, ami: AmiClient) -> None:
        """Re-apply what agents asked, then read the state back (every FullyBooted)."""
        async with self._lock:
            asked = await asked_states(self.sessions)
            members = [m for m in await ami.queue_status() if m.name == "QueueMember"]
            present = {(m.get("Name"), m.get("Queue")): m for m in members}
            endpoints = await self._endpoints(list(asked))
            for agent, wish in asked.items():
                endpoint = endpoints.get(agent)
                if endpoint is None:
                    continue
                interface = self.interface_of(endpoint)
                for queue in wish.queues:
                    member = present.get((agent, queue))
                    if member is None:
                        await self._readd(ami, agent, queue, interface, wish)
                    elif (member.get("Paused") == "1") != wish.paused or (
                            wish.paused and member.get("PausedReason") != wish.reason):
                        await ami.queue_pause(queue, member.get("Location"), wish.paused,
                                              reason=wish.reason or None)
            for (name, queue), member in present.items():
                if name in asked and queue not in asked[name].queues:
                    await ami.queue_remove(queue, member.get("Location"))
            await self._read_back(ami)

    async def _readd(self, ami: AmiClient, agent: str, queue: str, interface: str,
                     wish: Asked) -> None:
        try:
            await ami.queue_add(queue, interface, member_name=agent, paused=wish.paused)
            if wish.paused:
                await ami.queue_pause(queue, interface, True, reason=wish.reason or None)
            log.info("agent put back into queue", agent=agent, queue=queue, paused=wish.paused)
        except AmiActionError as err:
            log.error("agent could not be put back into queue", agent=agent, queue=queue,
                      error=err.message)

    async def _endpoints(self, agents: list[str]) -> dict[str, str]:
        if not agents:
            return {}
        async with self.sessions() as db:
            rows = await db.execute(select(User.username, User.endpoint).where(
                User.username.in_(agents), User.endpoint.is_not(None)))
            return {name: endpoint for name, endpoint in rows if endpoint}

    async def _read_back(self, ami: AmiClient) -> None:
        members = [m for m in await ami.queue_status() if m.name == "QueueMember"]
        seen: set[str] = set()
        for member in members:
            state = self._member(member.get("Name") or member.get("Location"),
                                 member.get("Location"))
            if state.agent not in seen:
                state.queues.clear()
                seen.add(state.agent)
            state.queues.add(member.get("Queue"))
            state.paused = member.get("Paused") == "1"
            state.reason = member.get("PausedReason") if state.paused else ""
            state.device = member.get("Status") or "1"
            state.in_call = member.get("InCall") == "1"
        for state in self.by_agent.values():
            if state.agent not in seen:
                state.queues.clear()
                state.in_call = False
            state.ringing = 0
        for state in list(self.by_agent.values()):
            await self.publish(state)

    async def close(self) -> None:
        """Stop the wrap-up timers."""
        for handle in self._timers:
            handle.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
