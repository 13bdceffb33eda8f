"""The SOS app over the wire against the PBX simulator, with a real store and bus."""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ari_apps.sos.briefing import CONFIRM_KEY
from ari_apps.sos.conference import SosConference
from ari_apps.sos.models import IncidentEvent, LegRole, LegState
from ari_apps.sos.notifier import SosNotifier
from ari_apps.sos.stasis import SosApp
from ari_apps.sos.store import IncidentRecorder, register_journal_kinds
from callcenter.asterisk import AriClient, StasisRouter
from callcenter.bus import BusMessage, MemoryBus
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
from tests.factories import ContactSpec, make_area, make_elder, make_user
from tests.support.bus import capture_published

ELDER_PHONE = "13900001111"
DEVICE = "SOS-0001"
EMERGENCY = "120"
KIN = ["13800000001", "13800000002", "13800000003"]
DOCTORS = ["13700000001", "13700000002"]
SOCIAL_WORKER = "13600000001"
AGENT_ENDPOINT = "agent-7001"
SUPERVISOR_ENDPOINT = "sup-7101"
#: The numbers whose answer must be confirmed with a key before they join.
CONFIRMING = frozenset([*KIN, *DOCTORS, SOCIAL_WORKER])


@dataclass
class SosHarness:
    """Everything a scenario needs: the simulator, the app, the store, what was published."""

    sim: PbxSimulator
    app: SosApp
    client: AriClient
    sessions: SessionFactory
    recorder: IncidentRecorder
    notifier: SosNotifier
    journal: Journal
    elder_id: int
    published: list[BusMessage]
    commands: CommandPath
    scheduler: Scheduler

    def person(self, number: str, behaviour: str = "answer", ring: float | None = None,
               **kw: Any) -> None:
        """Script who answers ``number``; "noanswer" rings until the originate times out.

        Kin, doctors and the social worker who answer press 1 to join a second later,
        as people do, unless ``dtmf`` says otherwise (``dtmf=""``: a voicemail).
        """
        if ring is None:
            ring = 1.0 if behaviour in ("answer", "busy", "congestion") else 0.0
        if behaviour == "answer" and number in CONFIRMING:
            kw.setdefault("dtmf", CONFIRM_KEY)
        self.sim.set_person(number, Person(behaviour=behaviour, ring_seconds=ring, **kw))  # type: ignore[arg-type]

    def press(self, number: str = ELDER_PHONE, device: str = "") -> str:
        """The elder presses SOS: a call enters ``Stasis(callcenter,sos,<device>)``."""
        channel = self.sim.dialplan.inbound(number, "12349", app="callcenter",
                                            args=["sos", device] if device else ["sos"])
        return channel.id

    async def incident(self, caller_channel: str) -> SosConference:
        """The incident of a caller, once its first round of legs is dialled."""
        conference = await self.app.wait_for_conference(lambda c: caller_channel in c.legs)
        await asyncio.wait_for(conference.first_round_done.wait(), 10)
        return conference

    async def advance(self, seconds: float) -> None:
        """Move the simulated time on, second by second, running the timers that fall due."""
        whole, rest = divmod(seconds, 1.0)
        for step in [1.0] * int(whole) + ([rest] if rest else []):
            await self.sim.advance(step)
            await self.scheduler.run_due()
            await self.scheduler.drain()
            await self.conferences_caught_up()

    async def conferences_caught_up(self) -> None:
        """Every live conference has handled what was posted to it so far (its inbox is
        in order: a marker posted now runs after all of it)."""
        loop = asyncio.get_running_loop()
        for conference in list(self.app.conferences.values()):
            if conference.done.is_set():
                continue
            reached: asyncio.Future[None] = loop.create_future()

            async def mark(reached: asyncio.Future[None] = reached) -> None:
                reached.set_result(None)

            conference.post(mark)
            ended = asyncio.ensure_future(conference.done.wait())
            try:
                await asyncio.wait_for(asyncio.wait({reached, ended},
                                                    return_when=asyncio.FIRST_COMPLETED), 10)
            finally:
                ended.cancel()

    async def settle_store(self) -> None:
        await self.notifier.drain()
        await self.recorder.flush()

    async def timeline(self, incident_id: str) -> list[str]:
        await self.settle_store()
        async with self.sessions() as session:
            rows = await session.execute(
                select(IncidentEvent.kind)
                .where(IncidentEvent.incident_id == incident_id)
                .order_by(IncidentEvent.at, IncidentEvent.id)
            )
            return list(rows.scalars())


async def quick_speech(text: str) -> bytes:
    """A stand-in for espeak-ng: a tiny 8 kHz WAV."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(1600))
    return buffer.getvalue()


class SlowSpeaker:
    """A speaker that holds every speech until the test lets it go; counts who runs at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.running = 0
        self.most = 0
        self.said: list[str] = []
        self.started = asyncio.Condition()

    async def __call__(self, text: str) -> bytes:
        self.running += 1
        self.most = max(self.most, self.running)
        self.said.append(text)
        async with self.started:
            self.started.notify_all()
        try:
            await self.release.wait()
            return await quick_speech(text)
        finally:
            self.running -= 1

    async def wait_started(self, count: int) -> None:
        async with asyncio.timeout(5), self.started:
            await self.started.wait_for(lambda: len(self.said) >= count)


