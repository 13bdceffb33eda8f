"""Care calls over the wire against the PBX simulator, with a real store and bus."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from ari_apps.care.app import SUBSCRIPTIONS, CareApp
from ari_apps.care.models import CareEvent, CareKind, CareTask
from ari_apps.care.services import call_now
from ari_apps.care.timers import register_layout
from callcenter.asterisk import AriClient, StasisRouter
from callcenter.bus import BusMessage, MemoryBus
from callcenter.calls.models import Call
from callcenter.crypto import FieldCipher
from callcenter.journal import Journal, Resilient
from callcenter.notify.outbox import Outbox
from callcenter.pbxsim.people import Person
from callcenter.pbxsim.server import PbxSimulator
from callcenter.scheduler import Scheduler
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from callcenter.store.models import ContactRole
from tests.factories import ContactSpec, make_area, make_elder
from tests.sos.conftest import quick_speech, sim_now

ELDER_PHONE = "13900001111"
KIN = ["13800000001", "13800000002"]
SOCIAL_WORKER = "13600000001"
ALL_PHONES = [ELDER_PHONE, *(f"1390000200{n}" for n in range(6))]
T = TypeVar("T")


@dataclass
class Elders:
    """The seeded elders: codes and ids."""

    wang: tuple[str, int]  # lives alone, kin and a social worker
    ids: dict[str, int]


@dataclass
class CareHarness:
    """The care app of one product start, with what it published."""

    sim: PbxSimulator
    app: CareApp
    client: AriClient
    sessions: SessionFactory
    scheduler: Scheduler
    bus: MemoryBus
    published: list[BusMessage]
    settings: Settings
    elders: Elders
    journal: Journal

    def person(self, number: str, behaviour: str = "answer", ring: float = 3.0,
               **kw: Any) -> None:
        """Script who answers ``number`` (an elder takes a while to reach the phone)."""
        self.sim.set_person(number, Person(behaviour=behaviour, ring_seconds=ring, **kw))  # type: ignore[arg-type]

    def now(self) -> datetime:
        return sim_now(self.sim)

    async def call_now(self, code: str | None = None, kind: CareKind = CareKind.WELLBEING,
                       **kw: Any) -> str:
        return await call_now(self.sessions, self.settings, code or self.elders.wang[0], kind,
                              actor="test", now=self.now(), **kw)

    async def advance(self, seconds: float, step: float = 1.0) -> None:
        """Move simulated time on ``step`` by ``step``, running the timers that fall due."""
        whole, rest = divmod(seconds, step)
        for moved in [step] * int(whole) + ([rest] if rest else []):
            await self.sim.advance(moved)
            await self.scheduler.run_due()
            await self.scheduler.drain()
            for _ in range(3):
                await asyncio.sleep(0)

    async def until(self, predicate: Any, limit: float = 600.0, step: float = 1.0) -> None:
        """Advance simulated time until ``predicate()`` (async) holds."""
        spent = 0.0
        while not await predicate():
            if spent >= limit:
                raise AssertionError(f"not reached within {limit} simulated seconds")
            await self.advance(step)
            spent += step

    async def task(self, task_id: str) -> CareTask:
        async with self.sessions() as session:
            found = await session.get(CareTask, task_id)
            assert found is not None
            return found

    async def done(self, task_id: str) -> bool:
        return (await self.task(task_id)).state == "done"

    async def calls_of(self, task_id: str) -> list[Call]:
        async with self.sessions() as session:
            rows = await session.execute(select(Call).where(Call.id.like(f"care-{task_id}-%"))
                                         .order_by(Call.started_at))
            return list(rows.scalars())

    async def timeline(self, elder_id: int) -> list[str]:
        async with self.sessions() as session:
            rows = await session.execute(select(CareEvent.kind).where(
                CareEvent.elder_id == elder_id).order_by(CareEvent.id))
            return list(rows.scalars())

    dialled: dict[str, str]
    played: list[tuple[str, str]]
    #: The bus pumps of this start (the host's ``subscribe``): stopped with it.
    pumps: list[tuple[Any, asyncio.Task[None]]] = field(default_factory=list)

    async def placed(self, count: int) -> bool:
        """Whether the simulator saw ``count`` care calls (or kin legs) dialled."""
        return len(self.dialled) >= count

    def originated(self, number: str) -> list[str]:
        """The channels the simulator showed dialled to ``number`` (care calls, kin legs)."""
        return sorted(ident for ident, to in self.dialled.items() if to == number)


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    async with PbxSimulator(ari_port=0, ami_port=0, control_port=0, speed=None) as simulator:
        # No hotline here: its FastAGI address is a port nobody listens on (by default it is
        # 4573, where a product running on this machine would route the tests' calls).
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            port = closed.getsockname()[1]
        simulator.dialplan.hotline.agi_url = f"agi://127.0.0.1:{port}/hotline"
        yield simulator


@pytest.fixture
async def elders(sessions: SessionFactory, cipher: FieldCipher) -> Elders:
    async with sessions.begin() as session:
        district = await make_area(session, "120104", "南开区")
        street = await make_area(session, "120104001", "长虹街道", district)
        community = await make_area(session, "120104001001", "鹏欣社区", street)
        contacts = [
            ContactSpec(ContactRole.KIN, "王伟", KIN[0], 1, "儿子", email="kin1@example.org"),
            ContactSpec(ContactRole.KIN, "王丽", KIN[1], 2, "女儿"),
            ContactSpec(ContactRole.SOCIAL_WORKER, "赵社工", SOCIAL_WORKER, 1),
        ]
        wang = await make_elder(session, cipher, community, "王秀英", phones=[ELDER_PHONE],
                                contacts=contacts, lives_alone=True)
        others = {}
        for n in range(6):
            elder = await make_elder(session, cipher, community, f"李{n}",
                                     phones=[f"1390000200{n}"], disabled=True)
            others[elder.code] = elder.id
    return Elders((wang.code, wang.id), others)


def care_settings(settings: Settings, sim: PbxSimulator, **overrides: Any) -> Settings:
    """Quiet hours away from the simulated clock's time of day unless a test sets them."""
    now_local = sim_now(sim).astimezone(ZoneInfo(settings.time_zone))
    quiet_start = (now_local + timedelta(hours=10)).strftime("%H:%M")
    quiet_end = (now_local + timedelta(hours=12)).strftime("%H:%M")
    values = {"ari_url": sim.ari_url, "care_ring_seconds": 60, "care_key_seconds": 8.0,
              "care_retry_delays": [600.0, 1200.0], "care_visit_after_seconds": 3600.0,
              "care_quiet_hours": f"{quiet_start}-{quiet_end}", "care_watch_seconds": 30.0,
              "care_max_per_trunk": 4, "care_calls_per_second": 2.0, **overrides}
    return settings.model_copy(update=values)


