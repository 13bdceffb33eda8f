"""SOS under faults: a product restart, Redis, the database, SMTP or Twilio down mid-incident.

DESIGN invariant 1 (an SOS never depends on Redis, the database, SMS or email) and
invariant 2 (nothing is lost, nothing is doubled) proven end to end: the SOS app over
ARI against the simulator, the real stores, a private redis-server, aiosmtpd and the
Twilio stub over HTTP, with a TCP proxy that cuts the network to a real server.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ari_apps.alarms.flows import start_alarm
from ari_apps.sos.conference import SosConference
from ari_apps.sos.directory import elder_card
from ari_apps.sos.models import Incident, IncidentEvent, IncidentLeg, LegRole, LegState
from ari_apps.sos.stasis import IDENTIFY_TIMEOUT
from callcenter.bus import Bus, BusMessage
from callcenter.bus.redis import RedisBus
from callcenter.notify.dispatcher import Dispatcher
from callcenter.notify.email import SmtpEmailSender
from callcenter.notify.models import Channel, Notification
from callcenter.notify.sms import TwilioSmsSender
from callcenter.notify.twilio_stub import start_twilio_stub
from callcenter.pbxsim.server import PbxSimulator
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from callcenter.store.models import User, WebSession, utcnow
from tests.notify.notify_support import (
    FROM_NUMBER,
    RETRY,
    SMTP_FROM,
    FakeClock,
    Mailbox,
    SmtpServer,
    free_port,
)
from tests.sos.conftest import (
    AGENT_ENDPOINT,
    DOCTORS,
    ELDER_PHONE,
    EMERGENCY,
    KIN,
    SOCIAL_WORKER,
    SUPERVISOR_ENDPOINT,
    SosHarness,
    close_harness,
    leg_states,
    open_harness,
    sos_settings,
)
from tests.support.tcp_proxy import ProxiedStore, TcpProxy
from tests.support.tcp_proxy import proxied_store as proxied

EVERYONE = [EMERGENCY, *KIN, *DOCTORS, SOCIAL_WORKER, AGENT_ENDPOINT, SUPERVISOR_ENDPOINT]


# -- helpers -------------------------------------------------------------------------------


@dataclass
class Originates:
    """Every channel id the simulator was asked to originate, in order (ARI and AMI)."""

    ids: list[str]

    def of(self, incident_id: str) -> list[str]:
        return [i for i in self.ids if i.startswith(incident_id)]


@pytest.fixture
def originates(sim: PbxSimulator) -> Iterator[Originates]:
    """Record the simulator's originates: a leg dialled twice shows as a repeated id."""
    seen = Originates([])
    original = sim.dialplan.originate

    def recording(req: Any, on_result: Any = None) -> Any:
        seen.ids.append(req.channel_id or "")
        return original(req, on_result)

    sim.dialplan.originate = recording  # type: ignore[method-assign]
    yield seen
    sim.dialplan.originate = original  # type: ignore[method-assign]


class Product:
    """Opens product-side SOS apps on the simulator; closes whatever a test left open."""

    def __init__(self, sim: PbxSimulator, settings: Settings, sessions: SessionFactory,
                 elder_id: int, tmp_path: Path) -> None:
        self.sim, self.settings, self.sessions = sim, settings, sessions
        self.elder_id, self.tmp_path = elder_id, tmp_path
        self.open: list[SosHarness] = []

    async def start(self, *, bus: Bus | None = None, sessions: SessionFactory | None = None,
                    **overrides: Any) -> SosHarness:
        """A product (re)start: a new SosApp connects to the same simulator and data dir."""
        harness = await open_harness(
            self.sim, sos_settings(self.settings, self.sim, **overrides),
            sessions or self.sessions, self.elder_id, self.tmp_path, bus=bus,  # type: ignore[arg-type]
        )
        self.open.append(harness)
        return harness

    async def stop(self, harness: SosHarness) -> None:
        """The product stops; the calls go on in Asterisk."""
        self.open.remove(harness)
        await close_harness(harness)


@pytest.fixture
async def product(
    sim: PbxSimulator, settings: Settings, sessions: SessionFactory, seeded: int, tmp_path: Path
) -> AsyncIterator[Product]:
    opened = Product(sim, settings, sessions, seeded, tmp_path)
    try:
        yield opened
    finally:
        for harness in list(opened.open):
            await opened.stop(harness)


def _script(harness: SosHarness, **special: tuple[str, float]) -> None:
    """Everybody answers after a second, except the numbers given as (behaviour, ring)."""
    for number in EVERYONE:
        harness.person(number)
    for number, (behaviour, ring) in special.items():
        harness.person(number, behaviour, ring)


