"""The hotline over the wire against the PBX simulator, with a real store and bus."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ari_apps.hotline.models import Callback
from ari_apps.hotline.services import HotlineService
from ari_apps.hotline.store import register_journal_kinds
from callcenter.asterisk import AmiClient, AriClient, AsteriskCluster, Backoff, StasisRouter
from callcenter.bus import BusMessage, MemoryBus
from callcenter.calls.models import AgentEvent, Call
from callcenter.commands import CommandPath
from callcenter.crypto import FieldCipher
from callcenter.journal import Journal, Resilient
from callcenter.notify.outbox import Outbox
from callcenter.pbxsim.people import Person
from callcenter.pbxsim.server import PbxSimulator
from callcenter.scheduler import Scheduler
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from callcenter.store.models import ContactRole, Role
from dialplan.render import write_fallback_script
from tests.factories import ContactSpec, make_area, make_elder, make_provider, make_user
from tests.support.bus import capture_published

ELDER_PHONE = "13900001111"
RISKY_PHONE = "13900002222"
KIN_PHONE = "13800000001"
SOCIAL_WORKER = "13600000001"
PROVIDER_PHONE = "02287654321"
STRANGER = "13500009999"
AGENTS = {"agent1": "agent-7001", "agent2": "agent-7002"}
SUPERVISOR_ENDPOINT = "sup-7101"
WAIT = 20.0  # seconds of real time any awaited condition may take


@dataclass
class Seeded:
    """The directory the scenarios use."""

    elder_id: int
    risky_id: int


@dataclass
class HotlineHarness:
    """The simulator, the hotline's call control on it, the store and what was published."""

    sim: PbxSimulator
    service: HotlineService
    cluster: AsteriskCluster
    sessions: SessionFactory
    scheduler: Scheduler
    commands: CommandPath
    journal: Journal
    bus: MemoryBus
    published: list[BusMessage] = field(default_factory=list)

    @property
    def ami(self) -> AmiClient:
        return next(iter(self.cluster.ami.values()))

    def call_in(self, number: str) -> str:
        """A call from ``number`` reaches ``[hotline-entry]`` 12349; its channel id."""
        return self.sim.dialplan.inbound(number, "12349", context="hotline-entry").id

    def hang_up(self, channel_id: str) -> None:
        """The caller (or anybody) hangs up."""
        self.sim.calls.hangup(self.sim.model.channels[channel_id], 16)

    async def settle(self) -> None:
        """Every AMI event so far handled, and the store written."""
        await self.ami.dispatcher.drain()
        await self.service.tracker.flushed()

    async def until(self, check: Callable[[], Any], *, step: float = 0.25,
                    timers: bool = False) -> Any:
        """Let simulated time pass until ``check()`` is truthy (async checks awaited)."""
        async with asyncio.timeout(WAIT):
            while True:
                await self.settle()
                result = check()
                if asyncio.iscoroutine(result):
                    result = await result
                if result:
                    return result
                await self.sim.advance(step)
                if timers:
                    await self.scheduler.run_due()
                await asyncio.sleep(0)

    async def advance(self, seconds: float, *, timers: bool = True) -> None:
        """Move simulated time on in quarter seconds, running due timers."""
        for _ in range(int(seconds * 4)):
            await self.sim.advance(0.25)
            await self.settle()
            if timers:
                await self.scheduler.run_due()

    async def row_with(self, call_id: str, moment: str) -> Call:
        """The call row once its ``moment`` (queued_at, answered_at, ended_at) is set."""
        async def row() -> Call | None:
            found = await self.call_row(call_id)
            return found if found is not None and getattr(found, moment) is not None else None

        result: Call = await self.until(row)
        return result

    async def call_row(self, call_id: str) -> Call | None:
        async with self.sessions() as db:
            return await db.get(Call, call_id)

    async def calls(self) -> list[Call]:
        async with self.sessions() as db:
            return list((await db.execute(select(Call).order_by(Call.started_at))).scalars())

    async def callbacks(self) -> list[Callback]:
        async with self.sessions() as db:
            return list((await db.execute(select(Callback).order_by(Callback.id))).scalars())

    async def agent_events(self) -> list[AgentEvent]:
        async with self.sessions() as db:
            return list((await db.execute(select(AgentEvent).order_by(AgentEvent.id))).scalars())

    def topics(self, topic: str) -> list[dict[str, Any]]:
        return [m.payload for m in self.published if m.topic == topic]

    def linkedid(self, channel_id: str) -> str:
        """The call id of an inbound call (a trunk channel is its own linkedid)."""
        channel = self.sim.model.channels.get(channel_id)
        return channel.linkedid if channel is not None else channel_id

    async def was_in_state(self, agent: str, state: str) -> None:
        """The agent went through ``state`` (published), however short it lasted."""
        await self.until(lambda: any(v["agent"] == agent and v["state"] == state
                                     for v in self.topics("hotline.agent.changed")))

    async def wait_state(self, agent: str, state: str) -> None:
        await self.until(lambda: any(v["agent"] == agent and v["state"] == state
                                     for v in self.service.agents.views()))


