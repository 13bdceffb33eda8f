"""How responders come in: 120 bridged at answer and briefed in a whisper; the others on key 1."""

from __future__ import annotations

import asyncio
import base64
import io
import wave
from typing import Any

from sqlalchemy import select

from ari_apps.sos.briefing import CONFIRM_KEY, MEDIA_NAME, REPEAT_KEY, confirm_text
from ari_apps.sos.conference import SosConference
from ari_apps.sos.models import IncidentEvent, LegRole, LegState
from ari_apps.sos.speech import SpeechQueue
from callcenter.pbxsim.media import Playback
from tests.sos.conftest import DOCTORS, KIN, SlowSpeaker, SosHarness, leg_states


def _played_on(sos: SosHarness, channel_id: str) -> list[Playback]:
    return [pb for pb in sos.sim.media.playbacks.values() if pb.target_uri == f"channel:{channel_id}"]


def _snoops_of(sos: SosHarness, channel_id: str) -> list[str]:
    return [ch.id for ch in sos.sim.model.channels.values()
            if ch.snoop is not None and ch.dialed_by is not None and ch.dialed_by.id == channel_id]


def _leg(conference: SosConference, role: LegRole, n: int = 0) -> str:
    return [leg.id for leg in conference.legs.values() if leg.role is role][n]


async def test_120_is_bridged_at_answer_and_briefed_in_a_whisper_it_can_repeat(
    sos: SosHarness,
) -> None:
    conference = await sos.incident(sos.press())
    emergency = f"{conference.id}-e0"
    entered: list[str] = []
    sos.client.on("ChannelEnteredBridge", lambda event: entered.append(event.channel.id))
    sos.client.on("PlaybackStarted", lambda event: entered.append(event.playback.target_uri))

    await sos.advance(1)  # 120 answers
    await conference.wait_for(lambda c: emergency in c.parties)
    # In the bridge with nothing played to its own channel first: nobody waits on a recording.
    assert f"channel:{emergency}" not in entered
    assert emergency in {ch.id for ch in sos.sim.model.bridges[conference.bridge_id].channels}

    await conference.wait_for(lambda c: bool(c._briefings))
    [snoop] = _snoops_of(sos, emergency)
    assert sos.sim.model.channels[snoop].snoop == ("none", "out")  # to 120 alone
    [briefing] = _played_on(sos, snoop)
    assert not _played_on(sos, emergency)
    assert not [pb for pb in sos.sim.media.playbacks.values()
                if pb.target_uri == f"bridge:{conference.bridge_id}" and "briefings" in pb.media_uri]
    scheme, _, url = briefing.media_uri.partition(":")
    assert scheme == "sound" and url.startswith("http://127.0.0.1:")
    path, _, name = url.partition("/media/briefings/")
    assert MEDIA_NAME.match(name) and name.startswith(f"{conference.id}-brief-")
    # The file is served (to the process that asks) while the incident lives.
    served = await sos.commands.call("sos.briefing", {"name": name})
    with wave.open(io.BytesIO(base64.b64decode(served["wav"]))) as wav:
        assert wav.getframerate() == 8000 and wav.getnchannels() == 1
    spoken = conference.speech.text("brief") or ""
    assert "王秀英" in spoken and "鹏欣社区" in spoken and "高血压" in spoken

    sos.sim.calls.dtmf(sos.sim.model.channels[emergency], REPEAT_KEY)
    await conference.wait_for(lambda c: briefing.id not in c._briefings and bool(c._briefings))
    [again] = _played_on(sos, snoop)
    assert again.media_uri == briefing.media_uri
    timeline = await sos.timeline(conference.id)
    assert timeline.count("briefing.whispered") == 2 and "briefing.repeat" in timeline

    sos.sim.calls.hangup(sos.sim.model.channels[emergency], 16)
    await conference.wait_for(lambda c: emergency not in c.parties)
    assert snoop not in sos.sim.model.channels  # the whisper dies with 120's leg