def sim_now(sim: PbxSimulator) -> datetime:
    """The simulator's wall clock, as the product's timers read it."""
    return datetime.fromtimestamp(sim.clock.now(), UTC)


def leg_states(conference: SosConference, role: LegRole) -> list[tuple[str, LegState]]:
    """The legs of one role, as (number, state), in dialling order."""
    return [
        (leg.candidate.number if leg.candidate else "", leg.state)
        for leg in conference.legs.values()
        if leg.role is role
    ]


def all_answered(conference: SosConference) -> Callable[[SosConference], bool]:
    return lambda c: c.parties and len(c.parties) >= 5


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    async with PbxSimulator(ari_port=0, ami_port=0, control_port=0, speed=None) as simulator:
        yield simulator


@pytest.fixture
async def seeded(sessions: SessionFactory, cipher: FieldCipher, passwords: Any) -> int:
    async with sessions.begin() as session:
        district = await make_area(session, "120104", "南开区")
        street = await make_area(session, "120104001", "长虹街道", district)
        community = await make_area(session, "120104001001", "鹏欣社区", street)
        contacts = [
            ContactSpec(ContactRole.KIN, f"亲属{n}", number, priority=n,
                        email="kin1@example.org" if n == 1 else None)
            for n, number in enumerate(KIN, start=1)
        ] + [
            ContactSpec(ContactRole.DOCTOR, f"医生{n}", number, priority=n)
            for n, number in enumerate(DOCTORS, start=1)
        ] + [ContactSpec(ContactRole.SOCIAL_WORKER, "社工", SOCIAL_WORKER)]
        elder = await make_elder(
            session, cipher, community, "王秀英", phones=[ELDER_PHONE], devices=[DEVICE],
            contacts=contacts, lives_alone=True, health_notes="高血压",
        )
        await make_user(session, passwords, "agent1", Role.AGENT.value, endpoint=AGENT_ENDPOINT)
        await make_user(session, passwords, "sup1", Role.SUPERVISOR.value,
                        endpoint=SUPERVISOR_ENDPOINT)
        return elder.id


def sos_settings(settings: Settings, sim: PbxSimulator, **overrides: Any) -> Settings:
    values = {
        "ari_url": sim.ari_url,
        "sos_ring_timeout": 20,
        "sos_agent_after_seconds": 20.0,
        "sos_supervisor_after_seconds": 40.0,
        "sos_emergency_retry_delay": 5.0,
        **overrides,
    }
    return settings.model_copy(update=values)


async def open_harness(
    sim: PbxSimulator, settings: Settings, sessions: SessionFactory, elder_id: int,
    tmp_path: Path, bus: MemoryBus | None = None,
) -> SosHarness:
    """Connect a fresh SosApp (as a product start does) to the simulator."""
    bus = bus or MemoryBus()
    published = capture_published(bus)
    journal = Journal(tmp_path / "journal", sessions)
    register_journal_kinds(journal)
    outbox = Outbox(Resilient(journal, sessions), journal)
    recorder = IncidentRecorder(sessions, journal)
    recorder.start()
    notifier = SosNotifier(bus, outbox.submit_many)
    client = AriClient(sim.ari_url, "callcenter", "callcenter", "callcenter")
    commands = CommandPath(bus)
    # The durable timers run on the simulator's clock: ``advance`` runs their passes.
    scheduler = Scheduler(sessions, journal, bus, clock=lambda: sim_now(sim))
    app = SosApp({"default": client}, settings, sessions, recorder, notifier, scheduler,
                 commands, sleep=sim.clock.sleep, clock=lambda: sim_now(sim))
    app.deps.speech.speak = quick_speech  # the real speech has tests of its own (test_briefing.py)
    router = StasisRouter({"default": client})
    router.attach()
    app.attach(router)
    await commands.start()
    harness = SosHarness(sim, app, client, sessions, recorder, notifier, journal, elder_id,
                         published, commands, scheduler)
    resynced = asyncio.Event()

    async def on_resynced(_snapshot: object) -> None:
        resynced.set()

    client.on_resynced(on_resynced)
    await client.connect(wait_seconds=5)
    await asyncio.wait_for(resynced.wait(), 10)  # as a product does before its first call
    return harness


async def close_harness(harness: SosHarness) -> None:
    await harness.scheduler.close()
    await harness.commands.close()
    await harness.app.close()
    await harness.notifier.close()
    await harness.recorder.close()
    await harness.client.close()


@pytest.fixture
async def sos(
    sim: PbxSimulator, settings: Settings, sessions: SessionFactory, seeded: int, tmp_path: Path
) -> AsyncIterator[SosHarness]:
    harness = await open_harness(sim, sos_settings(settings, sim), sessions, seeded, tmp_path)
    for number in [EMERGENCY, *KIN, *DOCTORS, SOCIAL_WORKER, AGENT_ENDPOINT, SUPERVISOR_ENDPOINT]:
        harness.person(number)
    try:
        yield harness
    finally:
        await close_harness(harness)
