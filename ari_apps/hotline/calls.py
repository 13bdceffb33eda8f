"""Call records from AMI queue events: one ``calls`` row per call, written as it moves.

The FastAGI route announces each call with its routing decision (``routed``); app_queue's
events then move it: ``QueueCallerJoin`` (queued), ``AgentCalled`` / ``AgentRingNoAnswer``
(an agent's phone rings / stops), ``AgentConnect`` (answered; its HoldTime is the wait),
``AgentComplete`` (ended; TalkTime), ``QueueCallerAbandon`` (abandoned, or a short abandon
under ``HOTLINE_SHORT_ABANDON_SECONDS``), and a ``Hangup`` of a caller who left the queue
unanswered otherwise (timeout, no agents: overflow). The row is written at every step,
so a restart loses nothing; ``reconcile`` closes or takes back what was open (after a
product restart, or an Asterisk restart that took the calls with it). Abandoned and
overflowed calls go to the callback list. A call seen in a queue without a routing
decision (another dialplan, the SOS fallback queue) is recorded too, as an unknown caller.
A queue call nobody followed (routed while the product was down) still moves its agent:
``AgentConnect``/``AgentComplete`` name the member, and a member whose device turns "Not in
use" after a call is free (``QueueMemberStatus``).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select

from ari_apps.hotline.agents import Agents, AgentState
from ari_apps.hotline.keys import (
    AUDIENCE,
    CALL_ANSWERED,
    CALL_ENDED,
    CALL_RINGING,
    CALL_ROUTED,
    CALL_STOPPED_RINGING,
    QUEUE_CHANGED,
)
from ari_apps.hotline.routing import LOOKUP_SECONDS, RoutingDecision, identify
from ari_apps.hotline.rules import CARE_CALL_VARIABLE, PRIORITIES
from ari_apps.hotline.store import HotlineStore
from ari_apps.sos.directory import normalise_number
from callcenter.asterisk import AmiClient, AmiEvent
from callcenter.bus import Bus, BusMessage
from callcenter.calls.models import Call, CallDirection, CallKind, CallOutcome
from callcenter.logs import get_logger
from callcenter.settings import Settings
from callcenter.store.direct import DirectStatements
from callcenter.store.engine import SessionFactory

log = get_logger(__name__)
MAX_PENDING = 10_000
#: ``[hotline-entry]``'s UserEvent as a caller arrives, before the greeting.
ARRIVED = "CallcenterHotline"
DIAL_OUTCOMES = {"BUSY": CallOutcome.BUSY, "NOANSWER": CallOutcome.NO_ANSWER,
                 "CANCEL": CallOutcome.NO_ANSWER, "CONGESTION": CallOutcome.FAILED,
                 "CHANUNAVAIL": CallOutcome.FAILED}
ROUTING_VARIABLES = ("CALLCENTER_CALLER_KIND", "CALLCENTER_ELDER_ID", "CALLCENTER_REASON",
                     "QUEUE_PRIO", "CALLCENTER_ROUTED_BY", CARE_CALL_VARIABLE)
DIAL_OUTCOMES_VALUES = {o.value for o in DIAL_OUTCOMES.values()}
NOT_IN_USE = "1"  # AST_DEVICE_NOT_INUSE, a QueueMemberStatus ``Status``
UP = "6"  # AST_STATE_UP, a channel event's ``ChannelState``


@dataclass
class LiveCall:
    """A call the product follows through a queue."""

    id: str
    uniqueid: str
    number: str
    kind: str = CallKind.HOTLINE.value
    caller_kind: str = "unknown"
    elder_id: int | None = None
    reason: str = ""
    priority: int = 0
    queue: str | None = None
    parent_id: str | None = None
    channel: str = ""
    started_at: datetime | None = None
    queued_at: datetime | None = None
    answered_at: datetime | None = None
    agent: str | None = None
    agent_channel: str = ""
    agent_uniqueid: str = ""
    ringing: set[str] = field(default_factory=set)
    position: int = 0
    state: str = "routed"  # routed, waiting, left, talking, done; a callback attempt's
    # "dialling" (its originate in flight here), "picked_up" (answered, not in a queue
    # yet) or "gone" (hung up before its originate was answered for)
    callback_id: int | None = None
    transferred: bool = False
    linkedid: str = ""  # Asterisk's linkedid: every channel of the call carries it
    care_call: str = ""  # the care call whose elder pressed 2 (CALLCENTER_CARE_CALL)
    care_reason: str = ""  # what the care call said of it (CALLCENTER_REASON before routing)
    no_callback: bool = False  # a consultation's part: its caller is with the agent
    adopted: bool = False  # found talking after a restart: its figures come at its end
    routed_by: str = ""  # fastagi, fallback, dialplan (CALLCENTER_ROUTED_BY)
    arrived: bool = False  # heard of at [hotline-entry], before any route


class CallbackHooks(Protocol):
    """What the callback list needs to hear from the tracker."""

    async def abandoned(self, call: LiveCall, at: datetime) -> None: ...

    async def attempt_ended(self, callback_id: int, call_id: str, connected: bool,
                            result: str) -> None: ...

    async def caller_called(self, number: str, call_id: str) -> None: ...


class ConsultHooks(Protocol):
    """What attended transfers (consult.py) need to hear from the tracker."""

    by_call: dict[str, Any]

    async def on_event(self, event: AmiEvent) -> bool: ...

    async def call_ended(self, call: LiveCall, reason: str) -> str | None: ...


class CallTracker:
    """AMI queue events → call rows, bus topics and agent states."""

    def __init__(self, store: HotlineStore, agents: Agents, bus: Bus, settings: Settings,
                 sessions: SessionFactory, clock: Callable[[], datetime],
                 ami: Callable[[], AmiClient], reads: DirectStatements | None = None) -> None:
        self._ami = ami
        self.reads = reads  # the route's: who a caller gone before the route was
        self.store = store
        self.agents = agents
        self.bus = bus
        self.settings = settings
        self.sessions = sessions
        self.clock = clock
        self.callbacks: CallbackHooks | None = None
        self.consults: ConsultHooks | None = None
        self.live: dict[str, LiveCall] = {}  # by the queue caller's uniqueid
        #: Calls announced by the router (or a callback/transfer) before they join a queue.
        self.expected: OrderedDict[str, LiveCall] = OrderedDict()
        #: Calls outside the queues, by channel: transfers out and click-to-dial.
        self.outside: dict[str, LiveCall] = {}
        #: Row writes still running behind a call's events, by call id.
        self._behind: dict[str, asyncio.Task[None]] = {}
        #: AgentCalled events whose ringing went out as they were read (uniqueid, agent, seq).
        self._rung: set[tuple[str, str, int]] = set()

    # -- announcements ------------------------------------------------------------------

    def routing(self, uniqueid: str, linkedid: str, number: str, decision: RoutingDecision,
                care_call: str = "", care_reason: str = "") -> LiveCall:
        """The FastAGI route decided: the call it makes, announced at once
        (``hotline.call.routed``), so that the consoles read the pop's facts while the
        route still sets the channel's variables. :meth:`routed` follows. A call heard of
        on arrival keeps its arrival as its start: the greeting is part of the call."""
        arrival = self.expected.get(uniqueid)
        if arrival is not None and not arrival.arrived:
            arrival = None
        call = LiveCall(id=linkedid or uniqueid, uniqueid=uniqueid,
                        number=normalise_number(number), caller_kind=decision.caller_kind,
                        elder_id=decision.elder_id, reason=decision.reason,
                        priority=decision.priority, queue=decision.queue,
                        started_at=(arrival and arrival.started_at) or self.clock(),
                        care_call=care_call,
                        care_reason=care_reason if care_call else "",
                        routed_by=decision.routed_by)
        self._own_id(call)
        if arrival is not None:
            # From now on this is the call a hang-up ends (once, with who called).
            self.expected[uniqueid] = call
        self.bus.publish_nowait(self._routed(call))
        return call

    async def routed(self, call: LiveCall, *, callback_pending: bool = True) -> LiveCall:
        """The route set the channel's variables: the row exists from this moment. Its
        write runs behind the route, which waits for it: a FastAGI request that timed out
        meanwhile does not cancel the write. A call its caller's hang-up ended meanwhile
        is not waited for in a queue again (its row still gets who called). The caller's
        waiting callbacks are cleared, unless the route's read found none
        (``callback_pending`` False)."""
        if call.state != "done":
            self.expect(call)
        written = self._save_behind(
            call, kind=call.kind, direction=CallDirection.INBOUND.value,
            caller_number=call.number, called_number=self.settings.sos_caller_id,
            caller_kind=call.caller_kind, elder_id=call.elder_id, queue=call.queue,
            priority=call.priority, started_at=call.started_at,
            care_call_id=call.care_call or None,
            details={"uniqueid": call.uniqueid, "reason": call.reason,
                     "routed_by": call.routed_by,
                     **({"care_reason": call.care_reason} if call.care_call else {})})
        await asyncio.shield(written)
        if self.callbacks is not None and call.number and callback_pending:
            await self.callbacks.caller_called(call.number, call.id)
        return call

    def expect(self, call: LiveCall) -> None:
        """A call that will join a queue on channel ``call.uniqueid``."""
        self.expected[call.uniqueid] = call
        while len(self.expected) > MAX_PENDING:
            self.expected.popitem(last=False)

    async def announce(self, call: LiveCall) -> None:
        """``hotline.call.routed``: who is on the way to a queue, so that each console
        process reads what the pop shows of them before any agent's phone rings."""
        await self.bus.publish(self._routed(call))

    def _routed(self, call: LiveCall) -> BusMessage:
        return BusMessage(CALL_ROUTED, {
            "call_id": call.id, "uniqueid": call.uniqueid, "queue": call.queue,
            "caller_number": call.number, "elder_id": call.elder_id,
            "caller_kind": call.caller_kind, "priority": call.priority, "reason": call.reason,
            "care_call": call.care_call or None, "care_reason": call.care_reason}, AUDIENCE)

    # -- AMI events ---------------------------------------------------------------------

    async def on_event(self, event: AmiEvent) -> None:
        """The one AMI handler for queue and hangup events (in order per call)."""
        if self.consults is not None and self.consults.by_call \
                and await self.consults.on_event(event):
            return
        handler = getattr(self, f"_on_{event.name}", None)
        if handler is not None:
            await handler(event)

    async def _on_UserEvent(self, event: AmiEvent) -> None:  # noqa: N802 - AMI names
        """``[hotline-entry]``'s first step, before the greeting: the call is recorded from
        here, so that a caller gone before the route is called back (the route, or the
        queue's events, then carry it on)."""
        uniqueid = event.get("Uniqueid")
        if (event.get("UserEvent") != ARRIVED or event.get("Stage") != "arrived"
                or not uniqueid or event.get("CareCall")
                or uniqueid in self.expected or uniqueid in self.live):
            return  # another event, a care call's elder, or routed already
        number = normalise_number(event.get("CallerIDNum"))
        call = LiveCall(id=event.get("Linkedid") or uniqueid, uniqueid=uniqueid,
                        number="" if number == "unknown" else number,
                        queue=self.settings.hotline_default_queue, started_at=self.clock(),
                        arrived=True)
        self._own_id(call)
        self.expect(call)
        self._save_behind(call, kind=call.kind, direction=CallDirection.INBOUND.value,
                          caller_number=call.number, called_number=self.settings.sos_caller_id,
                          caller_kind=call.caller_kind, queue=call.queue,
                          started_at=call.started_at, details={"uniqueid": uniqueid})

    def arrived_as(self, uniqueid: str) -> str:
        """The row id of the call heard of on arrival on channel ``uniqueid`` (not yet
        routed), or ""."""
        call = self.expected.get(uniqueid) if uniqueid else None
        return call.id if call is not None and call.arrived else ""

    async def _on_QueueCallerJoin(self, event: AmiEvent) -> None:  # noqa: N802 - AMI names
        uniqueid = event.get("Uniqueid")
        call = self.expected.pop(uniqueid, None) or self.live.get(uniqueid)
        now = self.clock()
        if call is None or call.arrived:  # routed by the fallback script, or a dialplan
            call = await self._unannounced(event, now)  # without routing
        call.queue, call.queued_at, call.state = event.get("Queue"), now, "waiting"
        call.channel = event.get("Channel")
        call.linkedid = event.get("Linkedid") or call.linkedid
        call.position = int(event.get("Position") or 0)
        self.live[uniqueid] = call
        # Written behind: app_queue rings an idle agent at once, and the pop must not wait.
        self._save_behind(call, queue=call.queue, queued_at=now, details={"uniqueid": uniqueid})
        await self._queue_changed(call.queue or "")

    async def _unannounced(self, event: AmiEvent, now: datetime) -> LiveCall:
        """A queue caller the FastAGI route never saw: what the channel says of it."""
        call = await self._from_channel(event, now)
        await self._record_unannounced(call)
        return call

    async def _from_channel(self, event: AmiEvent, now: datetime) -> LiveCall:
        """A call from a caller channel's event (QueueCallerJoin, CoreShowChannel) and its
        routing variables."""
        uniqueid = event.get("Uniqueid")
        number = normalise_number(event.get("CallerIDNum"))
        values = await self._channel_variables(event.get("Channel"))
        elder = values.get("CALLCENTER_ELDER_ID", "")
        call = LiveCall(id=event.get("Linkedid") or uniqueid, uniqueid=uniqueid,
                        number="" if number == "unknown" else number, started_at=now,
                        caller_kind=values.get("CALLCENTER_CALLER_KIND") or "unknown",
                        elder_id=int(elder) if elder.isdigit() else None,
                        reason=values.get("CALLCENTER_REASON", ""),
                        priority=_int(values.get("QUEUE_PRIO")))
        call.care_call = values.get(CARE_CALL_VARIABLE, "")
        call.routed_by = values.get("CALLCENTER_ROUTED_BY") or "dialplan"
        self._own_id(call)
        return call

    async def waiting_found(self, entry: AmiEvent, channel: AmiEvent | None,
                            arrival: LiveCall | None = None) -> LiveCall | None:
        """A caller waiting in a queue after a restart, routed by the classic script while
        the product was down: followed from now on as waiting, so that an answer, an
        abandon and its callback find it, its row written from the channel's routing
        variables (QueueStatus ``entry``; CoreShowChannel ``channel``: its linkedid, and
        how long it has been up). The row is the ``arrival`` one, written as the caller
        came and knowing no caller yet; else a new one, unless another row has its id
        (None, as :meth:`adopt`)."""
        now = self.clock()
        queued_at = now - timedelta(seconds=_int(entry.get("Wait")))
        up = _duration(channel.get("Duration")) if channel is not None else timedelta()
        call = await self._from_channel(entry, min(queued_at, now - up))
        linkedid = (channel.get("Linkedid") if channel is not None else "") or call.id
        if arrival is not None:
            call.id, call.started_at = arrival.id, arrival.started_at
        else:
            call.id = linkedid
            if await self._row_taken(call):
                return None
        call.channel, call.linkedid, call.state = entry.get("Channel"), linkedid, "waiting"
        call.queue = entry.get("Queue") or (arrival.queue if arrival is not None else None)
        call.queued_at = queued_at
        self.expected.pop(call.uniqueid, None)
        self.live[call.uniqueid] = call
        await self._record_unannounced(call, queue=call.queue, queued_at=queued_at)
        log.info("hotline caller taken up waiting after a restart", call_id=call.id,
                 queue=call.queue, caller_kind=call.caller_kind)
        return call

    async def _record_unannounced(self, call: LiveCall, **fields: Any) -> None:
        await self.announce(call)
        details = {"uniqueid": call.uniqueid, "reason": call.reason,
                   "routed_by": call.routed_by, **fields.pop("details", {})}
        await self._save(call, kind=call.kind, direction=CallDirection.INBOUND.value,
                         caller_number=call.number, called_number=self.settings.sos_caller_id,
                         started_at=call.started_at,
                         caller_kind=call.caller_kind, elder_id=call.elder_id,
                         priority=call.priority, care_call_id=call.care_call or None,
                         details=details, **fields)
        if self.callbacks is not None and call.number:
            await self.callbacks.caller_called(call.number, call.id)

    async def adopt(self, caller: AmiEvent, agent_leg: AmiEvent,
                    agent: AgentState, row: str | None = None) -> LiveCall | None:
        """A queue call found talking after a restart that no row follows (routed while
        the product was down), or whose open ``row`` never saw the queue: followed from now
        on (its AgentComplete ends it), from the caller's and the agent leg's
        CoreShowChannel. None: another row has its id already (an ended call whose caller
        stayed in ``Queue()`` after a transfer): left alone."""
        now = self.clock()
        call = await self._from_channel(caller, now - _duration(caller.get("Duration")))
        if row is not None:
            call.id = row
        elif await self._row_taken(call):
            return None
        call.queue = caller.get("ApplicationData").split(",")[0]
        call.channel, call.linkedid = caller.get("Channel"), caller.get("Linkedid")
        call.state, call.agent, call.adopted = "talking", agent.agent, True
        call.agent_channel = agent_leg.get("Channel")
        call.agent_uniqueid = agent_leg.get("Uniqueid")
        # The agent leg lives from its first ring: an early answer the end corrects.
        call.answered_at = now - _duration(agent_leg.get("Duration"))
        self.live[call.uniqueid] = call
        await self._record_unannounced(
            call, queue=call.queue, agent=call.agent, answered_at=call.answered_at,
            details={"adopted": True, "agent_channel": call.agent_channel,
                     "agent_uniqueid": call.agent_uniqueid})
        await self.agents.call_state(agent, in_call=True)
        log.info("hotline call taken up after a restart", call_id=call.id, agent=agent.agent,
                 queue=call.queue)
        return call

    async def _row_taken(self, call: LiveCall) -> bool:
        async with self.sessions() as db:
            taken = await db.execute(select(Call.id).where(
                Call.id.in_({call.id, call.uniqueid})).limit(1))
            return taken.first() is not None

    def _own_id(self, call: LiveCall) -> None:
        """A row id of its own: the linkedid, unless a live call has it (a transfer back
        into a queue) or it is the care call's (the elder's care call continues as this
        call on the same channel: the care call's row keeps that id)."""
        if call.care_call and call.id == call.care_call:
            call.id = f"{call.care_call}-hotline"
        elif any(c.id == call.id for c in self.live.values()):
            call.id = call.uniqueid

    async def _channel_variables(self, channel: str) -> dict[str, str]:
        """AMI Getvar of the routing variables ([hotline-entry] sets them either way)."""
        values: dict[str, str] = {}
        try:
            ami = self._ami()
            for name in ROUTING_VARIABLES:
                resp = await ami.send_action({"Action": "Getvar", "Channel": channel,
                                              "Variable": name}, check=False)
                if resp.success:
                    values[name] = str(resp.headers.get("Value") or "")
        except Exception as err:  # noqa: BLE001 - the row is written without them
            log.warning("routing variables not readable", channel=channel,
                        error=type(err).__name__)
        return values

    def ringing_now(self, event: AmiEvent) -> None:
        """``AgentCalled`` as it is read (AmiClient.on_receipt): ``hotline.call.ringing``
        goes out at once for a call the product knows, so that the pop does not wait
        behind the work of the call's earlier events (its join is still being handled
        when app_queue rings an idle agent). The ordered handler does the rest."""
        uniqueid = event.get("Uniqueid")
        call = self.live.get(uniqueid) or self.expected.get(uniqueid)
        if call is None:
            return  # unknown yet (fallback-routed): the ordered handler publishes it
        agent = self._agent_name(event)
        self._rung.add((uniqueid, agent, event.seq))
        self.bus.publish_nowait(self._ringing(call, agent, event.get("Queue") or call.queue))

    def _ringing(self, call: LiveCall, agent: str, queue: str | None) -> BusMessage:
        return BusMessage(CALL_RINGING, {
            "call_id": call.id, "agent": agent, "queue": queue,
            "caller_number": call.number, "elder_id": call.elder_id,
            "caller_kind": call.caller_kind, "priority": call.priority, "reason": call.reason,
            "care_call": call.care_call or None, "care_reason": call.care_reason,
            "rung_at": self.clock().isoformat()}, AUDIENCE)

    async def _on_AgentCalled(self, event: AmiEvent) -> None:  # noqa: N802
        uniqueid = event.get("Uniqueid")
        call = self.live.get(uniqueid)
        agent = self._agent_name(event)
        published = (uniqueid, agent, event.seq) in self._rung
        self._rung.discard((uniqueid, agent, event.seq))
        if call is None:
            log.warning("AgentCalled for a call the product does not follow",
                        uniqueid=uniqueid, queue=event.get("Queue"))
            return
        call.ringing.add(agent)
        if not published:
            await self.bus.publish(self._ringing(call, agent, call.queue))
        state = self.agents.find(event.get("MemberName"), event.get("Interface"))
        if state is not None:
            await self.agents.call_state(state, ringing=+1)

    async def _on_AgentRingNoAnswer(self, event: AmiEvent) -> None:  # noqa: N802
        call = self.live.get(event.get("Uniqueid"))
        if call is not None:
            await self._stop_ringing(call, self._agent_name(event), event)

    async def _stop_ringing(self, call: LiveCall, agent: str, event: AmiEvent | None) -> None:
        if agent not in call.ringing:
            return
        call.ringing.discard(agent)
        state = (self.agents.find(event.get("MemberName"), event.get("Interface"))
                 if event is not None else self.agents.by_agent.get(agent))
        if state is not None:
            await self.agents.call_state(state, ringing=-1)
        await self.bus.publish(BusMessage(CALL_STOPPED_RINGING,
                                          {"call_id": call.id, "agent": agent}, AUDIENCE))

    async def _on_AgentConnect(self, event: AmiEvent) -> None:  # noqa: N802
        call = self.live.get(event.get("Uniqueid"))
        if call is None:
            log.warning("AgentConnect for a call the product does not follow",
                        uniqueid=event.get("Uniqueid"))
            state = self.agents.find(event.get("MemberName"), event.get("Interface"))
            if state is not None and not state.in_call:
                await self.agents.call_state(state, in_call=True)  # Asterisk says so
            return
        agent = self._agent_name(event)
        now = self.clock()
        call.state, call.agent, call.answered_at = "talking", agent, now
        call.agent_channel = event.get("DestChannel")
        call.agent_uniqueid = event.get("DestUniqueid")
        for other in list(call.ringing - {agent}):
            await self._stop_ringing(call, other, None)
        call.ringing.discard(agent)
        state = self.agents.find(event.get("MemberName"), event.get("Interface"))
        if state is not None:
            state.ringing = max(0, state.ringing - 1)
            await self.agents.call_state(state, in_call=True)
        wait = int(event.get("HoldTime") or 0)
        await self._save(call, agent=agent, answered_at=now, wait_seconds=wait,
                         details={"agent_channel": call.agent_channel,
                                  "agent_uniqueid": event.get("DestUniqueid")})
        await self.bus.publish(BusMessage(CALL_ANSWERED, {
            "call_id": call.id, "agent": agent, "queue": call.queue,
            "answered_at": now.isoformat()}, AUDIENCE))
        if call.callback_id is not None and self.callbacks is not None:
            await self.callbacks.attempt_ended(call.callback_id, call.id, True, "connected")

    async def _on_AgentComplete(self, event: AmiEvent) -> None:  # noqa: N802
        call = self.live.get(event.get("Uniqueid"))
        if call is None:
            # Once Asterisk optimised a transfer's Local channel away, app_queue names the
            # caller that took its place: the agent's channel still says which call it is.
            call = next((c for c in self.live.values() if c.state == "talking"
                         and c.agent_uniqueid == event.get("DestUniqueid")), None)
        if call is None:
            await self._untracked_end(event)
            return
        if call.state != "talking":
            return  # a transferred call was ended by the transfer; its new part waits
        self.live.pop(call.uniqueid, None)
        call.state = "done"
        state = self.agents.find(event.get("MemberName"), event.get("Interface"))
        wrapup = self.settings.hotline_queues.get(call.queue or "", 0)
        if state is not None:
            await self.agents.call_state(state, in_call=False, wrapup_queue=call.queue)
        reason = event.get("Reason")
        details: dict[str, Any] = {}
        if call.adopted:  # app_queue's own figures of a call taken up midway
            held = int(event.get("HoldTime") or 0)
            answered = self.clock() - timedelta(seconds=int(event.get("TalkTime") or 0))
            await self._save(call, answered_at=answered, wait_seconds=held,
                             queued_at=answered - timedelta(seconds=held))
        if self.consults is not None:
            where = await self.consults.call_ended(call, reason)
            if where is not None:
                call.transferred = True
                details["transferred_to"] = where
        if reason == "transfer":  # an attended transfer (the console's, or the phone's)
            call.transferred = True
        outcome = CallOutcome.TRANSFERRED if call.transferred else CallOutcome.ANSWERED
        await self.ended(call, outcome, talk_seconds=int(event.get("TalkTime") or 0),
                        wrapup_seconds=wrapup, hangup_cause=reason or None,
                        **({"details": details} if details else {}))

    async def _on_QueueCallerAbandon(self, event: AmiEvent) -> None:  # noqa: N802
        call = self.live.pop(event.get("Uniqueid"), None)
        if call is None:
            return
        held = int(event.get("HoldTime") or 0)
        short = held < self.settings.hotline_short_abandon_seconds
        for agent in list(call.ringing):
            await self._stop_ringing(call, agent, None)
        call.state = "done"
        outcome = CallOutcome.SHORT_ABANDON if short else CallOutcome.ABANDONED
        await self.ended(call, outcome, wait_seconds=held)
        await self._queue_changed(call.queue or "")

    async def _on_QueueCallerLeave(self, event: AmiEvent) -> None:  # noqa: N802
        call = self.live.get(event.get("Uniqueid"))
        if call is not None and call.state == "waiting":
            call.state = "left"  # AgentConnect follows, or a Hangup (timeout, no agents)
        if call is not None:
            await self._queue_changed(call.queue or "", leaving=call)

    async def _on_DialEnd(self, event: AmiEvent) -> None:  # noqa: N802
        call = self.outside.get(event.get("Uniqueid"))
        if call is None:
            return
        status = event.get("DialStatus")
        if status == "ANSWER":
            call.answered_at = self.clock()
            await self._save(call, answered_at=call.answered_at)
        else:
            call.state = DIAL_OUTCOMES.get(status, CallOutcome.FAILED).value

    async def _on_Hangup(self, event: AmiEvent) -> None:  # noqa: N802
        outside = self.outside.pop(event.get("Uniqueid"), None)
        if outside is not None:
            await self._end_outside(outside, event)
            return
        before = self.expected.get(event.get("Uniqueid"))
        if before is not None and before.callback_id is not None:
            await self._attempt_hung_up(before, event)
            return
        if before is not None and before.kind == CallKind.HOTLINE.value \
                and before.parent_id is None:
            await self.left_before_a_queue(before, event.get("Cause-txt") or None)
            return
        call = self.live.get(event.get("Uniqueid"))
        if call is None or call.state not in ("left", "waiting"):
            return
        self.live.pop(call.uniqueid, None)
        for agent in list(call.ringing):
            await self._stop_ringing(call, agent, None)
        call.state = "done"
        waited = int((self.clock() - (call.queued_at or self.clock())).total_seconds())
        await self.ended(call, CallOutcome.OVERFLOW, wait_seconds=waited,
                        hangup_cause=event.get("Cause-txt") or None)
        await self._queue_changed(call.queue or "")

    async def _attempt_hung_up(self, call: LiveCall, event: AmiEvent) -> None:
        """A callback attempt's channel gone before a queue took it. Picked up (as
        ``Callbacks.dial`` read its originate, or up when it went: an attempt taken back
        after a restart): the elder left or no queue let them in, as any caller before a
        queue. Its originate still answered for in this process: ``dial`` ends it. Else it
        rang out, taken back after a restart with nobody left to read its originate: ended
        here as not answered, and the next attempt follows (it stayed open for good)."""
        cause = event.get("Cause-txt") or None
        if call.state == "dialling":
            call.state = "gone"
        elif call.state == "picked_up" or event.get("ChannelState") == UP:
            await self.left_before_a_queue(call, cause)
        elif self.expected.get(call.uniqueid) is call:
            del self.expected[call.uniqueid]
            call.state = "done"
            await self.ended(call, CallOutcome.NO_ANSWER, hangup_cause=cause)
            if self.callbacks is not None and call.callback_id is not None:
                await self.callbacks.attempt_ended(call.callback_id, call.id, False,
                                                   CallOutcome.NO_ANSWER.value)

    async def left_before_a_queue(self, call: LiveCall, cause: str | None) -> None:
        """A routed caller gone before any queue took them: the queue refused them, nobody
        being logged in to take a call (joinempty: an overflow), or they hung up during the
        route or the greeting (an abandon; a short one under the threshold). The row closes
        either way, and the caller is called back; once (the route and the channel's
        Hangup may both tell)."""
        if self.expected.get(call.uniqueid) is not call:
            return
        del self.expected[call.uniqueid]
        call.state = "done"
        now = self.clock()
        waited = max(0, int((now - (call.started_at or now)).total_seconds()))
        if not call.arrived and not self.agents.can_take(call.queue or ""):
            outcome = CallOutcome.OVERFLOW
        elif waited < self.settings.hotline_short_abandon_seconds:
            outcome = CallOutcome.SHORT_ABANDON
        else:
            outcome = CallOutcome.ABANDONED
        if call.arrived and call.number:
            await self._identify(call)
        # Who called, with the end: a hang-up during the route ends the call before the
        # route's own write of it.
        await self.ended(call, outcome, wait_seconds=waited, hangup_cause=cause,
                         caller_kind=call.caller_kind, elder_id=call.elder_id,
                         priority=call.priority)

    async def _identify(self, call: LiveCall) -> None:
        """Who called, for a caller gone during the greeting (the row written on arrival
        knows only the number): the route's own read, so that the row, the callback and
        the last failed callback's alert to kin know the elder (on a real Asterisk the
        elder's hang-up was stored as an unknown caller's). The store away: left unknown."""
        if self.reads is None:
            return
        reads = self.reads
        try:
            async with asyncio.timeout(LOOKUP_SECONDS):
                caller, reason = await reads.run(
                    lambda reader: identify(reader, call.number, self.clock(), 0, call.id))
        except Exception as err:  # noqa: BLE001 - the call is ended and called back anyway
            log.warning("caller gone during the greeting not identified", call_id=call.id,
                        error=type(err).__name__)
            return
        call.caller_kind, call.elder_id = caller.kind, caller.elder_id
        call.reason, call.priority = reason, PRIORITIES[reason]

    async def _end_outside(self, call: LiveCall, event: AmiEvent) -> None:
        now = self.clock()
        if call.answered_at is not None:
            talk = int((now - call.answered_at).total_seconds())
            await self._save(call, ended_at=now, outcome=CallOutcome.ANSWERED.value,
                             talk_seconds=talk, hangup_cause=event.get("Cause-txt") or None)
            return
        outcome = call.state if call.state in DIAL_OUTCOMES_VALUES else CallOutcome.FAILED.value
        await self._save(call, ended_at=now, outcome=outcome,
                         hangup_cause=event.get("Cause-txt") or None)

    async def _untracked_end(self, event: AmiEvent) -> None:
        """The end of a queue call nobody followed: its agent is free, into the queue's
        wrap-up (unless they talk in a call the product follows)."""
        state = self.agents.find(event.get("MemberName"), event.get("Interface"))
        if state is None or self._followed(state.agent):
            return
        log.info("an agent's queue call the product did not follow ended",
                 agent=state.agent, queue=event.get("Queue"), uniqueid=event.get("Uniqueid"))
        await self.agents.call_state(state, in_call=False, wrapup_queue=event.get("Queue"))

    async def _on_QueueMemberStatus(self, event: AmiEvent) -> None:  # noqa: N802
        # app_queue's update_status (Asterisk 22): a member's device turning "Not in use"
        # completes its call (update_queue clears the start, so InCall is 0). InCall 0
        # alone proves nothing: a device change racing a connect says 0 as the call starts.
        if event.get("Status") != NOT_IN_USE or event.get("InCall") != "0":
            return
        state = self.agents.find(event.get("MemberName"), event.get("Interface"))
        if state is None or not state.in_call or self._followed(state.agent):
            return
        await self.agents.call_state(state, in_call=False, wrapup_queue=event.get("Queue"))

    def _followed(self, agent: str) -> bool:
        """Whether the agent talks in a call the product follows."""
        return any(c.state == "talking" and c.agent == agent for c in self.live.values())

    # -- endings ------------------------------------------------------------------------

    async def ended(self, call: LiveCall, outcome: CallOutcome, **fields: Any) -> None:
        now = self.clock()
        await self._save(call, ended_at=now, outcome=outcome.value, **fields)
        await self.bus.publish(BusMessage(CALL_ENDED, {
            "call_id": call.id, "queue": call.queue, "agent": call.agent,
            "outcome": outcome.value, "ended_at": now.isoformat()}, AUDIENCE))
        log.info("hotline call ended", call_id=call.id, outcome=outcome.value,
                 caller=call.number)
        if self.callbacks is None or call.no_callback:
            return
        unanswered = outcome in (CallOutcome.ABANDONED, CallOutcome.SHORT_ABANDON,
                                 CallOutcome.OVERFLOW)
        if call.callback_id is not None:
            if unanswered:
                await self.callbacks.attempt_ended(call.callback_id, call.id, False,
                                                   outcome.value)
        elif unanswered and call.number:
            await self.callbacks.abandoned(call, now)

    async def _save(self, call: LiveCall, **fields: Any) -> None:
        behind = self._behind.get(call.id)
        if behind is not None:
            await asyncio.shield(behind)  # the call's earlier write first: rows merge in order
        await self._write(call, fields)

    async def _write(self, call: LiveCall, fields: dict[str, Any]) -> None:
        if call.parent_id is not None:
            fields.setdefault("parent_id", call.parent_id)
        await self.store.save_call(call.id, **fields)

    def _save_behind(self, call: LiveCall, **fields: Any) -> asyncio.Task[None]:
        """Write the call's row without holding its next events (in order with its other
        writes; a failure is logged, a store outage journaled as any write)."""
        before = self._behind.get(call.id)

        async def write() -> None:
            try:
                if before is not None:
                    await asyncio.shield(before)
                await self._write(call, fields)
            except Exception:  # noqa: BLE001 - task boundary: the row's next write goes on
                log.exception("call row write failed", call_id=call.id)
            finally:
                if self._behind.get(call.id) is task:
                    del self._behind[call.id]

        task = asyncio.get_running_loop().create_task(write(), name=f"call-row-{call.id}")
        self._behind[call.id] = task
        return task

    async def flushed(self) -> None:
        """Every call row written behind is written."""
        while self._behind:
            await asyncio.gather(*self._behind.values(), return_exceptions=True)

    def _agent_name(self, event: AmiEvent) -> str:
        state = self.agents.find(event.get("MemberName"), event.get("Interface"))
        return state.agent if state is not None else (event.get("MemberName")
                                                      or event.get("Interface"))

    async def _queue_changed(self, queue: str, leaving: LiveCall | None = None) -> None:
        waiting = sorted((c for c in self.live.values()
                          if c.queue == queue and c.state == "waiting" and c is not leaving),
                         key=lambda c: (-c.priority, c.queued_at or self.clock()))
        since = min((c.queued_at for c in waiting if c.queued_at), default=None)
        await self.bus.publish(BusMessage(QUEUE_CHANGED, {
            "queue": queue, "waiting": len(waiting),
            "longest_wait_since": since.isoformat() if since else None,
            "callers": [{"call_id": c.id, "position": n, "priority": c.priority,
                         "since": c.queued_at.isoformat() if c.queued_at else None}
                        for n, c in enumerate(waiting, 1)]}, AUDIENCE))

    @staticmethod
    def dial_outcome(status: str) -> str:
        """The row outcome of a Dial that did not answer."""
        return DIAL_OUTCOMES.get(status, CallOutcome.FAILED).value

    def by_id(self, call_id: str) -> LiveCall | None:
        """A live call by its row id."""
        return next((c for c in self.live.values() if c.id == call_id), None)


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _duration(value: str | None) -> timedelta:
    """CoreShowChannel's ``Duration`` (``HH:MM:SS``)."""
    try:
        hours, minutes, seconds = (int(part) for part in (value or "").split(":"))
    except ValueError:
        return timedelta(0)
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)