def sim_now(sim: PbxSimulator) -> datetime:
    """The simulator's wall clock, as the product reads it."""
    return datetime.fromtimestamp(sim.clock.now(), UTC)


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    async with PbxSimulator(ari_port=0, ami_port=0, control_port=0, speed=None) as simulator:
        for endpoint in [*AGENTS.values(), SUPERVISOR_ENDPOINT]:
            simulator.set_person(endpoint, Person(behaviour="answer", ring_seconds=1))
        yield simulator


@pytest.fixture
async def seeded(sessions: SessionFactory, cipher: FieldCipher, passwords: Any) -> Seeded:
    async with sessions.begin() as db:
        district = await make_area(db, "120104", "南开区")
        community = await make_area(db, "120104001", "长虹街道", district)
        contacts = [ContactSpec(ContactRole.KIN, "亲属", KIN_PHONE),
                    ContactSpec(ContactRole.SOCIAL_WORKER, "社工", SOCIAL_WORKER)]
        elder = await make_elder(db, cipher, community, "王秀英", phones=[ELDER_PHONE],
                                 contacts=contacts)
        risky = await make_elder(db, cipher, community, "李大爷", phones=[RISKY_PHONE],
                                 contacts=[ContactSpec(ContactRole.KIN, "儿子", "13800000002")])
        await make_provider(db, "P1", "乐康居家养老服务中心", PROVIDER_PHONE)
        for username, endpoint in AGENTS.items():
            await make_user(db, passwords, username, Role.AGENT.value, endpoint=endpoint)
        await make_user(db, passwords, "sup1", Role.SUPERVISOR.value, endpoint=SUPERVISOR_ENDPOINT)
        await make_user(db, passwords, "nophone", Role.AGENT.value)
        return Seeded(elder.id, risky.id)


def hotline_settings(settings: Settings, sim: PbxSimulator, tmp_path: Path,
                     **overrides: Any) -> Settings:
    values = {
        "ari_url": sim.ari_url, "ami_host": sim.host, "ami_port": sim.ami_port,
        "agi_bind": "127.0.0.1:0", "hotline_snapshot_path": tmp_path / "hotline-routing.json",
        "hotline_callback_delays": [5.0, 10.0], "hotline_queues": {"hotline": 5, "vip": 0},
        "hotline_short_abandon_seconds": 5, **overrides,
    }
    return settings.model_copy(update=values)


async def open_harness(sim: PbxSimulator, settings: Settings, sessions: SessionFactory,
                       tmp_path: Path, bus: MemoryBus | None = None) -> HotlineHarness:
    """A product start: the hotline's call control connected to the simulator."""
    bus = bus or MemoryBus()
    published = capture_published(bus)
    journal = Journal(tmp_path / "journal", sessions)
    register_journal_kinds(journal)
    outbox = Outbox(Resilient(journal, sessions), journal)
    scheduler = Scheduler(sessions, journal, bus, clock=lambda: sim_now(sim))
    ari = AriClient(sim.ari_url, "callcenter", "callcenter", "callcenter")
    ami = AmiClient(sim.host, sim.ami_port, "callcenter", "callcenter",
                    backoff=Backoff(initial=0.05, maximum=0.2))
    cluster = AsteriskCluster([ari], [ami])
    router = StasisRouter(cluster.ari)
    router.attach()
    commands = CommandPath(bus)
    service = HotlineService(cluster, router, sessions, journal, scheduler, outbox, bus,
                             settings, lambda: sim_now(sim))
    service.attach(commands)
    resynced = asyncio.Event()

    async def mark(_ami: AmiClient) -> None:
        resynced.set()

    ami.on_resync(mark)
    await commands.start()
    await service.start()
    assert service.agi is not None
    sim.dialplan.hotline.agi_url = f"agi://127.0.0.1:{service.agi.port}/hotline"
    sim.dialplan.hotline.agi_bin = write_fallback_script(tmp_path / "agi-bin").parent
    sim.dialplan.hotline.snapshot = str(settings.hotline_snapshot_path)
    await service.snapshot.refresh()
    await cluster.start()
    await asyncio.wait_for(resynced.wait(), WAIT)
    return HotlineHarness(sim, service, cluster, sessions, scheduler, commands, journal, bus,
                          published)


async def close_harness(harness: HotlineHarness) -> None:
    await harness.scheduler.close()
    await harness.commands.close()
    await harness.service.close()
    await harness.cluster.close()


@pytest.fixture
async def hotline(sim: PbxSimulator, settings: Settings, sessions: SessionFactory,
                  seeded: Seeded, tmp_path: Path) -> AsyncIterator[HotlineHarness]:
    for name in ("hotline", "vip"):
        from callcenter.pbxsim.queues import Queue

        sim.queues.queues.setdefault(name, Queue(name, strategy="rrmemory"))
    harness = await open_harness(sim, hotline_settings(settings, sim, tmp_path), sessions,
                                 tmp_path)
    try:
        yield harness
    finally:
        await close_harness(harness)
