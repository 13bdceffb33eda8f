"""Alarms that become calls: a conference that calls the elder back first, or kin with a message."""

from __future__ import annotations

from sqlalchemy import select

from ari_apps.alarms.flows import KinAlert, start_alarm
from ari_apps.sos.directory import ElderCard, elder_card
from ari_apps.sos.models import LegRole, LegState
from callcenter.notify.models import Notification
from tests.sos.conftest import DEVICE, ELDER_PHONE, EMERGENCY, KIN, SosHarness, leg_states


async def _card(sos: SosHarness) -> ElderCard:
    async with sos.sessions() as session:
        card = await elder_card(session, sos.elder_id)
    assert card is not None
    return card


async def test_fall_alarm_calls_the_elder_back_first_then_every_role(sos: SosHarness) -> None:
    sos.person(ELDER_PHONE)
    card = await _card(sos)
    conference = start_alarm(sos.app, card, kind="fall", device_id=DEVICE,
                                     detail={"id": "a1"}, conference=True)
    await conference.wait_for(lambda c: f"{c.id}-c0" in c.legs)
    assert [leg.candidate.number for leg in conference.legs.values() if leg.candidate] == [
        ELDER_PHONE
    ]
    await sos.advance(1)  # the elder answers the callback
    await conference.wait_for(lambda c: len(leg_states(c, LegRole.KIN)) == 2)
    assert [number for number, _ in leg_states(conference, LegRole.EMERGENCY)] == [EMERGENCY]
    await conference.wait_for(lambda c: f"{c.id}-c0" in c.parties)
    timeline = await sos.timeline(conference.id)
    assert timeline.index("leg.answered") < timeline.index("dial.roles")
    started = next(m for m in sos.published if m.topic == "sos.started")
    assert started.payload["kind"] == "fall"


async def test_unanswered_callback_still_dials_every_role(sos: SosHarness) -> None:
    sos.person(ELDER_PHONE, "noanswer")
    card = await _card(sos)
    conference = start_alarm(sos.app, card, kind="sos", device_id=DEVICE, detail={},
                                     conference=True)
    await conference.wait_for(lambda c: f"{c.id}-c0" in c.legs)
    await sos.advance(15)  # the grace period: an elder who fell may not answer
    await conference.wait_for(lambda c: len(leg_states(c, LegRole.KIN)) == 2)
    assert leg_states(conference, LegRole.EMERGENCY)


async def test_inactivity_alarm_calls_kin_with_a_message_and_texts_them(sos: SosHarness) -> None:
    sos.person(KIN[0], "busy")
    card = await _card(sos)
    alert = start_alarm(sos.app, card, kind="inactivity", device_id=DEVICE, detail={},
                                conference=False)
    assert isinstance(alert, KinAlert)
    await sos.advance(1)  # kin 1 busy → kin 2 rings and answers
    await alert.wait_for(lambda c: len(leg_states(c, LegRole.KIN)) == 2)
    await sos.advance(1)
    await alert.wait_for(lambda c: c.legs[f"{c.id}-k1"].state is LegState.ANSWERED
                         or c.done.is_set())
    await sos.advance(3)  # the spoken message plays
    await alert.wait_for(lambda c: c.done.is_set())
    assert alert.outcome == "delivered"
    assert alert.delivered_to == f"{alert.id}-k1"
    assert not sos.sim.model.bridges  # no conference for a lesser alarm
    await sos.settle_store()
    async with sos.sessions() as session:
        texts = (await session.execute(select(Notification.recipient))).scalars().all()
    assert f"+86{KIN[0]}" in texts
    started = next(m for m in sos.published if m.topic == "sos.started")
    assert started.payload["kind"] == "inactivity"


async def test_second_alarm_joins_the_open_incident(sos: SosHarness) -> None:
    card = await _card(sos)
    first = start_alarm(sos.app, card, kind="fall", device_id=DEVICE, detail={},
                                conference=True)
    await first.wait_for(lambda c: f"{c.id}-c0" in c.legs)
    second = start_alarm(sos.app, card, kind="smoke", device_id=DEVICE, detail={},
                                 conference=True)
    assert second is first
    await first.wait_for(lambda c: True)
    assert "alarm" in await sos.timeline(first.id)
