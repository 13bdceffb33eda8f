"""Attended transfers: the agent consults a target while the caller is held, then hands over.

Queue calls are not in Stasis, so the consultation is Asterisk's own attended transfer
(AMI ``Atxfer`` on the agent's channel; the rendered features.conf maps ``atxfer`` and
``Queue()`` runs with option ``t``). ``TRANSFER_EXTEN`` (set first with ``Setvar``)
names the ``[hotline-transfer]`` extension, so no digits are collected: ``q-<queue>``,
``a-<endpoint>`` or a number. Asterisk then holds the caller, moves the agent to a new
bridge and requests ``Local/<exten>@hotline-transfer`` (same linkedid as the call).

The product follows it on AMI events of the call's linkedid:
- ``Newchannel`` of the Local ``;1``/``;2`` halves: the consultation started (``;2`` is the
  queue caller for a queue target, or dials the agent/number: ``DialBegin``/``DialEnd``);
- ``Newstate`` Up of ``;1``: the target answered (complete is allowed from then on);
- ``Hangup`` of ``;1`` before completion: the target hung up, did not answer within
  ``atxfernoanswertimeout``, or the agent cancelled (``CancelAtxfer``): the agent is
  back with the caller; the console hears why;
- app_queue's ``AgentComplete`` with ``Reason: transfer``: completed (the product hangs
  the agent's channel up, which Asterisk turns into the completion; so does the agent
  hanging up their phone). The call's row ends ``transferred``.

The consultation is a row of its own from the start (``parent_id`` = the call; kind
``hotline`` for a queue, else ``transfer``), which continues the call once completed and
ends by itself when cancelled. As a continuation it is never offered, answered or
abandoned in the figures, and never put on the callback list.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ari_apps.hotline.calls import UP, CallTracker, LiveCall
from ari_apps.hotline.exceptions import (
    CallNotFound,
    CallNotLive,
    ConsultNotAnswered,
    PbxUnavailable,
    TransferFailed,
)
from ari_apps.hotline.keys import AUDIENCE, CONSULT_CHANGED
from ari_apps.hotline.store import HotlineStore
from callcenter.asterisk import AmiActionError, AmiClient, AmiError, AmiEvent
from callcenter.bus import Bus, BusMessage
from callcenter.calls.models import CallDirection, CallOutcome
from callcenter.logs import get_logger

log = get_logger(__name__)
TRANSFER_CONTEXT = "hotline-transfer"
#: Atxfer needs an extension to queue as DTMF: TRANSFER_EXTEN wins over it, and no
#: extension of [hotline-transfer] is this one digit, so it can never transfer by itself.
DIGITS = "0"
START_SECONDS = 5.0  # Atxfer acknowledged, yet no consultation channel: features not allowed
EVENTS = frozenset({"Newchannel", "Newstate", "DialBegin", "DialEnd", "Hangup"})


@dataclass
class Consult:
    """One attended transfer in progress, by the call it transfers."""

    call: LiveCall
    leg: LiveCall  # the consultation's own row (the continuation once completed)
    to: str
    target: str
    exten: str
    actor: str
    state: str = "calling"  # calling, talking, completing; then completed/cancelled/failed
    local: str = ""  # uniqueid of the Local ;1 half (in the agent's consult bridge)
    far: str = ""  # uniqueid of the ;2 half (the queue caller, or the channel dialling)
    dial_status: str = ""
    cancelled: bool = False
    started: asyncio.Event = field(default_factory=asyncio.Event)

    def view(self, error: str = "") -> dict[str, Any]:
        """What the console hears (``hotline.call.consult``)."""
        return {"call_id": self.call.id, "consult_call_id": self.leg.id, "agent": self.call.agent,
                "to": self.to, "target": self.target, "state": self.state, "error": error}


class Consults:
    """Start, complete and cancel attended transfers; follow them on AMI events."""

    def __init__(self, tracker: CallTracker, store: HotlineStore, bus: Bus,
                 ami: Callable[[], AmiClient], clock: Callable[[], datetime]) -> None:
        self.tracker = tracker
        self.store = store
        self.bus = bus
        self._ami = ami
        self.clock = clock
        self.start_seconds = START_SECONDS
        self.by_call: dict[str, Consult] = {}
        self._by_linkedid: dict[str, Consult] = {}
        tracker.consults = self

    # -- the console's actions ----------------------------------------------------------

    async def start(self, call: LiveCall, to: str, target: str, exten: str, kind: str,
                    actor: str) -> dict[str, Any]:
        """Hold the caller and ring the target from the agent's side."""
        if call.id in self.by_call:
            raise CallNotLive("this call is already in a consultation", {"call": call.id})
        linkedid = call.linkedid or call.id
        now = self.clock()
        leg = LiveCall(id=f"{call.id}-a{uuid.uuid4().hex[:6]}", uniqueid="", number=call.number,
                       kind=kind, caller_kind=call.caller_kind, elder_id=call.elder_id,
                       reason=call.reason, priority=call.priority,
                       queue=target if to == "queue" else None, parent_id=call.id,
                       started_at=now, linkedid=linkedid, no_callback=True)
        await self.store.save_call(leg.id, kind=kind, direction=CallDirection.INBOUND.value,
                                   caller_number=leg.number, caller_kind=leg.caller_kind,
                                   elder_id=leg.elder_id, queue=leg.queue, priority=leg.priority,
                                   parent_id=call.id, started_at=now,
                                   agent=target if to == "agent" else None,
                                   details={"mode": "attended", "transferred_by": actor,
                                            "to": to, "target": target})
        consult = Consult(call, leg, to, target, exten, actor)
        self.by_call[call.id] = consult
        self._by_linkedid[linkedid] = consult
        try:
            ami = self._ami()
            await ami.set_var(call.agent_channel, "TRANSFER_EXTEN", exten)
            await ami.attended_transfer(call.agent_channel, TRANSFER_CONTEXT, DIGITS)
            async with asyncio.timeout(self.start_seconds):
                await consult.started.wait()
        except (AmiError, TimeoutError) as err:
            await self._forget(consult, "failed")
            await self.store.save_call(leg.id, ended_at=self.clock(),
                                       outcome=CallOutcome.FAILED.value,
                                       hangup_cause=_why(err))
            if isinstance(err, TimeoutError):
                raise TransferFailed("Asterisk did not start the consultation (the atxfer "
                                     "feature or the queue's option t is missing)",
                                     {"call": call.id}) from err
            if isinstance(err, AmiActionError):
                raise TransferFailed(f"Asterisk refused the consultation: {err.message}",
                                     {"call": call.id}) from err
            raise PbxUnavailable("Asterisk is not reachable", {"call": call.id}) from err
        log.info("consultation started", call_id=call.id, to=to, consult=leg.id)
        await self._publish(consult)
        return {"call_id": call.id, "new_call_id": leg.id, "to": to, "target": target,
                "mode": "attended", "state": consult.state}

    async def complete(self, call_id: str) -> dict[str, Any]:
        """Join the caller to the target; the agent drops (Asterisk completes on hangup)."""
        consult = self._current(call_id)
        if consult.state != "talking":
            raise ConsultNotAnswered("the target has not answered yet: cancel, or wait",
                                     {"call": call_id, "state": consult.state})
        consult.state = "completing"
        try:
            await self._ami().hangup(consult.call.agent_channel, 16)
        except AmiError as err:
            consult.state = "talking"
            raise TransferFailed(f"Asterisk could not complete the transfer: {err.message}",
                                 {"call": call_id}) from err
        return self._result(consult)

    async def cancel(self, call_id: str) -> dict[str, Any]:
        """Drop the target; the agent is back with the caller."""
        consult = self._current(call_id)
        if consult.state not in ("calling", "talking"):
            raise CallNotLive("the transfer is being completed", {"call": call_id})
        consult.cancelled = True
        try:
            await self._ami().cancel_attended_transfer(consult.call.agent_channel)
        except AmiError as err:
            consult.cancelled = False
            raise TransferFailed(f"Asterisk could not cancel the consultation: {err.message}",
                                 {"call": call_id}) from err
        return self._result(consult)

    def _current(self, call_id: str) -> Consult:
        consult = self.by_call.get(call_id)
        if consult is None:
            raise CallNotFound("no consultation on this call", {"call": call_id})
        return consult

    def _result(self, consult: Consult) -> dict[str, Any]:
        return {"call_id": consult.call.id, "new_call_id": consult.leg.id, "to": consult.to,
                "target": consult.target, "mode": "attended", "state": consult.state}

    # -- AMI events (the tracker's, in order per linkedid) ------------------------------

    async def on_event(self, event: AmiEvent) -> bool:
        """Follow a consultation; True when the event was about its Local channel."""
        if event.name not in EVENTS:
            return False
        consult = self._by_linkedid.get(event.get("Linkedid"))
        if consult is None:
            return False
        uniqueid = event.get("Uniqueid")
        if event.name == "Newchannel":
            return self._new_channel(consult, event)
        dials = uniqueid == consult.far and consult.to != "queue"  # app_queue's are queue events
        if dials and event.name == "DialBegin":
            self._dialling(consult, event.get("DestUniqueid"))
            return True
        if dials and event.name == "DialEnd":
            await self._dialled(consult, event.get("DialStatus"))
            return True
        if uniqueid == consult.local and event.name == "Newstate":
            if event.get("ChannelState") == UP and consult.state == "calling":
                consult.state = "talking"
                await self._publish(consult)
            return True
        if uniqueid == consult.local and event.name == "Hangup":
            if consult.state in ("calling", "talking"):
                await self._ended_early(consult)
            return True
        return False

    def _new_channel(self, consult: Consult, event: AmiEvent) -> bool:
        name = event.get("Channel")
        if not name.startswith(f"Local/{consult.exten}@{TRANSFER_CONTEXT}-"):
            return False
        if name.endswith(";1"):
            consult.local = event.get("Uniqueid")
        else:
            consult.far = event.get("Uniqueid")
            if consult.to == "queue":  # ;2 queues as the caller of the consultation
                consult.leg.uniqueid = consult.far
                self.tracker.expect(consult.leg)
        if consult.local and consult.far:
            consult.started.set()
        return True

    def _dialling(self, consult: Consult, target_uniqueid: str) -> None:
        """;2 dials the agent or the number: the row follows that channel (it outlives the
        Local pair, which Asterisk may optimise away once the transfer completes)."""
        consult.leg.uniqueid = target_uniqueid
        self.tracker.outside[target_uniqueid] = consult.leg

    async def _dialled(self, consult: Consult, status: str) -> None:
        consult.dial_status = status
        if status == "ANSWER":
            consult.leg.answered_at = self.clock()
            await self.store.save_call(consult.leg.id, answered_at=consult.leg.answered_at,
                                       parent_id=consult.call.id)
        else:
            consult.leg.state = self.tracker.dial_outcome(status)

    async def _ended_early(self, consult: Consult) -> None:
        """The target's side hung up before completion: the agent is back with the caller."""
        leg = consult.leg
        state = "cancelled" if consult.cancelled else "failed"
        if consult.cancelled:
            error = ""
        elif leg.answered_at is None and leg.state != "talking":
            error = {"BUSY": "the target is busy", "CONGESTION": "the target cannot be reached",
                     "CHANUNAVAIL": "the target cannot be reached"}.get(
                         consult.dial_status, "the target did not answer")
        else:
            error = "the target hung up"
        await self._forget(consult, state, error)
        outcome = CallOutcome.FAILED if consult.dial_status in ("CONGESTION", "CHANUNAVAIL") \
            else CallOutcome.BUSY if consult.dial_status == "BUSY" else CallOutcome.NO_ANSWER
        if leg.answered_at is None and leg.uniqueid in self.tracker.outside:
            leg.state = outcome.value  # its Dial is cancelled now: no DialEnd of ours follows
        if leg.uniqueid in self.tracker.outside or self.tracker.live.get(leg.uniqueid) is leg:
            return  # its own channel's events end the row
        self.tracker.expected.pop(leg.uniqueid, None)
        await self.store.save_call(leg.id, ended_at=self.clock(), outcome=outcome.value,
                                   parent_id=consult.call.id,
                                   hangup_cause="cancelled" if consult.cancelled else error)

    async def call_ended(self, call: LiveCall, reason: str) -> str | None:
        """The transferred call's AgentComplete: where it went when ``reason`` is transfer."""
        consult = self.by_call.get(call.id)
        if consult is None:
            return None
        if reason == "transfer":
            await self._forget(consult, "completed")
            log.info("attended transfer completed", call_id=call.id, consult=consult.leg.id)
            return f"{consult.to}:{consult.target}"
        await self._forget(consult, "failed", "the caller hung up")
        return None

    async def _forget(self, consult: Consult, state: str, error: str = "") -> None:
        consult.state = state
        self.by_call.pop(consult.call.id, None)
        if self._by_linkedid.get(consult.leg.linkedid) is consult:
            del self._by_linkedid[consult.leg.linkedid]
        await self._publish(consult, error)

    async def _publish(self, consult: Consult, error: str = "") -> None:
        await self.bus.publish(BusMessage(CONSULT_CHANGED, consult.view(error), AUDIENCE))


def _why(err: Exception) -> str:
    return err.message if isinstance(err, AmiError) else "consultation not started"