async def open_care(sim: PbxSimulator, settings: Settings, sessions: SessionFactory,
                    elders: Elders, tmp_path: Path, bus: MemoryBus | None = None
                    ) -> CareHarness:
    """Connect a fresh CareApp (as a product start does) to the simulator."""
    bus = bus or MemoryBus()
    published: list[BusMessage] = []
    original = bus.publish

    async def capture(message: BusMessage) -> None:
        published.append(message)
        await original(message)

    bus.publish = capture  # type: ignore[method-assign]
    journal = Journal(tmp_path / "journal", sessions)
    outbox = Outbox(Resilient(journal, sessions), journal)
    client = AriClient(sim.ari_url, "callcenter", "callcenter", "callcenter")
    scheduler = Scheduler(sessions, journal, bus, clock=lambda: sim_now(sim))
    app = CareApp({"default": client}, settings, sessions, scheduler, bus, outbox.submit_many,
                  speaker=quick_speech, sleep=sim.clock.sleep, clock=lambda: sim_now(sim),
                  now=sim.clock.now)
    router = StasisRouter({"default": client})
    router.attach()
    from callcenter.commands import CommandPath

    commands = CommandPath(bus)
    app.attach(router, commands)
    register_layout(scheduler, sessions, settings, clock=lambda: sim_now(sim))
    pumps = []
    for topic in SUBSCRIPTIONS:
        subscription = await bus.subscribe(topic)

        async def pump(sub: Any = subscription) -> None:
            async for message in sub:
                await app.on_bus(message)

        pumps.append((subscription, asyncio.get_running_loop().create_task(pump())))
    await client.connect(wait_seconds=5)
    await app.start()
    dialled: dict[str, str] = {}
    played: list[tuple[str, str]] = []

    def watch(event: Any) -> None:
        if event.kind == "PlaybackStarted" and event.ari is not None:
            playback = event.ari["playback"]
            played.append((playback["target_uri"].partition(":")[2], playback["media_uri"]))
        channel = (event.ari or {}).get("channel")
        if channel and channel["id"].startswith(("care-", "kin-")):
            dialled.setdefault(channel["id"], channel["connected"]["number"])

    sim.model.sinks.append(watch)
    return CareHarness(sim, app, client, sessions, scheduler, bus, published, settings,
                       elders, journal, dialled, played, pumps)


async def close_care(harness: CareHarness) -> None:
    """Stop the product start as the host does: nothing of it runs on after."""
    await harness.scheduler.close()
    await harness.app.close()
    await harness.client.close()
    for subscription, task in harness.pumps:
        await subscription.close()
        task.cancel()
    await asyncio.gather(*(task for _, task in harness.pumps), return_exceptions=True)


async def restarted_mid_way(sim: PbxSimulator, settings: Settings, sessions: SessionFactory,
                            elders: Elders, tmp_path: Path,
                            start: Callable[[CareHarness], Awaitable[T]]
                            ) -> tuple[CareHarness, T]:
    """``start`` the calls of all seeded elders (two at once, one a second), stop the product
    with two on the line and the rest queued, and start it again: the second run."""
    tuned = care_settings(settings, sim, care_max_per_trunk=2, care_calls_per_second=1.0)
    first = await open_care(sim, tuned, sessions, elders, tmp_path)
    for number in ALL_PHONES:
        # A key pressed while no process listens is lost; asked again after the restart,
        # the elder presses again (simulated time runs on while a loaded machine lags).
        first.person(number, ring=15, dtmf="1", dtmf_after=20, dtmf_again=10)
    started = await start(first)

    await first.until(lambda: first.placed(3), limit=300)
    dialled_before = dict(first.dialled)
    await close_care(first)
    second = await open_care(sim, tuned, sessions, elders, tmp_path)
    second.dialled.update(dialled_before)
    return second, started


@pytest.fixture
async def care(sim: PbxSimulator, settings: Settings, sessions: SessionFactory,
               elders: Elders, tmp_path: Path) -> AsyncIterator[CareHarness]:
    harness = await open_care(sim, care_settings(settings, sim), sessions, elders, tmp_path)
    try:
        yield harness
    finally:
        await close_care(harness)
