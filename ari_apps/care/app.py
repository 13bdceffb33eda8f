"""The care calls of one process with call control, built and closed as one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from ari_apps.care.dialler import HOTLINE_QUEUE, Dialler
from ari_apps.care.kin import KinCalls
from ari_apps.care.recording import CareRecorder
from ari_apps.care.services import campaigns_paused, last_layout, layout_day, local_day
from ari_apps.care.speech import CareSpeech, Speaker
from ari_apps.care.stasis import CareCalls
from ari_apps.care.timers import CallTimers
from callcenter.asterisk import AriClient, StasisRouter
from callcenter.bus import Bus, BusMessage
from callcenter.commands import CommandPath
from callcenter.logs import get_logger
from callcenter.scheduler import Scheduler
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from callcenter.store.models import utcnow

log = get_logger(__name__)

CONSOLE_ROLES = ["agent", "supervisor"]


@dataclass(frozen=True)
class StartLayout:
    """What a process start laid out: every plan (``full``) or the gap since the last."""

    full: bool
    calls: int

CAMPAIGN_TOPIC = "care.campaign"


class CareApp:
    """Dialler, care calls, their timers and the one-key call to kin."""

    def __init__(self, clients: dict[str, AriClient], settings: Settings,
                 sessions: SessionFactory, scheduler: Scheduler, bus: Bus,
                 submit: Callable[[list[Any]], Awaitable[object]], *,
                 speaker: Speaker | None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], datetime] = utcnow,
                 now: Callable[[], float] | None = None) -> None:
        self.bus = bus
        self.sessions = sessions
        self.speech = CareSpeech(speaker if settings.care_speech else None)
        extra = {"now": now} if now is not None else {}
        self.dialler = Dialler(self._place, max_per_trunk=settings.care_max_per_trunk,
                               per_second=settings.care_calls_per_second,
                               pause_sos=settings.care_pause_sos_active,
                               pause_hotline=settings.care_pause_hotline_waiting,
                               sleep=sleep, **extra)
        self.recorder = CareRecorder(
            lambda node: clients.get(node or "", next(iter(clients.values()))), sessions,
            bus.publish)
        self.calls = CareCalls(clients, settings, sessions, self.dialler, self.speech,
                               self._publish, submit, owner=scheduler.owner, sleep=sleep,
                               clock=clock, recorder=self.recorder)
        self.timers = CallTimers(self.calls, scheduler, self.dialler, clock)
        self.kin = KinCalls(clients, settings, sessions, clock=clock)

    async def _place(self, job: Any) -> None:
        await self.calls.place(job)

    async def _publish(self, topic: str, payload: dict[str, object], area: str | None) -> None:
        audience: dict[str, Any] = {"roles": CONSOLE_ROLES}
        if area:
            audience["area_path"] = area
        await self.bus.publish(BusMessage(topic, dict(payload), audience))

    def attach(self, router: StasisRouter, commands: CommandPath) -> None:
        """Routes, timer kinds and commands (before the scheduler and commands start)."""
        self.calls.attach(router)
        self.recorder.attach(router)
        self.kin.attach(router)
        self.timers.register()
        commands.handle("care.speech", self.speech.command)

    async def on_bus(self, message: BusMessage) -> None:
        """Surges (SOS, hotline) and campaign pauses from any process."""
        if message.topic == CAMPAIGN_TOPIC:
            from ari_apps.care.models import CareKind

            self.dialler.pause(CareKind(str(message.payload["kind"])),
                               bool(message.payload["paused"]))
        else:
            await self.dialler.on_bus(message)

    async def start(self) -> None:
        """Read what holds calls back from the store, then start dialling."""
        from ari_apps.sos.models import Incident, IncidentStatus

        async with self.sessions() as session:
            for kind in await campaigns_paused(session):
                self.dialler.pause(kind, True)
            active = list((await session.execute(select(Incident.id).where(
                Incident.status == IncidentStatus.ACTIVE.value))).scalars())
        self.dialler.set_sos_active(set(active))
        self.dialler.start()
        self.timers.start()

    async def catch_up_today(self) -> StartLayout | None:
        """Lay out today's calls still ahead, filling only the gap since today's last
        layout (the daily ``care.day`` job, or an earlier start): plans created or changed
        since. A day never laid out (a first start after ``CARE_LAYOUT_AT``, a day missed
        while no process ran) is laid out in full. What exists is left as it is."""
        settings = self.calls.settings
        now = self.calls.clock()
        today = local_day(settings, now)
        try:
            since = await last_layout(self.sessions, today)
            count = await layout_day(self.sessions, settings, today, not_before=now,
                                     changed_since=since)
        except Exception as err:  # noqa: BLE001 - tomorrow's layout runs regardless
            log.warning("today's care calls not laid out at start", error=repr(err))
            return None
        log.info("today's care calls laid out at start", calls=count,
                 gap_since=since.isoformat() if since else None)
        return StartLayout(full=since is None, calls=count)

    async def close(self) -> None:
        await self.timers.close()
        await self.dialler.close()
        await self.calls.close()


SUBSCRIPTIONS = ("sos.started", "sos.ended", HOTLINE_QUEUE, CAMPAIGN_TOPIC)
