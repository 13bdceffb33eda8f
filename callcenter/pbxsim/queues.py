"""app_queue: queues, members, strategies, and its AMI events in Asterisk 22's order."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

from callcenter.pbxsim.calls import Calls, Leg, Target, parse_endpoint
from callcenter.pbxsim.clock import settle
from callcenter.pbxsim.model import Model
from callcenter.pbxsim.objects import Bridge, Channel

NOT_INUSE, INUSE, UNAVAILABLE, RINGING = 1, 2, 5, 6


@dataclass
class Member:
    """A queue member (dynamic, as QueueAdd makes them)."""

    interface: str
    name: str
    penalty: int = 0
    paused: bool = False
    reason: str = ""
    calls: int = 0
    last_call: int = 0
    last_pause: int = 0
    login: int = 0
    status: int = NOT_INUSE
    in_call: bool = False
    wrapup: int = 0  # the member's own wrap-up; 0 = the queue's (as app_queue does)
    call_ended: float = 0.0  # exact end of the last call (LastCall is whole seconds)

    def fields(self, queue: str) -> dict[str, str]:
        """The member block of QueueMember* events."""
        return {"Queue": queue, "MemberName": self.name, "Interface": self.interface,
                "StateInterface": self.interface, "Membership": "dynamic",
                "Penalty": str(self.penalty), "CallsTaken": str(self.calls),
                "LastCall": str(self.last_call), "LastPause": str(self.last_pause),
                "LoginTime": str(self.login), "InCall": str(int(self.in_call)),
                "Status": str(self.status), "Paused": str(int(self.paused)),
                "PausedReason": self.reason, "Ringinuse": "0", "Wrapuptime": str(self.wrapup)}


@dataclass
class Entry:
    """A caller waiting in a queue."""

    ch: Channel
    joined: float
    prio: int
    position: int
    legs: list[tuple[Member, Leg]] = field(default_factory=list)
    state: str = "waiting"  # waiting, talking, done
    agent: tuple[Member, Leg] | None = None
    connected_at: float = 0.0
    ring_started: float = 0.0
    result: asyncio.Future[str] | None = None
    options: str = ""  # Queue()'s options: ``t`` lets the agent transfer


@dataclass
class Queue:
    """One queue of queues.conf."""

    name: str
    strategy: str = "ringall"
    timeout: float = 15
    retry: float = 2
    wrapuptime: int = 0
    maxlen: int = 0
    max_wait: float = 300  # the Queue() timeout argument of the rendered dialplan
    #: ``joinempty = unavailable,invalid`` (the rendered hotline queues): a caller is not
    #: let in while no member could be rung (none, or every one unreachable); QUEUESTATUS
    #: JOINEMPTY and no queue event. False: anybody joins (joinempty = yes).
    refuse_empty: bool = False
    members: list[Member] = field(default_factory=list)
    callers: list[Entry] = field(default_factory=list)
    completed: int = 0
    abandoned: int = 0
    holdtime: int = 0
    talktime: int = 0
    rr_next: int = 0

    def member(self, interface: str) -> Member | None:
        """The member with this interface."""
        return next((m for m in self.members if m.interface == interface), None)


class QueueError(Exception):
    """An AMI queue action that fails; the message is Asterisk's."""