async def test_a_briefing_that_cannot_be_spoken_falls_back_to_the_generic_one(
    sos: SosHarness,
) -> None:
    async def mute(text: str) -> bytes:
        raise RuntimeError("espeak-ng is not installed")

    sos.app.deps.speech.speak = mute
    conference = await sos.incident(sos.press())
    emergency = f"{conference.id}-e0"
    await sos.advance(1)
    await conference.wait_for(lambda c: emergency in c.parties and bool(c._briefings))
    [snoop] = _snoops_of(sos, emergency)
    [briefing] = _played_on(sos, snoop)
    assert briefing.media_uri == sos.app.settings.sos_announce_sound
    kin = f"{conference.id}-k0"
    await conference.wait_for(lambda c: bool(_played_on(sos, kin)))
    assert _played_on(sos, kin)[0].media_uri == sos.app.settings.sos_confirm_sound
    await sos.advance(2)  # kin press 1 to the generic prompt and join
    await conference.wait_for(lambda c: kin in c.parties)


async def test_kin_hear_the_elders_name_and_join_on_key_1(sos: SosHarness) -> None:
    conference = await sos.incident(sos.press())
    kin = f"{conference.id}-k0"
    await sos.advance(1)  # kin answer …
    await conference.wait_for(lambda c: c.legs[kin].state is LegState.ANSWERED
                              and bool(_played_on(sos, kin)))
    [prompt] = _played_on(sos, kin)
    assert f"{conference.id}-confirm-" in prompt.media_uri
    assert "王秀英按了紧急呼叫，按1加入通话" in (conference.speech.text("confirm") or "")
    assert kin not in conference.parties  # not before the key
    assert conference.legs[kin].answered_at is None  # a pick-up is not yet a person

    await sos.advance(1)  # … and press 1
    await conference.wait_for(lambda c: kin in c.parties)
    assert not _played_on(sos, kin)  # the prompt stopped as they joined
    assert conference.legs[kin].answered_at is not None
    timeline = await sos.timeline(conference.id)
    assert timeline.index("leg.asked") < timeline.index("leg.confirmed")


async def test_no_key_in_time_hangs_up_and_dials_the_next_kin(sos: SosHarness) -> None:
    sos.person(KIN[0], dtmf="5")  # answers, presses a wrong key, never 1
    sos.person(KIN[1], dtmf="")  # answers, never presses (else kin are satisfied by kin 2)
    conference = await sos.incident(sos.press())
    first = f"{conference.id}-k0"
    await sos.advance(3)
    await conference.wait_for(lambda c: c.legs[first].state is LegState.ANSWERED)
    assert first not in conference.parties  # the wrong key was ignored

    await sos.advance(sos.app.settings.sos_confirm_seconds)
    await conference.wait_for(lambda c: len(leg_states(c, LegRole.KIN)) == 3)
    assert leg_states(conference, LegRole.KIN)[:2] == [(KIN[0], LegState.FAILED),
                                                        (KIN[1], LegState.FAILED)]
    assert conference.legs[first].cause_text == "no key pressed"
    assert first not in sos.sim.model.channels  # hung up
    await sos.advance(3)  # the third kin answers and presses 1
    await conference.wait_for(lambda c: f"{c.id}-k2" in c.parties)
    assert "leg.no_key" in await sos.timeline(conference.id)


async def test_a_voicemail_never_joins_the_call_and_the_next_doctor_is_dialled(
    sos: SosHarness,
) -> None:
    # A voicemail answers at once, plays its greeting, records, never presses a key.
    sos.person(DOCTORS[0], "answer", ring=0.5, dtmf="", hangup_after=60)
    conference = await sos.incident(sos.press())
    voicemail = f"{conference.id}-d0"
    await sos.advance(sos.app.settings.sos_confirm_seconds + 1)
    await conference.wait_for(lambda c: len(leg_states(c, LegRole.DOCTOR)) == 2)
    assert leg_states(conference, LegRole.DOCTOR)[0] == (DOCTORS[0], LegState.FAILED)
    assert voicemail not in sos.sim.model.channels
    bridge = sos.sim.model.bridges[conference.bridge_id]
    assert voicemail not in {ch.id for ch in bridge.channels}
    await sos.advance(3)
    await conference.wait_for(lambda c: f"{c.id}-d1" in c.parties)
    timeline = await sos.timeline(conference.id)
    assert "joined" in timeline and timeline.count("leg.no_key") == 1


async def test_a_hang_up_before_the_key_dials_the_next_kin(sos: SosHarness) -> None:
    sos.person(KIN[0], dtmf="", hangup_after=0.5)
    conference = await sos.incident(sos.press())
    await sos.advance(2)
    await conference.wait_for(lambda c: len(leg_states(c, LegRole.KIN)) == 3)
    first = conference.legs[f"{conference.id}-k0"]
    assert first.state is LegState.FAILED and first.cause_text == "hung up before the key"
    assert "leg.hung_up_before_key" in await sos.timeline(conference.id)
    await sos.advance(3)
    await conference.wait_for(lambda c: f"{c.id}-k2" in c.parties)