def _responders(conference: SosConference, state: LegState) -> int:
    return sum(1 for leg in conference.legs.values() if leg.is_responder and leg.state is state)


async def _join_answered(harness: SosHarness, conference: SosConference, parties: int) -> None:
    """Let the dialled people answer, press 1 (120 joins at once) and join."""
    await harness.advance(1)
    await harness.advance(2)  # the confirming key, a second after answering
    await conference.wait_for(lambda c: len(c.parties) >= parties)


async def _hang_up_responders(harness: SosHarness, conference: SosConference) -> None:
    for leg in list(conference.legs.values()):
        channel = harness.sim.model.channels.get(leg.id)
        if leg.is_responder and channel is not None:
            harness.sim.calls.hangup(channel, 16)
    await conference.wait_for(lambda c: c.done.is_set())


async def _log_in_staff(sessions: SessionFactory) -> None:
    """Agents and supervisors are on duty while they have a live console session."""
    async with sessions.begin() as session:
        for user in (await session.execute(select(User))).scalars().all():
            session.add(WebSession(token_hash=f"t{user.id}".ljust(64, "0"), user_id=user.id,
                                   csrf_token="x", expires_at=utcnow() + timedelta(hours=1)))


async def _rows(sessions: SessionFactory, incident_id: str) -> dict[str, Any]:
    """Everything the store holds about an incident, comparable across replays."""
    async with sessions() as session:
        incident = await session.get(Incident, incident_id)
        legs = (await session.execute(
            select(IncidentLeg).where(IncidentLeg.incident_id == incident_id)
        )).scalars().all()
        events = (await session.execute(
            select(IncidentEvent.key, IncidentEvent.kind)
            .where(IncidentEvent.incident_id == incident_id)
        )).all()
        incidents = (await session.execute(
            select(func.count()).select_from(Incident).where(Incident.id == incident_id)
        )).scalar_one()
    return {
        "incidents": incidents,
        "status": incident.status if incident else None,
        "outcome": incident.outcome if incident else None,
        "identified": incident.identified if incident else None,
        "legs": sorted((leg.id, leg.state, leg.role) for leg in legs),
        "events": sorted(events),
    }


# -- a. product restart mid-conference ------------------------------------------------------


async def test_restart_mid_conference_reattaches_escalates_and_never_dials_a_leg_twice(
    product: Product, sim: PbxSimulator, sessions: SessionFactory, originates: Originates,
) -> None:
    first = await product.start()
    # 120, kin 2 and the social worker answer; kin 1 is busy, so kin 3 is rung (kin failing
    # over) and rings on past the restart; doctor 1 never answers: still ringing at the restart.
    _script(first, **{KIN[0]: ("busy", 1.0), KIN[2]: ("answer", 6.0),
                      DOCTORS[0]: ("noanswer", 0.0)})
    caller = first.press()
    conference = await first.incident(caller)
    await _join_answered(first, conference, 4)  # the elder, 120, kin 2, the social worker
    incident = conference.id
    assert leg_states(conference, LegRole.KIN) == [
        (KIN[0], LegState.FAILED), (KIN[1], LegState.JOINED), (KIN[2], LegState.RINGING)]
    assert leg_states(conference, LegRole.DOCTOR) == [(DOCTORS[0], LegState.RINGING)]
    before = list(originates.of(incident))

    await product.stop(first)  # the product stops; the calls go on in Asterisk
    assert sim.model.bridges[f"sos-{incident}"].channels
    second = await product.start()
    restored = await second.app.wait_for_conference(lambda c: c.id == incident)
    await restored.wait_for(lambda c: len(c.parties) == 4)
    assert {leg.id: leg.state for leg in restored.legs.values()} == {
        leg.id: leg.state for leg in conference.legs.values()}
    assert originates.of(incident) == before  # reattached, nothing dialled again

    await second.advance(4)  # kin 3 answers after the restart, presses 1 and joins
    await restored.wait_for(lambda c: c.legs[f"{c.id}-k2"].state is LegState.JOINED)
    await second.advance(2)
    await restored.wait_for(lambda c: len(c.parties) == 5)
    await second.advance(11)  # doctor 1's ring timeout (t=20 s): the next doctor is dialled
    await restored.wait_for(lambda c: len(leg_states(c, LegRole.DOCTOR)) == 2)
    assert leg_states(restored, LegRole.DOCTOR)[0] == (DOCTORS[0], LegState.FAILED)
    await second.advance(3)
    await restored.wait_for(lambda c: len(c.parties) == 6)

    ids = originates.of(incident)
    assert len(ids) == len(set(ids)), f"a leg was dialled twice: {ids}"
    assert ids == [*before, f"{incident}-d1"]

    await _hang_up_responders(second, restored)
    assert restored.outcome == "completed"
    await product.stop(second)
    rows = await _rows(sessions, incident)
    assert (rows["incidents"], rows["status"], rows["outcome"]) == (1, "ended", "completed")
    assert {leg_id for leg_id, _, _ in rows["legs"]} == {caller, *ids}


