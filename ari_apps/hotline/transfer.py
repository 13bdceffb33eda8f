"""Transfers and click-to-dial over AMI, without corrupting the statistics.

A blind transfer sends the caller's channel (AMI ``Redirect``) to ``[hotline-transfer]``:
``q-<queue>`` queues them again, ``a-<endpoint>`` rings an agent's softphone, any number
dials out. The answered call's row ends at that moment with outcome ``transferred`` (its
talk time up to the transfer); the continuation is a row of its own with ``parent_id``
(kind ``hotline`` when it queues again, ``transfer`` otherwise), so a transferred call is
answered once and offered once in the figures, never twice.

An attended transfer (consult, then complete or cancel) is Asterisk's own, started with
AMI ``Atxfer`` on the agent's channel: see consult.py.

Click-to-dial rings the agent's own softphone first (AMI ``Originate`` of the agent's
interface into ``[dial-out]``), then the number; the row is kind ``click_to_dial``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ari_apps.hotline.agents import Agents
from ari_apps.hotline.calls import CallTracker, LiveCall
from ari_apps.hotline.consult import Consults
from ari_apps.hotline.exceptions import (
    CallNotFound,
    CallNotLive,
    NoSoftphone,
    PbxUnavailable,
    TransferFailed,
    UnknownQueue,
)
from ari_apps.hotline.store import HotlineStore
from ari_apps.sos.directory import normalise_number
from callcenter.asterisk import AmiActionError, AmiClient, AmiError
from callcenter.calls.models import CallDirection, CallKind, CallOutcome
from callcenter.logs import get_logger
from callcenter.settings import Settings

log = get_logger(__name__)
TRANSFER_CONTEXT = "hotline-transfer"
_NUMBER = re.compile(r"^\+?\d{2,20}$")


class Transfers:
    """Blind and attended transfers of live queue calls, and click-to-dial."""

    def __init__(self, tracker: CallTracker, agents: Agents, store: HotlineStore,
                 settings: Settings, ami: Callable[[], AmiClient],
                 clock: Callable[[], datetime], consults: Consults) -> None:
        self.consults = consults
        self.tracker = tracker
        self.agents = agents
        self.store = store
        self.settings = settings
        self._ami = ami
        self.clock = clock

    async def _target(self, to: str, target: str) -> tuple[str, str]:
        """(dialplan extension, kind of the new row) for a transfer target."""
        if to == "queue":
            if target not in self.settings.hotline_queues:
                raise UnknownQueue("unknown queue", {"queue": target})
            return f"q-{target}", CallKind.HOTLINE.value
        if to == "agent":
            endpoint = await self.agents.endpoint(target)
            if not endpoint:
                raise NoSoftphone("that agent has no softphone endpoint", {"agent": target})
            return f"a-{endpoint}", CallKind.TRANSFER.value
        number = normalise_number(target)
        if not _NUMBER.match(number):
            raise TransferFailed("not a phone number", {"target": target})
        return number, CallKind.TRANSFER.value

    def _answered(self, call_id: str, *, agent_side: bool = False) -> LiveCall:
        call = self.tracker.by_id(call_id)
        if call is None:
            raise CallNotFound("no live call with this id", {"call": call_id})
        if call.state != "talking" or not call.channel or (agent_side and not call.agent_channel):
            raise CallNotLive("only an answered call can be transferred", {"call": call_id})
        return call

    async def transfer(self, call_id: str, mode: str, to: str, target: str,
                       actor: str) -> dict[str, Any]:
        """The console's transfer actions: blind, attended (consult), complete, cancel."""
        if mode == "complete":
            return await self.consults.complete(call_id)
        if mode == "cancel":
            return await self.consults.cancel(call_id)
        if mode == "attended":
            call = self._answered(call_id, agent_side=True)
            if call_id in self.consults.by_call:
                raise CallNotLive("this call is already in a consultation", {"call": call_id})
            exten, kind = await self._target(to, target)
            return await self.consults.start(call, to, target, exten, kind, actor)
        return await self.blind(call_id, to, target, actor)

    async def blind(self, call_id: str, to: str, target: str, actor: str) -> dict[str, Any]:
        """Send an answered queue call elsewhere; its row ends as ``transferred``."""
        call = self._answered(call_id)
        if call_id in self.consults.by_call:
            raise CallNotLive("complete or cancel the consultation first", {"call": call_id})
        exten, kind = await self._target(to, target)
        now = self.clock()
        new = LiveCall(id=f"{call.id}-t{uuid.uuid4().hex[:6]}", uniqueid=call.uniqueid,
                       number=call.number, kind=kind, caller_kind=call.caller_kind,
                       elder_id=call.elder_id, reason=call.reason, priority=call.priority,
                       queue=target if to == "queue" else None, parent_id=call.id,
                       channel=call.channel, started_at=now)
        await self.store.save_call(new.id, kind=kind, direction=CallDirection.INBOUND.value,
                                   caller_number=new.number, caller_kind=new.caller_kind,
                                   elder_id=new.elder_id, queue=new.queue,
                                   priority=new.priority, parent_id=call.id, started_at=now,
                                   agent=target if to == "agent" else None,
                                   details={"uniqueid": call.uniqueid, "transferred_by": actor,
                                            "to": to, "target": target})
        # Announced before the redirect: its first events may come before our answer.
        if to == "queue":
            self.tracker.expect(new)
            await self.tracker.announce(new)
        else:
            self.tracker.outside[call.uniqueid] = new
        call.state = "transferring"  # its AgentComplete is the transfer's, not an ending
        try:
            await self._ami().redirect(call.channel, TRANSFER_CONTEXT, exten)
        except AmiError as err:
            call.state = "talking"
            self.tracker.expected.pop(call.uniqueid, None)
            self.tracker.outside.pop(call.uniqueid, None)
            await self.store.save_call(new.id, ended_at=self.clock(),
                                       outcome=CallOutcome.FAILED.value, hangup_cause=err.message)
            if isinstance(err, AmiActionError):
                raise TransferFailed(f"Asterisk refused the transfer: {err.message}",
                                     {"call": call_id}) from err
            raise PbxUnavailable("Asterisk is not reachable", {"call": call_id}) from err
        await self._finish(call, now, actor, f"{to}:{target}")
        log.info("call transferred", call_id=call.id, to=to, new_call=new.id)
        return {"call_id": call.id, "new_call_id": new.id, "to": to, "target": target,
                "mode": "blind"}

    async def _finish(self, call: LiveCall, now: datetime, actor: str, where: str) -> None:
        self.tracker.live.pop(call.uniqueid, None)
        call.state, call.transferred = "done", True
        talk = int((now - call.answered_at).total_seconds()) if call.answered_at else 0
        state = self.agents.by_agent.get(call.agent or "")
        if state is not None:
            await self.agents.call_state(state, in_call=False, wrapup_queue=call.queue)
        await self.tracker.ended(call, CallOutcome.TRANSFERRED, talk_seconds=talk,
                                 details={"transferred_by": actor, "transferred_to": where})

    async def click_to_dial(self, username: str, number: str,
                            elder_id: int | None) -> dict[str, Any]:
        """Ring the agent's softphone, then ``number`` (through ``[dial-out]``)."""
        number = normalise_number(number)
        if not _NUMBER.match(number):
            raise TransferFailed("not a phone number", {"number": number})
        endpoint = await self.agents.endpoint(username)
        if not endpoint:
            raise NoSoftphone("no softphone endpoint in your profile", {"agent": username})
        call_id = f"c2d-{uuid.uuid4().hex[:16]}"
        now = self.clock()
        await self.store.save_call(call_id, kind=CallKind.CLICK_TO_DIAL.value,
                                   direction=CallDirection.OUTBOUND.value,
                                   caller_number=number, called_number=number,
                                   elder_id=elder_id, agent=username, started_at=now,
                                   details={"uniqueid": call_id})
        self.tracker.outside[call_id] = LiveCall(
            id=call_id, uniqueid=call_id, number=number, kind=CallKind.CLICK_TO_DIAL.value,
            elder_id=elder_id, agent=username, started_at=now)
        try:
            result = await self._ami().originate(
                self.agents.interface_of(endpoint), context="dial-out", exten=number,
                priority=1, channel_id=call_id, caller_id=f"{number} <{number}>",
                ring_timeout_ms=30000)
        except AmiError as err:
            self.tracker.outside.pop(call_id, None)
            await self.store.save_call(call_id, ended_at=self.clock(),
                                       outcome=CallOutcome.FAILED.value, hangup_cause=err.message)
            raise TransferFailed(f"Asterisk could not ring your softphone: {err.message}",
                                 {"call": call_id}) from err
        if not result.success:
            self.tracker.outside.pop(call_id, None)
            await self.store.save_call(call_id, ended_at=self.clock(),
                                       outcome=CallOutcome.NO_ANSWER.value
                                       if result.outcome == "no_answer" else CallOutcome.FAILED.value,
                                       hangup_cause=f"softphone {result.outcome}")
            raise TransferFailed("your softphone did not answer", {"call": call_id,
                                                                   "outcome": result.outcome})
        return {"call_id": call_id, "number": number, "agent": username}