class Queues:
    """All queues; callers enter through ``enter`` (the dialplan ``Queue()`` app)."""

    def __init__(self, model: Model, calls: Calls) -> None:
        self.model = model
        self.calls = calls
        self.clock = model.clock
        self.queues: dict[str, Queue] = {"hotline": Queue("hotline")}
        self._talking: dict[str, tuple[Queue, Entry]] = {}
        #: Agents' channels in an attended transfer: their hangup completes it (transfers.py).
        self.transferring: set[str] = set()
        calls.detach_hooks.append(self._on_detach)

    def _now(self) -> int:
        return int(self.clock.now())

    def _emit(self, name: str, fields: dict[str, str]) -> None:
        self.model.ami_event(name, fields)

    # --- membership (AMI actions) -------------------------------------------------------------
    def add(self, queue: str, interface: str, name: str = "", penalty: int = 0,
            paused: bool = False, reason: str = "") -> None:
        """QueueAdd."""
        q = self.queues.get(queue)
        if q is None:
            raise QueueError("Unable to add interface to queue: No such queue")
        if q.member(interface) is not None:
            raise QueueError("Unable to add interface: Already there")
        m = Member(interface, name or interface, penalty, paused, reason, login=self._now())
        if self.unreachable(interface):
            m.status = UNAVAILABLE  # an unregistered softphone: app_queue never rings it
        if paused:
            m.last_pause = self._now()
        q.members.append(m)
        self._emit("QueueMemberAdded", m.fields(q.name))

    def remove(self, queue: str, interface: str) -> None:
        """QueueRemove."""
        q = self.queues.get(queue)
        if q is None:
            raise QueueError("Unable to remove interface from queue: No such queue")
        m = q.member(interface)
        if m is None:
            raise QueueError("Unable to remove interface: Not there")
        q.members.remove(m)
        self._emit("QueueMemberRemoved", m.fields(q.name))

    def pause(self, queue: str, interface: str, paused: bool, reason: str = "") -> None:
        """QueuePause (in one queue, or in all when ``queue`` is empty)."""
        found = False
        for q in self.queues.values():
            if queue and q.name != queue:
                continue
            m = q.member(interface)
            if m is None:
                continue
            found = True
            m.paused, m.reason = paused, reason if paused else ""
            m.last_pause = self._now()
            self._emit("QueueMemberPause", m.fields(q.name))
        if not found:
            raise QueueError("Interface not found")

    def unreachable(self, interface: str) -> bool:
        """A PJSIP endpoint with no registered contact."""
        tech, _, endpoint = interface.partition("/")
        return tech == "PJSIP" and endpoint in self.calls.directory.unregistered

    def registration_changed(self, endpoint: str) -> None:
        """A softphone (un)registered: QueueMemberStatus for its memberships."""
        for q in self.queues.values():
            for m in q.members:
                if m.interface == f"PJSIP/{endpoint}" and not m.in_call:
                    self._set_status(q, m, UNAVAILABLE if self.unreachable(m.interface)
                                     else NOT_INUSE)

    def forget(self) -> None:
        """Asterisk restarted: no members (persistentmembers = no), no callers."""
        for q in self.queues.values():
            q.members.clear()
            q.callers.clear()
        self._talking.clear()

    def _set_status(self, q: Queue, m: Member, status: int) -> None:
        if m.status != status:
            m.status = status
            self._emit("QueueMemberStatus", m.fields(q.name))

    # --- status (AMI lists) -------------------------------------------------------------------
    def status_events(self, queue: str = "", member: str = "") -> list[dict[str, str]]:
        """The QueueParams/QueueMember/QueueEntry events of QueueStatus."""
        out: list[dict[str, str]] = []
        now = self.clock.now()
        for q in self.queues.values():
            if queue and q.name != queue:
                continue
            out.append({"Event": "QueueParams", "Queue": q.name, "Max": str(q.maxlen),
                        "Strategy": q.strategy, "Calls": str(len(q.callers)),
                        "Holdtime": str(q.holdtime), "TalkTime": str(q.talktime),
                        "Completed": str(q.completed), "Abandoned": str(q.abandoned),
                        "ServiceLevel": "0", "ServicelevelPerf": "0.0",
                        "ServicelevelPerf2": "0.0", "Weight": "0"})
            for m in q.members:
                if member and m.interface != member:
                    continue
                f = m.fields(q.name)
                out.append({"Event": "QueueMember", "Queue": q.name, "Name": m.name,
                            "Location": m.interface, **{k: f[k] for k in (
                                "StateInterface", "Membership", "Penalty", "CallsTaken",
                                "LastCall", "LastPause", "LoginTime", "InCall", "Status",
                                "Paused", "PausedReason", "Wrapuptime")}})
            for pos, e in enumerate(q.callers, 1):
                out.append({"Event": "QueueEntry", "Queue": q.name, "Position": str(pos),
                            "Channel": e.ch.name, "Uniqueid": e.ch.id,
                            "CallerIDNum": e.ch.caller.number or "<unknown>",
                            "CallerIDName": e.ch.caller.name or "<unknown>",
                            "ConnectedLineNum": e.ch.connected.number or "<unknown>",
                            "ConnectedLineName": e.ch.connected.name or "<unknown>",
                            "Wait": str(int(now - e.joined)), "Priority": str(e.prio)})
        return out

    def summary_events(self, queue: str = "") -> list[dict[str, str]]:
        """The QueueSummary events."""
        now = self.clock.now()
        out = []
        for q in self.queues.values():
            if queue and q.name != queue:
                continue
            available = [m for m in q.members if self._available(q, m)]
            longest = max((now - e.joined for e in q.callers), default=0)
            out.append({"Event": "QueueSummary", "Queue": q.name,
                        "LoggedIn": str(len(q.members)), "Available": str(len(available)),
                        "Callers": str(len(q.callers)), "HoldTime": str(q.holdtime),
                        "TalkTime": str(q.talktime), "LongestHoldTime": str(int(longest))})
        return out

    # --- callers ------------------------------------------------------------------------------
    def _available(self, q: Queue, m: Member) -> bool:
        # The member's own wrap-up wins over the queue's, read now (not copied at QueueAdd,
        # so a queue reconfigured later applies to members already in it).
        wrapup = m.wrapup or q.wrapuptime
        wrapped = self.clock.now() - m.call_ended >= wrapup if m.call_ended else True
        return not m.paused and not m.in_call and m.status == NOT_INUSE and wrapped

    def _choose(self, q: Queue) -> list[Member]:
        candidates = [m for m in q.members if self._available(q, m)]
        if not candidates:
            return []
        best = min(m.penalty for m in candidates)
        tier = [m for m in candidates if m.penalty == best]
        if q.strategy == "ringall":
            return tier
        if q.strategy == "leastrecent":
            return [min(tier, key=lambda m: m.call_ended)]
        # rrmemory: the next member after the one rung last time
        order = q.members[q.rr_next:] + q.members[:q.rr_next]
        pick = next(m for m in order if m in tier)
        q.rr_next = (q.members.index(pick) + 1) % len(q.members)
        return [pick]

    async def enter(self, ch: Channel, name: str, max_wait: float, prio: int = 0,
                    position: int = 0, options: str = "") -> str:
        """Queue(): returns QUEUESTATUS (TIMEOUT, FULL, CONTINUE...) when the caller leaves."""
        q = self.queues.get(name)
        if q is None:
            return "UNKNOWN"
        if q.maxlen and len(q.callers) >= q.maxlen:
            return "FULL"
        if q.refuse_empty and all(m.status == UNAVAILABLE for m in q.members):
            return "JOINEMPTY"  # app_queue's join_queue: QUEUE_JOINEMPTY, nothing on AMI
        # app_queue's join_queue: before the first caller of lower priority, or at the
        # asked position if no caller of higher priority holds it.
        index = next((i for i, e in enumerate(q.callers)
                      if prio > e.prio or (position and prio >= e.prio and position <= i + 1)),
                     len(q.callers))
        entry = Entry(ch, self.clock.now(), prio, index + 1, options=options)
        entry.result = asyncio.get_running_loop().create_future()
        q.callers.insert(index, entry)
        self._emit("QueueCallerJoin", {**ch.ami(), "Queue": q.name, "Position": str(index + 1),
                                       "Count": str(len(q.callers))})
        self._emit("MusicOnHoldStart", {**ch.ami(), "Class": "default"})
        deadline = self.clock.elapsed() + max_wait
        try:
            while entry.state == "waiting":
                if self.clock.elapsed() >= deadline:
                    self._leave(q, entry)
                    return "TIMEOUT"
                if q.callers and q.callers[0] is entry:
                    members = self._choose(q)
                    if members:
                        await self._ring(q, entry, members, deadline)
                        if entry.state != "waiting":
                            break
                        await self.clock.sleep(q.retry)
                        continue
                await self.clock.sleep(1)
            return await entry.result
        finally:
            if entry in q.callers:
                q.callers.remove(entry)

    def _leave(self, q: Queue, entry: Entry) -> None:
        pos = q.callers.index(entry) + 1 if entry in q.callers else 1
        if entry in q.callers:
            q.callers.remove(entry)
        self._emit("QueueCallerLeave", {**entry.ch.ami(), "Queue": q.name, "Position": str(pos),
                                        "Count": str(len(q.callers))})

    async def _ring(self, q: Queue, entry: Entry, members: list[Member], deadline: float) -> None:
        ch = entry.ch
        entry.ring_started = self.clock.now()
        for m in members:
            target = self._target(m.interface)
            leg = self.calls.new_leg(target, linkedid=ch.linkedid, app_name="AppQueue")
            leg.caller = ch
            leg.ch.dialed_by = ch
            leg.ch.caller = ch.caller
            ch.dial_dest = leg.ch
            leg.on_answer = lambda lg, m=m: self._connect(q, entry, m, lg)
            entry.legs.append((m, leg))
            self._emit("AgentCalled", {**ch.ami(), **leg.ch.ami("Dest"), "Queue": q.name,
                                       "Interface": m.interface, "MemberName": m.name})
            self.model.spawn(self.calls.run_leg(leg, 3600))
        await settle(3)
        for m, leg in entry.legs:
            self._set_status(q, m, INUSE if leg.far is not None else RINGING)
        ring_for = min(q.timeout, max(0.0, deadline - self.clock.elapsed()))
        waiter = asyncio.gather(*(leg.answered for _, leg in entry.legs))
        ringing = self.model.spawn(self.clock.sleep(ring_for))
        done, _ = await asyncio.wait({waiter, ringing}, return_when=asyncio.FIRST_COMPLETED)
        ringing.cancel()
        if entry.state != "waiting":
            return
        for m, leg in list(entry.legs):
            if not leg.answered.done():
                # RingTime is in milliseconds here (AgentConnect's is in seconds).
                ring_ms = int((self.clock.now() - entry.ring_started) * 1000)
                self._emit("AgentRingNoAnswer", {**ch.ami(), **leg.ch.ami("Dest"),
                                                 "Queue": q.name, "Interface": m.interface,
                                                 "MemberName": m.name, "RingTime": str(ring_ms)})
                self.calls.cancel(leg, ("NOANSWER", "CANCEL"))
            self._set_status(q, m, NOT_INUSE)
        entry.legs.clear()
        if not waiter.done():
            waiter.cancel()

    def _target(self, interface: str) -> Target:
        tech, _, rest = interface.partition("/")
        if tech == "PJSIP" and "@" not in rest:
            return Target("PJSIP", rest, number=rest, trunk=rest)
        return parse_endpoint(interface, self.calls.directory)

    def _connect(self, q: Queue, entry: Entry, member: Member, leg: Leg) -> None:
        """An agent answered: cancel the others, leave the queue, bridge caller and agent."""
        ch = entry.ch
        for m, other in entry.legs:
            if other is not leg:
                self.calls.cancel(other)
                self._set_status(q, m, NOT_INUSE)
        entry.state, entry.agent, entry.connected_at = "talking", (member, leg), self.clock.now()
        member.in_call = True
        ch.dial_dest = leg.ch
        leg.ch.may_transfer = "t" in entry.options
        self._emit("MusicOnHoldStop", ch.ami())
        hold = int(self.clock.now() - entry.joined)
        self._leave(q, entry)
        self._emit("AgentConnect", {**ch.ami(), **leg.ch.ami("Dest"), "Queue": q.name,
                                    "Interface": member.interface, "MemberName": member.name,
                                    "HoldTime": str(hold),
                                    "RingTime": str(int(self.clock.now() - entry.ring_started))})
        q.holdtime = hold
        # A phone that answers turns from ringing to in use: app_queue hears the device
        # state change (a Local member reads in use from its first ring: no change then).
        # The device state comes through Asterisk's taskprocessors while the queue thread
        # goes on, so it usually trails AgentConnect; Asterisk does not order the two.
        self._set_status(q, member, INUSE)
        bridge = Bridge(str(uuid.uuid4()), "basic", "", self.clock.now(), creator="",
                        bridge_class="basic")
        self._emit("BridgeCreate", bridge.ami())
        entry.ch.variables["__queue__"] = q.name
        bridge.on_leave.append(lambda b, c: self._dissolve(b))
        self.model.enter_bridge(bridge, leg.ch)
        self.model.enter_bridge(bridge, ch)
        entry_ref = (q, entry)
        self._talking[ch.id] = entry_ref
        self._talking[leg.ch.id] = entry_ref
        if leg.far is not None:
            self._talking[leg.far.id] = entry_ref

    def _dissolve(self, bridge: Bridge) -> None:
        """A basic bridge with one party left ends the call of the other one too."""
        if bridge.channels and not bridge.held:
            last = bridge.channels[0]
            self.model.leave_bridge(last, quiet_vars=True)
            self._emit("BridgeDestroy", bridge.ami())
            self.calls.hangup(last, 16)

    def _on_detach(self, ch: Channel) -> None:
        """A caller or agent leaves: abandon, or AgentComplete at the end of a talk."""
        for q in self.queues.values():
            for entry in list(q.callers):
                if entry.ch is ch and entry.state == "waiting":
                    self._abandon(q, entry)
                    return
        if ch.id in self.transferring:
            return  # the attended transfer ends this agent's part (AgentComplete transfer)
        ref = self._talking.pop(ch.id, None)
        if ref is None:
            return
        q, entry = ref
        self._complete(q, entry, "caller" if ch is entry.ch else "agent")

    def transferred(self, agent: Channel) -> None:
        """app_queue's handle_attended_transfer: AgentComplete with Reason ``transfer``."""
        self.transferring.discard(agent.id)
        ref = self._talking.pop(agent.id, None)
        if ref is not None:
            self._complete(*ref, "transfer")

    def _complete(self, q: Queue, entry: Entry, reason: str) -> None:
        if entry.state != "talking" or entry.agent is None:
            return
        entry.state = "done"
        member, leg = entry.agent
        for key in (entry.ch.id, leg.ch.id, leg.far.id if leg.far else ""):
            self._talking.pop(key, None)
        talk = int(self.clock.now() - entry.connected_at)
        self._emit("AgentComplete", {**entry.ch.ami(), **leg.ch.ami("Dest"), "Queue": q.name,
                                     "Interface": member.interface, "MemberName": member.name,
                                     "HoldTime": str(int(entry.connected_at - entry.joined)),
                                     "TalkTime": str(talk), "Reason": reason})
        q.completed += 1
        q.talktime = talk
        member.calls += 1
        member.last_call = self._now()
        member.call_ended = self.clock.now()
        member.in_call = False
        self.model.spawn(self._member_free(q, member))
        # After a transfer the caller stays bridged with its new party inside Queue(), as
        # app_queue's bridge call returns only when the caller leaves the bridge.
        if entry.result is not None and not entry.result.done() and reason != "transfer":
            entry.result.set_result("CONTINUE" if reason == "caller" else "CONNECTED")

    async def _member_free(self, q: Queue, member: Member) -> None:
        await self.clock.sleep(0)
        self._set_status(q, member, NOT_INUSE)

    def _abandon(self, q: Queue, entry: Entry) -> None:
        ch = entry.ch
        pos = q.callers.index(entry) + 1
        entry.state = "done"
        for _m, leg in entry.legs:
            self.calls.cancel(leg, ("CANCEL", "CANCEL"))
        self._emit("QueueCallerAbandon", {**ch.ami(), "Queue": q.name, "Position": str(pos),
                                          "OriginalPosition": str(entry.position),
                                          "HoldTime": str(int(self.clock.now() - entry.joined))})
        q.abandoned += 1
        self._leave(q, entry)
        for m, _leg in entry.legs:
            self._set_status(q, m, NOT_INUSE)
        entry.legs.clear()
        if entry.result is not None and not entry.result.done():
            entry.result.set_result("ABANDON")