async def test_restart_during_an_alarm_callback_still_dials_every_role(
    product: Product, sessions: SessionFactory, originates: Originates,
) -> None:
    first = await product.start()
    _script(first, **{ELDER_PHONE: ("answer", 12.0)})  # the elder is slow to the phone
    async with sessions() as session:
        card = await elder_card(session, first.elder_id)
    assert card is not None
    alarm = start_alarm(first.app, card, kind="fall", device_id=None, detail={},
                                  conference=True)
    await alarm.wait_for(lambda c: f"{c.id}-c0" in c.legs)
    await first.advance(1)
    assert originates.of(alarm.id) == [f"{alarm.id}-c0"]  # the roles wait for the callback
    await product.stop(first)  # … and the product stops before they are dialled

    second = await product.start()
    restored = await second.app.wait_for_conference(lambda c: c.id == alarm.id)
    await restored.wait_for(lambda c: len(leg_states(c, LegRole.KIN)) == 2)
    ids = originates.of(alarm.id)
    assert ids[0] == f"{alarm.id}-c0" and f"{alarm.id}-e0" in ids and f"{alarm.id}-d0" in ids
    assert len(ids) == len(set(ids))
    await product.stop(second)


async def test_restart_after_the_bridge_vanished_ends_the_stale_incident(
    product: Product, sim: PbxSimulator, sessions: SessionFactory,
) -> None:
    first = await product.start()
    _script(first)
    conference = await first.incident(first.press())
    await _join_answered(first, conference, 6)
    await product.stop(first)

    # While the product is down, Asterisk restarts: every call and the bridge are gone.
    for channel in list(sim.model.channels.values()):
        sim.calls.hangup(channel, 16)
    sim.model.bridges.pop(conference.bridge_id)

    second = await product.start()
    stale = await second.app.wait_for_conference(lambda c: c.id == conference.id)
    await stale.wait_for(lambda c: c.done.is_set())
    assert stale.outcome == "bridge_lost"
    assert not second.app.conferences
    await product.stop(second)
    rows = await _rows(sessions, conference.id)
    assert (rows["status"], rows["outcome"]) == ("ended", "bridge_lost")
    assert ("bridge.lost" in {kind for _, kind in rows["events"]})


# -- b. Redis down during an SOS -----------------------------------------------------------


@pytest.fixture
def redis_port() -> int:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed")
    return free_port()


def _start_redis(port: int) -> subprocess.Popen[bytes]:
    """A private redis-server without persistence (its restart starts empty)."""
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    for line in process.stdout:  # ready by its own log, not after a sleep
        if b"Ready to accept connections" in line:
            return process
    raise RuntimeError("redis-server did not start")


def _stop_redis(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait()
    if process.stdout is not None:
        process.stdout.close()


class Listener:
    """A console-side subscriber to the whole bus, owned by the test."""

    def __init__(self, subscription: Any) -> None:
        self.subscription = subscription
        self.received: list[BusMessage] = []
        self._changed = asyncio.Condition()
        self._task = asyncio.get_running_loop().create_task(self._read(), name="bus-listener")

    async def _read(self) -> None:
        async for message in self.subscription:
            async with self._changed:
                self.received.append(message)
                self._changed.notify_all()

    async def wait_for(self, count: int, within: float = 30.0) -> None:
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: len(self.received) >= count)

    async def close(self) -> None:
        await self.subscription.close()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


