"""SOS scenarios end to end: the app over ARI against the simulator, a real store and bus."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from ari_apps.sos.conference import FALLBACK_PROMPT, SosConference
from ari_apps.sos.models import Incident, IncidentLeg, LegRole, LegState
from callcenter.notify.models import Notification
from callcenter.pbxsim.server import PbxSimulator
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from tests.sos.conftest import (
    AGENT_ENDPOINT,
    DEVICE,
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
from workflow.models import WorkOrder


def _responders(conference: SosConference, state: LegState) -> int:
    return sum(1 for leg in conference.legs.values() if leg.is_responder and leg.state is state)


async def _all_in(sos: SosHarness, conference: SosConference, responders: int) -> None:
    """Let the dialled people answer (120 joins at once) and press 1 to join."""
    await sos.advance(1)
    await conference.wait_for(
        lambda c: _responders(c, LegState.ANSWERED) + _responders(c, LegState.JOINED)
        == responders)
    await sos.advance(2)  # the others' key, a second after answering
    await conference.wait_for(lambda c: len(c.parties) == responders + 1)


async def test_all_roles_answer_and_join_one_recorded_conference(sos: SosHarness) -> None:
    channel = sos.press(device=DEVICE)
    conference = await sos.incident(channel)

    dialled = [leg.candidate.number for leg in conference.legs.values() if leg.candidate]
    assert dialled == [EMERGENCY, DOCTORS[0], KIN[0], KIN[1], SOCIAL_WORKER]
    assert conference.identified and conference.card is not None
    assert conference.card.elder_id == sos.elder_id

    await _all_in(sos, conference, 5)
    bridge = sos.sim.model.bridges[conference.bridge_id]
    assert set(conference.parties) <= {ch.id for ch in bridge.channels}
    assert conference.recording_name in sos.sim.media.live
    assert conference.status.value == "active"

    timeline = await sos.timeline(conference.id)
    assert timeline[0] == "trigger"
    for step in ("identified", "leg.dialing", "leg.ringing", "leg.answered", "joined",
                 "work_order.opened", "notify.queued"):
        assert step in timeline, step
    topics = [m.topic for m in sos.published]
    assert "sos.started" in topics
    started = next(m for m in sos.published if m.topic == "sos.started")
    assert started.audience["roles"] == ["agent", "supervisor"]
    assert started.audience["area_path"] == "/120104/120104001/120104001001/"
    assert started.payload["elder"]["name"] == "王秀英"


async def test_conference_ends_when_fewer_than_two_parties_remain(sos: SosHarness) -> None:
    channel = sos.press()
    conference = await sos.incident(channel)
    await _all_in(sos, conference, 5)

    for leg in list(conference.legs.values()):
        if leg.is_responder:
            sos.sim.calls.hangup(sos.sim.model.channels[leg.id], 16)
    await conference.wait_for(lambda c: c.done.is_set())

    assert conference.outcome == "completed"
    assert channel not in sos.sim.model.channels  # the elder was not left on a silent line
    assert conference.bridge_id not in sos.sim.model.bridges
    assert sos.sim.media.find_stored(conference.recording_name) is not None
    await sos.settle_store()
    async with sos.sessions() as session:
        incident = await session.get(Incident, conference.id)
        assert incident is not None and incident.status == "ended"
        assert incident.outcome == "completed" and incident.ended_at is not None
        order = (await session.execute(select(WorkOrder))).scalar_one()
        assert order.incident_id == conference.id and order.type == "sos"
        assert order.recording_name == conference.recording_name
    assert "recording.ready" in [m.topic for m in sos.published]


async def test_first_kin_busy_rings_the_third_kin(sos: SosHarness) -> None:
    sos.person(KIN[0], "busy")
    channel = sos.press()
    conference = await sos.incident(channel)
    await sos.advance(1)
    await conference.wait_for(lambda c: len(leg_states(c, LegRole.KIN)) == 3)
    kin = leg_states(conference, LegRole.KIN)
    assert kin[0] == (KIN[0], LegState.FAILED)
    assert [number for number, _ in kin] == KIN
    assert conference.legs[f"{conference.id}-k0"].cause == 17


async def test_doctor_no_answer_rings_the_next_doctor_then_marks_the_role_exhausted(
    sos: SosHarness,
) -> None:
    sos.person(DOCTORS[0], "noanswer")
    sos.person(DOCTORS[1], "noanswer")
    channel = sos.press()
    conference = await sos.incident(channel)
    await sos.advance(21)  # the ring timeout (20 s)
    await conference.wait_for(lambda c: len(leg_states(c, LegRole.DOCTOR)) == 2)
    assert leg_states(conference, LegRole.DOCTOR)[0] == (DOCTORS[0], LegState.FAILED)
    assert conference.legs[f"{conference.id}-d0"].cause == 19
    await sos.advance(21)
    await conference.wait_for(lambda c: LegRole.DOCTOR in c.exhausted)
    alerts = [m.payload for m in sos.published if m.topic == "sos.alert"]
    assert {"alert": "role_exhausted", "detail": {"role": "doctor"}}.items() <= alerts[-1].items() or any(
        a["alert"] == "role_exhausted" and a["detail"] == {"role": "doctor"} for a in alerts
    )
    assert "doctor" in (await sos.app.wait_for_conference(lambda c: c is conference)).snapshot()[
        "exhausted"
    ]


async def test_emergency_unreachable_alerts_agents_and_supervisors_and_retries(
    sos: SosHarness,
) -> None:
    sos.person(EMERGENCY, "congestion")
    channel = sos.press()
    conference = await sos.incident(channel)
    await sos.advance(1)
    await conference.wait_for(
        lambda c: any(
            m.topic == "sos.alert" and m.payload["alert"] == "emergency_unreachable"
            for m in sos.published
        )
    )
    alert = next(m for m in sos.published if m.topic == "sos.alert")
    assert alert.audience["roles"] == ["agent", "supervisor"]
    assert alert.payload["detail"] == {"attempt": 1, "retrying": True}
    await sos.advance(5)  # the retry delay
    await conference.wait_for(lambda c: f"{c.id}-e1" in c.legs)


async def test_unknown_caller_is_never_refused(sos: SosHarness) -> None:
    channel = sos.press(number="13000009999")
    conference = await sos.incident(channel)
    assert not conference.identified
    assert [leg.candidate.number for leg in conference.legs.values() if leg.candidate] == [
        EMERGENCY
    ]
    assert conference.exhausted == {LegRole.DOCTOR, LegRole.KIN, LegRole.SOCIAL_WORKER}
    await _all_in(sos, conference, 1)
    assert "unidentified" in await sos.timeline(conference.id)


async def test_double_press_joins_the_same_incident(sos: SosHarness) -> None:
    first = sos.press()
    conference = await sos.incident(first)
    second = sos.press()
    await conference.wait_for(lambda c: second in c.parties)
    assert len(sos.app.conferences) == 1
    assert len(sos.sim.model.bridges) == 1
    assert "double_press" in await sos.timeline(conference.id)


async def test_nobody_answers_then_agents_then_supervisors_are_rung(sos: SosHarness) -> None:
    for number in [EMERGENCY, *KIN, *DOCTORS, SOCIAL_WORKER, AGENT_ENDPOINT]:
        sos.person(number, "noanswer")
    await _log_in(sos)
    channel = sos.press()
    conference = await sos.incident(channel)
    await sos.advance(20)
    await conference.wait_for(lambda c: any(leg.role is LegRole.AGENT for leg in c.legs.values()))
    agent = next(leg for leg in conference.legs.values() if leg.role is LegRole.AGENT)
    assert agent.candidate is not None and agent.candidate.number == AGENT_ENDPOINT
    await sos.advance(20)
    await conference.wait_for(
        lambda c: any(leg.role is LegRole.SUPERVISOR for leg in c.legs.values())
    )
    supervisor = next(leg for leg in conference.legs.values() if leg.role is LegRole.SUPERVISOR)
    assert supervisor.candidate is not None and supervisor.candidate.number == SUPERVISOR_ENDPOINT


async def _log_in(sos: SosHarness) -> None:
    """Agents and supervisors are on duty when they have a live console session."""
    from datetime import timedelta

    from callcenter.store.models import User, WebSession, utcnow

    async with sos.sessions.begin() as session:
        users = (await session.execute(select(User))).scalars().all()
        for user in users:
            session.add(WebSession(token_hash=f"t{user.id}".ljust(64, "0"), user_id=user.id,
                                   csrf_token="x", expires_at=utcnow() + timedelta(hours=1)))


async def test_notifications_go_to_kin_and_social_worker_once(sos: SosHarness) -> None:
    channel = sos.press()
    conference = await sos.incident(channel)
    second = sos.press()  # a double press sends nothing more
    await conference.wait_for(lambda c: second in c.legs)
    await sos.settle_store()
    async with sos.sessions() as session:
        rows = (await session.execute(select(Notification))).scalars().all()
    recipients = sorted((n.channel, n.recipient) for n in rows)
    assert recipients == sorted(
        [("sms", f"+86{n}") for n in [*KIN, SOCIAL_WORKER]] + [("email", "kin1@example.org")]
    )
    assert all(n.subject_id == conference.id for n in rows)
    assert all("王秀英" in n.body for n in rows)


async def test_legs_and_timeline_are_stored(sos: SosHarness) -> None:
    sos.person(KIN[0], "busy")
    channel = sos.press()
    conference = await sos.incident(channel)
    await sos.advance(1)
    await conference.wait_for(lambda c: c.legs[f"{c.id}-k0"].state is LegState.FAILED)
    await sos.settle_store()
    async with sos.sessions() as session:
        legs = {
            leg.id: leg
            for leg in (
                await session.execute(
                    select(IncidentLeg).where(IncidentLeg.incident_id == conference.id)
                )
            ).scalars()
        }
    assert legs[f"{conference.id}-k0"].state == "failed"
    assert legs[f"{conference.id}-k0"].cause == 17
    assert legs[channel].role == "elder"
    assert ELDER_PHONE == conference.caller_number


async def test_missing_prompt_falls_back_so_the_elder_never_hears_silence(
    sim: PbxSimulator, settings: Settings, sessions: SessionFactory, seeded: int, tmp_path: Path
) -> None:
    custom = sos_settings(settings, sim, sos_prompt_sound="sound:missing-callcenter-prompt")
    sos = await open_harness(sim, custom, sessions, seeded, tmp_path)
    try:
        for number in [EMERGENCY, *KIN, *DOCTORS, SOCIAL_WORKER]:
            sos.person(number, "noanswer")
        conference = await sos.incident(sos.press())
        await sos.advance(3)  # the prompt fails, then the gap before the next one
        await conference.wait_for(lambda c: c._prompt_fallback)
        await sos.advance(3)
        await conference.wait_for(
            lambda c: any(pb.media_uri == FALLBACK_PROMPT for pb in sos.sim.media.playbacks.values())
        )
        assert "prompt.fallback" in await sos.timeline(conference.id)
    finally:
        await close_harness(sos)


async def test_first_kin_busy_rings_the_second_kin_when_kin_are_dialled_one_at_a_time(
    sim: PbxSimulator, settings: Settings, sessions: SessionFactory, seeded: int, tmp_path: Path
) -> None:
    sos = await open_harness(sim, sos_settings(settings, sim, sos_kin_at_once=1), sessions,
                             seeded, tmp_path)
    try:
        for number in [EMERGENCY, *KIN, *DOCTORS, SOCIAL_WORKER]:
            sos.person(number)
        sos.person(KIN[0], "busy")
        conference = await sos.incident(sos.press())
        await conference.wait_for(lambda c: len(leg_states(c, LegRole.KIN)) == 2)
        kin = leg_states(conference, LegRole.KIN)
        assert kin[0] == (KIN[0], LegState.FAILED)
        first, second = conference.legs[f"{conference.id}-k0"], conference.legs[f"{conference.id}-k1"]
        assert kin[1][0] == KIN[1] and first.cause == 17
        assert first.ended_at is not None and second.created_at >= first.ended_at  # one at a time
    finally:
        await close_harness(sos)


async def test_a_responder_left_alone_after_the_caller_hung_up_is_not_kept_forever(
    sos: SosHarness,
) -> None:
    channel = sos.press(number="13000009999")  # unknown: only 120 is dialled
    conference = await sos.incident(channel)
    sos.sim.calls.hangup(sos.sim.model.channels[channel], 16)  # the caller hangs up at once
    await conference.wait_for(lambda c: c.legs[channel].state is LegState.LEFT)
    assert conference.status.value == "active"  # 120 is still coming
    await sos.advance(1)  # 120 answers and joins at once …
    await conference.wait_for(lambda c: c.done.is_set())  # … and is not left in an empty call
    assert conference.outcome == "completed"
    assert f"{conference.id}-e0" not in sos.sim.model.channels