async def test_a_key_1_from_120_or_a_joined_kin_changes_nothing(sos: SosHarness) -> None:
    conference = await sos.incident(sos.press())
    await sos.advance(3)
    await conference.wait_for(lambda c: len(c.parties) == 6)
    for leg in (f"{conference.id}-e0", f"{conference.id}-k0"):
        sos.sim.calls.dtmf(sos.sim.model.channels[leg], CONFIRM_KEY)
    await sos.advance(1)
    assert len(conference.parties) == 6 and conference.status.value == "active"


async def test_late_speech_never_holds_a_responder_back_and_is_used_once_spoken(
    sos: SosHarness,
) -> None:
    speaker = SlowSpeaker()  # speaks nothing until the test lets it
    sos.app.deps.speech.speak = speaker
    conference = await sos.incident(sos.press())
    emergency, kin = f"{conference.id}-e0", f"{conference.id}-k0"
    await sos.advance(1)  # the speech is asked for, then 120 and kin answer: it is not made
    await conference.wait_for(lambda c: emergency in c.parties and bool(c._briefings)
                              and bool(_played_on(sos, kin)))
    assert speaker.running >= 1  # still being made
    [snoop] = _snoops_of(sos, emergency)
    [briefing] = _played_on(sos, snoop)
    assert briefing.media_uri == sos.app.settings.sos_announce_sound  # the generic one, at once
    assert _played_on(sos, kin)[0].media_uri == sos.app.settings.sos_confirm_sound
    await sos.advance(1)  # kin press 1 to the generic prompt and join
    await conference.wait_for(lambda c: kin in c.parties)

    speaker.release.set()  # the speech is made after all: 120's repeat key plays it
    async with asyncio.timeout(5):
        assert await conference.speech.prepare("brief", conference.speech.text("brief") or "")
    sos.sim.calls.dtmf(sos.sim.model.channels[emergency], REPEAT_KEY)
    await conference.wait_for(lambda c: briefing.id not in c._briefings and bool(c._briefings))
    [again] = _played_on(sos, snoop)
    assert f"{conference.id}-brief-" in again.media_uri
    events = await _timeline_details(sos, conference.id, "briefing.whispered")
    assert [e["spoken"] for e in events] == [False, True]
    assert [e["spoken"] for e in await _timeline_details(sos, conference.id, "leg.asked")][0] \
        is False


async def test_a_burst_with_slow_speech_makes_n_at_once_and_bridges_every_120_at_answer(
    sos: SosHarness,
) -> None:
    speaker = SlowSpeaker()
    sos.app.deps.speech = queue = SpeechQueue(speaker, at_once=2)
    callers = [sos.press(f"1590000{n:04d}") for n in range(6)]  # six strangers at once
    conferences = [await sos.incident(caller) for caller in callers]
    await sos.advance(1)  # every speech asked for (two each), every 120 answers
    for conference in conferences:
        emergency = f"{conference.id}-e0"
        await conference.wait_for(lambda c: f"{c.id}-e0" in c.parties and bool(c._briefings))
        [snoop] = _snoops_of(sos, emergency)
        assert [pb.media_uri for pb in _played_on(sos, snoop)] == [
            sos.app.settings.sos_announce_sound]
    assert speaker.running == 2 and queue.waiting == 10

    speaker.release.set()  # the briefings nobody waits for any more are dropped
    async with asyncio.timeout(5):
        for conference in conferences:
            for kind in ("brief", "confirm"):
                await conference.speech.prepare(kind, conference.speech.text(kind) or "")
    assert speaker.most == 2 and queue.most == 2
    # Every briefing still waiting had its 120 served already, and others waited behind it:
    # dropped; the press-1 prompts (no kin answered yet) are all made.
    assert queue.dropped == 5
    assert [text.startswith(confirm_text(None)[:8]) for text in speaker.said[2:]] == [True] * 5


async def _timeline_details(sos: SosHarness, incident_id: str, kind: str) -> list[dict[str, Any]]:
    await sos.settle_store()
    async with sos.sessions() as session:
        rows = await session.execute(
            select(IncidentEvent.detail).where(IncidentEvent.incident_id == incident_id,
                                               IncidentEvent.kind == kind)
            .order_by(IncidentEvent.at, IncidentEvent.id))
        return list(rows.scalars())