@pytest.mark.redis
async def test_redis_down_during_an_sos_the_calls_go_on_and_every_message_arrives_once_in_order(
    product: Product, redis_port: int,
) -> None:
    server = _start_redis(redis_port)
    bus = RedisBus(f"redis://127.0.0.1:{redis_port}/0")
    listener: Listener | None = None
    try:
        await bus.start()
        listener = Listener(await bus.subscribe("*"))
        harness = await product.start(bus=bus)
        _script(harness)
        caller = harness.press()
        conference = await harness.incident(caller)
        await harness.notifier.drain()
        await listener.wait_for(len(harness.published))  # the start reached the console

        _stop_redis(server)
        await _join_answered(harness, conference, 6)  # answers, keys, joins
        assert [n for n, _ in leg_states(conference, LegRole.KIN)] == KIN[:2]
        assert conference.status.value == "active" and len(conference.parties) == 6
        await harness.notifier.drain()  # handed to the bus, which queues them
        queued = bus.pending
        assert queued > 0

        server = _start_redis(redis_port)
        async with asyncio.timeout(30):
            await bus.flushed()
        assert bus.pending == 0
        await listener.wait_for(len(harness.published))
        sent = [(m.topic, m.payload) for m in harness.published]
        assert [(m.topic, m.payload) for m in listener.received] == sent  # once each, in order
        assert len(sent) == len(listener.received)
    finally:
        if listener is not None:
            await listener.close()
        for harness in list(product.open):
            await product.stop(harness)
        await bus.close()
        _stop_redis(server)


# -- c. the database down during an SOS ----------------------------------------------------


@pytest.fixture
async def proxied_store(database_url: str) -> AsyncIterator[ProxiedStore]:
    async with proxied(database_url) as store:
        yield store


async def _replay_copy(harness: SosHarness, saved: Path) -> None:
    """Replay a saved copy of the journal once more (as a crash mid-replay would)."""
    await asyncio.to_thread(shutil.copytree, saved, harness.journal.directory,
                            dirs_exist_ok=True)
    report = await harness.journal.replay()
    assert report.blocked is None and not report.rejected, report


def _timeline_count(harness: SosHarness, incident_id: str) -> int:
    """How many timeline steps the conference took (each is published, several at a time)."""
    return sum(len(m.payload["events"]) for m in harness.published
               if m.topic == "sos.updated" and m.payload["incident"] == incident_id)


async def test_db_down_at_the_start_the_sos_goes_on_unidentified_and_every_row_is_journaled(
    product: Product, proxied_store: ProxiedStore, sessions: SessionFactory, tmp_path: Path,
) -> None:
    await _log_in_staff(sessions)
    harness = await product.start(sessions=proxied_store.sessions, sos_ring_timeout=30)
    async with asyncio.timeout(10):
        await harness.app.roster.loaded.wait()  # the product ran a while before the outage
    _script(harness, **{EMERGENCY: ("answer", 25.0)})  # 120 answers late: agents are rung

    await proxied_store.proxy.cut()
    caller = harness.press()
    conference = await harness.incident(caller)
    # Given up at once (the connection is refused), not after the identification timeout.
    assert conference.first_round_seconds is not None
    assert conference.first_round_seconds < IDENTIFY_TIMEOUT
    assert not conference.identified
    assert [leg.candidate.number for leg in conference.legs.values() if leg.candidate] == [
        EMERGENCY]
    await harness.advance(20)  # nobody answered: the agents on duty are rung
    await conference.wait_for(lambda c: any(leg.role is LegRole.AGENT for leg in c.legs.values()))
    await harness.advance(1)
    await conference.wait_for(lambda c: len(c.parties) == 2)  # the elder and the agent
    await harness.advance(4)  # 120 answers, hears who, joins
    await harness.advance(2)
    await conference.wait_for(lambda c: len(c.parties) == 3)
    await _hang_up_responders(harness, conference)
    await harness.settle_store()

    assert harness.journal.backlog() > 0
    assert (await _rows(sessions, conference.id))["incidents"] == 0  # nothing reached the store
    saved = tmp_path / "journal-copy"
    shutil.copytree(harness.journal.directory, saved)

    await proxied_store.proxy.restore()
    report = await harness.journal.replay()
    assert report.blocked is None and not report.rejected and report.applied > 0
    assert harness.journal.backlog() == 0
    rows = await _rows(sessions, conference.id)
    assert (rows["incidents"], rows["status"], rows["identified"]) == (1, "ended", False)
    assert rows["legs"] == sorted(
        (leg.id, leg.state.value, leg.role.value) for leg in conference.legs.values())
    assert len(rows["events"]) == _timeline_count(harness, conference.id)

    await _replay_copy(harness, saved)
    assert await _rows(sessions, conference.id) == rows


