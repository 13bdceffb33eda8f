"""The one-key call to kin (A §5.6 c): the device's second button, or a dialled short code.

The call enters ``Stasis(<app>,kin[,<device>])``. The elder is identified by the device or
their number, answered, put in a recorded bridge ``kin-<id>``, and their kin are dialled
one at a time in priority order (``CARE_KIN_RING_SECONDS`` each): busy, no answer or a
refused originate moves on to the next. The first who answers joins the elder. When
nobody can be reached, or the caller is not known, the call goes to the hotline at high
priority with the reason. Every step is on the elder's care timeline and every leg is a
``calls`` row (kind ``care``, ``details.flow`` = ``kin``).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from ari_apps.care.services import event, kin_contacts
from callcenter.asterisk import (
    AriClient,
    AriError,
    AriEvent,
    ChannelDestroyed,
    StasisEnd,
    StasisRouter,
    StasisStart,
)
from callcenter.calls.models import Call, CallDirection, CallKind, CallOutcome
from callcenter.directory.validators import normalise_phone
from callcenter.logs import get_logger
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from callcenter.store.models import Elder, ElderPhone, SosDevice, utcnow

log = get_logger(__name__)


@dataclass
class KinCall:
    """One press of the kin button."""

    id: str
    caller: str
    node: str
    elder_id: int | None = None
    elder_name: str = ""
    numbers: list[tuple[str, str]] = field(default_factory=list)  # (name, number), in order
    next_index: int = 0
    ringing: str | None = None
    joined: str | None = None
    over: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def bridge(self) -> str:
        return f"kin-{self.id}"


class KinCalls:
    """Runs one-key calls to kin on this process's Asterisk nodes."""

    def __init__(self, clients: dict[str, AriClient], settings: Settings,
                 sessions: SessionFactory, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.clients = clients
        self.settings = settings
        self.sessions = sessions
        self.clock = clock
        self.calls: dict[str, KinCall] = {}
        self._by_channel: dict[str, KinCall] = {}
        self._started = asyncio.Event()

    def attach(self, router: StasisRouter) -> None:
        router.on_start("kin", "care", self._start, self._route)
        router.on_start("kinleg", "care", self._route, self._route)
        router.on_prefix("kin-", self._route)

    def _client(self, node: str) -> AriClient:
        return self.clients.get(node, next(iter(self.clients.values())))

    async def wait_for(self, within: float = 10.0) -> KinCall:
        """The latest one-key call, once it exists (tests)."""
        async with asyncio.timeout(within):
            while not self.calls:
                self._started.clear()
                await self._started.wait()
        return list(self.calls.values())[-1]

    async def _start(self, event_: AriEvent) -> None:
        assert isinstance(event_, StasisStart)
        channel = event_.channel
        call = KinCall(secrets.token_hex(6), channel.id, event_.node)
        self.calls[call.id] = call
        self._by_channel[channel.id] = call
        self._started.set()
        device = event_.args[1] if len(event_.args) > 1 and event_.args[1] else None
        await self._identify(call, channel.caller.number if channel.caller else "", device)
        client = self._client(call.node)
        try:
            await client.channels.answer(channel.id)
            if call.elder_id is None or not call.numbers:
                await self._to_hotline(call, "亲情呼叫：未识别来电" if call.elder_id is None
                                       else f"亲情呼叫：{call.elder_name}没有登记家属电话")
                return
            await client.bridges.create("mixing", bridge_id=call.bridge)
            await client.bridges.add_channel(call.bridge, channel.id)
            await client.bridges.record(call.bridge, call.bridge, "wav", if_exists="overwrite")
        except AriError as err:
            log.warning("kin call could not start", error=str(err))
            await self._finish(call)
            return
        await self._dial_next(call)

    async def _identify(self, call: KinCall, number: str, device: str | None) -> None:
        async with self.sessions.begin() as session:
            elder: Elder | None = None
            if device:
                elder = (await session.execute(
                    select(Elder).join(SosDevice, SosDevice.elder_id == Elder.id)
                    .where(SosDevice.device_id == device, SosDevice.active.is_(True)))
                ).scalar_one_or_none()
            if elder is None and number:
                with contextlib.suppress(ValueError):
                    digits = normalise_phone(number)
                    elder = (await session.execute(
                        select(Elder).join(ElderPhone, ElderPhone.elder_id == Elder.id)
                        .where(ElderPhone.number == digits).limit(1))).scalar_one_or_none()
            if elder is not None:
                call.elder_id, call.elder_name = elder.id, elder.name
                call.numbers = [(c.name, c.phone) for c in await kin_contacts(session, elder.id)]
            session.add(Call(id=call.caller[:64], kind=CallKind.CARE.value,
                             direction=CallDirection.INBOUND.value, caller_number=number,
                             elder_id=call.elder_id,
                             caller_kind="elder" if elder else "unknown", started_at=self.clock(),
                             recording_name=call.bridge, details={"flow": "kin", "kin": call.id}))
            await event(session, "kin.started", elder_id=call.elder_id,
                        call=call.caller, detail={"kin_call": call.id, "contacts": len(call.numbers)})

    async def _dial_next(self, call: KinCall) -> None:
        client = self._client(call.node)
        while call.next_index < len(call.numbers) and not call.over:
            name, number = call.numbers[call.next_index]
            call.next_index += 1
            leg = f"kin-{call.id}-{call.next_index}"
            await self._log(call, "kin.dialling", {"leg": leg, "name": name}, leg=(leg, number))
            try:
                await client.channels.originate(
                    self.settings.dial_template.format(number=number), app=client.app,
                    app_args=f"kinleg,{call.id}", channel_id=leg,
                    caller_id=f"12349 <{self.settings.care_caller_id}>",
                    timeout=self.settings.care_kin_ring_seconds)
            except AriError as err:
                await self._log(call, "kin.failed", {"leg": leg, "reason": err.message},
                                ended=(leg, CallOutcome.FAILED, None))
                continue
            call.ringing = leg
            self._by_channel[leg] = call
            return
        if not call.over and call.joined is None:
            await self._to_hotline(call, f"亲情呼叫：{call.elder_name}的家属均未接通")

    async def _route(self, event_: AriEvent) -> None:
        channel = getattr(event_, "channel", None)
        if channel is None:
            return
        call = self._by_channel.get(channel.id)
        if call is None or call.over:
            return
        if isinstance(event_, StasisStart) and channel.id == call.ringing:
            call.ringing, call.joined = None, channel.id
            try:
                await self._client(call.node).bridges.add_channel(call.bridge, channel.id)
            except AriError:
                await self._finish(call)
                return
            await self._log(call, "kin.answered", {"leg": channel.id},
                            answered=channel.id)
        elif isinstance(event_, StasisEnd) and channel.id == call.caller:
            # The elder hung up (a channel that came in by the dialplan's Stasis() gets
            # StasisEnd, and no ChannelDestroyed), or left for the hotline.
            await self._finish(call, hang_caller=False)
        elif isinstance(event_, ChannelDestroyed):
            if channel.id == call.caller:
                await self._finish(call)
            elif channel.id == call.ringing:
                call.ringing = None
                outcome = CallOutcome.BUSY if event_.cause == 17 else CallOutcome.NO_ANSWER \
                    if event_.cause in (16, 18, 19, 0) else CallOutcome.FAILED
                await self._log(call, "kin.failed", {"leg": channel.id,
                                                     "reason": event_.cause_txt},
                                ended=(channel.id, outcome, str(event_.cause)))
                await self._dial_next(call)
            elif channel.id == call.joined:
                await self._log(call, "kin.left", {"leg": channel.id},
                                ended=(channel.id, CallOutcome.ANSWERED, str(event_.cause)))
                await self._finish(call)

    async def _to_hotline(self, call: KinCall, why: str) -> None:
        client = self._client(call.node)
        await self._log(call, "kin.to_hotline", {"reason": why})
        try:
            with contextlib.suppress(AriError):
                await client.bridges.remove_channel(call.bridge, call.caller)
            for name, value in (("CALLCENTER_PRIORITY", "high"), ("CALLCENTER_REASON", why)):
                await client.channels.set_variable(call.caller, name, value)
            await client.channels.continue_in_dialplan(
                call.caller, context=self.settings.care_hotline_context,
                extension=self.settings.care_hotline_extension, priority=1)
        except AriError as err:
            log.warning("kin call could not reach the hotline", error=str(err))
        await self._finish(call, hang_caller=False)

    async def _finish(self, call: KinCall, *, hang_caller: bool = True) -> None:
        if call.over:
            return
        call.over = True
        client = self._client(call.node)
        for leg in (call.ringing, call.joined, call.caller if hang_caller else None):
            if leg is not None:
                with contextlib.suppress(AriError):
                    await client.channels.hangup(leg)
        with contextlib.suppress(AriError):
            await client.bridges.destroy(call.bridge)
        if call.joined is not None:
            await self._log(call, "kin.left", {"leg": call.joined},
                            ended=(call.joined, CallOutcome.ANSWERED, None))
        await self._log(call, "kin.ended", {"joined": call.joined},
                        ended=(call.caller[:64], CallOutcome.ANSWERED, None))
        for key in [k for k, v in self._by_channel.items() if v is call]:
            del self._by_channel[key]
        call.done.set()

    async def _log(self, call: KinCall, kind: str, detail: dict[str, Any], *,
                   leg: tuple[str, str] | None = None, answered: str | None = None,
                   ended: tuple[str, CallOutcome, str | None] | None = None) -> None:
        now = self.clock()
        async with self.sessions.begin() as session:
            await event(session, kind, elder_id=call.elder_id, call=call.caller[:64],
                        detail={"kin_call": call.id, **detail})
            if leg is not None:
                session.add(Call(id=leg[0], kind=CallKind.CARE.value,
                                 direction=CallDirection.OUTBOUND.value, called_number=leg[1],
                                 elder_id=call.elder_id, caller_kind="kin",
                                 parent_id=call.caller[:64], started_at=now,
                                 details={"flow": "kin", "kin": call.id}))
            if answered is not None:
                row = await session.get(Call, answered)
                if row is not None:
                    row.answered_at = now
            if ended is not None:
                row = await session.get(Call, ended[0])
                if row is not None and row.outcome is None:
                    row.outcome, row.hangup_cause, row.ended_at = ended[1].value, ended[2], now
                    if ended[1] is CallOutcome.ANSWERED and row.answered_at is None \
                            and row.direction == CallDirection.INBOUND.value:
                        row.answered_at = row.started_at