async def test_db_down_after_identification_the_conference_goes_on_and_the_store_catches_up(
    product: Product, proxied_store: ProxiedStore, sessions: SessionFactory, originates: Originates,
) -> None:
    harness = await product.start(sessions=proxied_store.sessions)
    _script(harness, **{KIN[0]: ("busy", 1.0)})
    caller = harness.press()
    conference = await harness.incident(caller)
    assert conference.identified
    await harness.settle_store()

    await proxied_store.proxy.cut()
    await _join_answered(harness, conference, 5)  # kin 1 busy: kin 3 is rung meanwhile
    await harness.advance(3)
    await conference.wait_for(lambda c: len(c.parties) == 6)
    assert leg_states(conference, LegRole.KIN)[0] == (KIN[0], LegState.FAILED)
    await harness.settle_store()
    assert harness.journal.backlog() > 0
    assert (await _rows(sessions, conference.id))["status"] == "active"

    # The store is back before the journal's replayer ran: rows written from now on must
    # not be overtaken by the older ones waiting in the journal.
    await proxied_store.proxy.restore()
    await _hang_up_responders(harness, conference)
    await harness.settle_store()
    replayed = await harness.journal.replay()  # the background replayer's turn
    assert replayed.blocked is None and harness.journal.backlog() == 0
    rows = await _rows(sessions, conference.id)
    assert (rows["incidents"], rows["status"], rows["outcome"]) == (1, "ended", "completed")
    assert rows["legs"] == sorted(
        (leg.id, leg.state.value, leg.role.value) for leg in conference.legs.values())
    assert len(rows["events"]) == _timeline_count(harness, conference.id)
    assert len(originates.of(conference.id)) == len(set(originates.of(conference.id)))

    again = await harness.journal.replay()
    assert (again.applied, again.blocked) == (0, None)
    assert await _rows(sessions, conference.id) == rows


# -- d. SMTP or Twilio down during an SOS ----------------------------------------------------


@pytest.mark.parametrize("outage", ["smtp", "twilio"])
async def test_sms_or_email_down_the_calls_go_on_and_each_notification_is_delivered_once(
    outage: str, product: Product, sessions: SessionFactory,
) -> None:
    smtp = SmtpServer(free_port(), Mailbox(asyncio.get_running_loop()))
    twilio = await start_twilio_stub("127.0.0.1", 0)
    twilio_port = int(twilio.base_url.rsplit(":", 1)[1])
    proxy = TcpProxy("127.0.0.1", twilio_port)
    await proxy.start()
    sms = TwilioSmsSender(twilio.account_sid, twilio.auth_token, FROM_NUMBER,
                          base_url=f"http://127.0.0.1:{proxy.port}", timeout=5.0)
    email = SmtpEmailSender("127.0.0.1", smtp.port, SMTP_FROM, timeout=5.0)
    try:
        if outage == "smtp":
            pass  # nothing listens on the SMTP port yet
        else:
            await smtp.start()
            await proxy.cut()
        harness = await product.start()
        _script(harness)
        caller = harness.press()
        conference = await harness.incident(caller)
        await harness.settle_store()  # the texts and the mail are in the outbox
        # The dispatcher's clock starts now, after they were queued (however slow the
        # machine was to get here): every row is due at its first run.
        clock = FakeClock()
        dispatcher = Dispatcher(
            sessions, {Channel.SMS: sms, Channel.EMAIL: email}, journal=harness.journal,
            clock=clock, retry=RETRY, send_timeout=5.0, stale_after=timedelta(minutes=5),
        )
        kin_numbers = sorted(f"+86{n}" for n in [*KIN, SOCIAL_WORKER])
        down = 1 if outage == "smtp" else len(kin_numbers)

        first = await dispatcher.run_once()
        assert (first.claimed, first.retried, first.sent) == (5, down, 5 - down)
        await _join_answered(harness, conference, 6)  # the calls go on meanwhile
        assert conference.status.value == "active"

        if outage == "smtp":
            await smtp.start()
        else:
            await proxy.restore()
        clock.advance(RETRY.initial - 1)
        assert (await dispatcher.run_once()).claimed == 0  # not due before the backoff
        clock.advance(1)
        second = await dispatcher.run_once()
        assert (second.claimed, second.sent, second.found_sent) == (down, down, 0)
        clock.advance(RETRY.maximum)
        assert (await dispatcher.run_once()).claimed == 0  # nothing left to send

        assert sorted(m["to"] for m in twilio.messages) == kin_numbers  # once each
        assert len(smtp.mailbox.mails) == 1
        assert smtp.mailbox.envelopes[0].rcpt_tos == ["kin1@example.org"]
        async with sessions() as session:
            rows = (await session.execute(select(Notification))).scalars().all()
        assert {(n.channel, n.status) for n in rows} == {("sms", "sent"), ("email", "sent")}
        assert len(rows) == 5
        await _hang_up_responders(harness, conference)
        assert conference.outcome == "completed"
    finally:
        await sms.close()
        await proxy.close()
        await twilio.close()
        await smtp.stop()
