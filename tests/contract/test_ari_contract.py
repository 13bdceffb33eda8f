"""ARI behaviours the product relies on, through its AriClient (simulator or real Asterisk)."""

from __future__ import annotations

import io
import wave

import pytest

from callcenter.asterisk import (
    AriBadRequest,
    AriConflict,
    AriError,
    AriNotFound,
    AriServerError,
    BridgeDestroyed,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelEnteredBridge,
    ChannelLeftBridge,
    Dial,
    PlaybackFinished,
    RecordingFinished,
    RecordingStarted,
    StasisEnd,
    StasisStart,
)
from contract.conftest import Ari, Pbx, of_type


async def test_originate_gives_dial_events_then_stasis_start_in_state_up(
        pbx: Pbx, ari: Ari) -> None:
    ch = await ari.client.channels.originate("Local/answer@people", app="callcenter",
                                             app_args="leg,doctor")
    assert ch.state == "Down"
    start = await ari.seen.wait_for(of_type(StasisStart, ch.id))
    kinds = [(e.type, getattr(e, "dialstatus", None)) for e in ari.about(ch.id)]
    assert kinds.index(("Dial", "")) < kinds.index(("Dial", "ANSWER")) < kinds.index(
        ("StasisStart", None))
    assert isinstance(start, StasisStart)
    assert start.args == ["leg", "doctor"] and start.channel.state == "Up"
    await ari.client.channels.hangup(ch.id)


async def test_busy_leg_reports_dial_busy_and_cause_17_on_the_far_half(
        pbx: Pbx, ari: Ari) -> None:
    ch = await ari.client.channels.originate("Local/busy@people", app="callcenter")
    await ari.seen.wait_for(of_type(Dial, ch.id, dialstatus="BUSY"))
    mine = await ari.seen.wait_for(of_type(ChannelDestroyed, ch.id))
    assert isinstance(mine, ChannelDestroyed) and mine.cause == 0
    far = await ari.seen.wait_for(lambda e: isinstance(e, ChannelDestroyed) and e.cause == 17)
    assert far.channel.name.startswith("Local/busy@people") and far.channel.name.endswith(";2")
    assert not any(isinstance(e, StasisStart) for e in ari.seen.events)


async def test_no_answer_leg_is_destroyed_with_cause_19_at_the_timeout(
        pbx: Pbx, ari: Ari) -> None:
    ch = await ari.client.channels.originate("Local/noanswer@people", app="callcenter", timeout=5)
    await ari.seen.wait_for(of_type(Dial, ch.id, dialstatus="RINGING"))
    gone = await ari.seen.wait_for(of_type(ChannelDestroyed, ch.id))
    assert isinstance(gone, ChannelDestroyed)
    assert gone.cause == 19 and gone.cause_txt == "User alerting, no answer"
    assert not any(isinstance(e, Dial) and e.dialstatus == "NOANSWER" for e in ari.seen.events)


async def test_created_channel_dialled_busy_stays_in_stasis(pbx: Pbx, ari: Ari) -> None:
    ch = await ari.client.channels.create("Local/busy@people", "callcenter", app_args="dialed,busy")
    await ari.seen.wait_for(of_type(StasisStart, ch.id))
    await ari.client.channels.dial(ch.id, timeout=5)  # 204: returns None
    await ari.seen.wait_for(of_type(Dial, ch.id, dialstatus="BUSY"))
    assert (await ari.client.channels.get(ch.id)).state == "Down"
    await ari.client.channels.hangup(ch.id)
    gone = await ari.seen.wait_for(of_type(ChannelDestroyed, ch.id))
    assert isinstance(gone, ChannelDestroyed) and gone.cause == 16


async def _leg(ari: Ari, role: str) -> str:
    leg = await ari.client.channels.originate("Local/answer@people", app="callcenter",
                                              app_args=f"leg,{role}")
    await ari.seen.wait_for(of_type(StasisStart, leg.id))
    return leg.id


async def test_bridge_enter_and_leave_and_recording_file_has_the_call_duration(
        pbx: Pbx, ari: Ari) -> None:
    caller, helper = await _leg(ari, "a"), await _leg(ari, "b")
    recordings = ari.client.recordings
    if any(r.name == "contract-rec" for r in await recordings.list_stored()):
        await recordings.delete_stored("contract-rec")
    if any(b.id == "contract-b1" for b in await ari.client.bridges.list()):
        await ari.client.bridges.destroy("contract-b1")  # left by an interrupted run
    bridge = await ari.client.bridges.create("mixing", bridge_id="contract-b1", name="contract-b1")
    assert bridge.id == "contract-b1" and bridge.technology == "simple_bridge"
    try:
        await ari.client.bridges.add_channel(bridge.id, caller)
        entered = await ari.seen.wait_for(of_type(ChannelEnteredBridge, caller))
        assert isinstance(entered, ChannelEnteredBridge) and entered.bridge.channels == [caller]
        # A second party makes the mixing bridge carry audio on a real Asterisk: a lone
        # Local channel in a simple_bridge sends no frames, so the file would stay empty.
        await ari.client.bridges.add_channel(bridge.id, helper)
        await ari.seen.wait_for(of_type(ChannelEnteredBridge, helper))
        rec = await ari.client.bridges.record(bridge.id, "contract-rec", "wav")
        assert rec.state == "queued"
        await ari.seen.wait_for(of_type(RecordingStarted))
        await pbx.advance(3)
        await ari.client.channels.hangup(helper)
        await ari.client.channels.hangup(caller)
        await ari.seen.wait_for(of_type(ChannelLeftBridge, caller))
        done = await ari.seen.wait_for(of_type(RecordingFinished))
        assert isinstance(done, RecordingFinished)
        assert done.recording.state == "done" and (done.recording.duration or 0) >= 3
        with wave.open(io.BytesIO(await recordings.download("contract-rec"))) as wav:
            seconds = wav.getnframes() / wav.getframerate()
            assert wav.getframerate() == 8000 and wav.getnchannels() == 1
        assert 3 <= seconds < 5
        await ari.client.bridges.destroy(bridge.id)  # 204
        await ari.seen.wait_for(of_type(BridgeDestroyed))
    finally:
        for cleanup in (lambda: ari.client.bridges.destroy("contract-b1"),
                        lambda: recordings.delete_stored("contract-rec")):
            try:
                await cleanup()
            except AriNotFound:
                pass


async def test_errors_have_asterisk_statuses_and_bodies(pbx: Pbx, ari: Ari) -> None:
    async def failure(call: object) -> AriError:
        with pytest.raises(AriError) as err:
            await call  # type: ignore[misc]
        return err.value

    channels, bridges, rest = ari.client.channels, ari.client.bridges, ari.client.rest
    err = await failure(channels.get("no-such-channel"))
    assert isinstance(err, AriNotFound) and err.body == {"message": "Channel not found"}
    # The product never sends an originate without endpoint; the transport maps the 400.
    err = await failure(rest.request("POST", "/channels"))
    assert isinstance(err, AriBadRequest) and err.body == {"message": "Endpoint must be specified"}
    err = await failure(channels.originate("Foo/bar", app="callcenter"))
    assert isinstance(err, AriServerError) and err.status == 500
    assert err.body == {"error": "Allocation failed"} and err.message == "Allocation failed"
    await bridges.create("mixing", bridge_id="contract-err")
    try:
        err = await failure(bridges.create("mixing", bridge_id="contract-err"))
        assert isinstance(err, AriConflict)
        assert err.body == {"message": "Bridge with id 'contract-err' already exists"}
        err = await failure(rest.request("POST", "/bridges/contract-err/addChannel"))
        assert isinstance(err, AriBadRequest) and err.body == {"message": "Missing parameter channel"}
        err = await failure(rest.request("GET", "/nonexistent"))
        assert isinstance(err, AriNotFound) and err.body == {"message": "Resource not found"}
    finally:
        await bridges.destroy("contract-err")


async def test_dtmf_sent_into_a_call_is_received_on_the_far_channel(pbx: Pbx, ari: Ari) -> None:
    # Both halves in the app: ;1 by the originate, ;2 by the sos-entry dialplan's Stasis().
    near = await ari.client.channels.originate("Local/sos@sos-entry", app="callcenter",
                                               app_args="leg,kin")
    far = await ari.seen.wait_for(lambda e: isinstance(e, StasisStart) and e.args == ["sos"])
    await ari.client.channels.answer(far.channel.id)  # ;1 enters the app once ;2 answers
    await ari.seen.wait_for(of_type(StasisStart, near.id))
    await ari.client.channels.send_dtmf(near.id, "1")
    await pbx.advance(1)
    key = await ari.seen.wait_for(of_type(ChannelDtmfReceived, far.channel.id))
    assert isinstance(key, ChannelDtmfReceived)
    assert key.digit == "1" and key.duration_ms > 0
    for channel in (far.channel.id, near.id):
        try:
            await ari.client.channels.hangup(channel)
        except AriNotFound:
            pass  # went with its other half


async def test_a_whisper_snoop_enters_the_app_plays_and_ends_with_its_target(
        pbx: Pbx, ari: Ari) -> None:
    caller, helper = await _leg(ari, "a"), await _leg(ari, "b")
    if any(b.id == "contract-b2" for b in await ari.client.bridges.list()):
        await ari.client.bridges.destroy("contract-b2")
    bridge = await ari.client.bridges.create("mixing", bridge_id="contract-b2")
    try:
        await ari.client.bridges.add_channel(bridge.id, [caller, helper])
        await ari.seen.wait_for(of_type(ChannelEnteredBridge, helper))
        with pytest.raises(AriBadRequest):  # a snoop must spy or whisper
            await ari.client.channels.snoop(caller, "callcenter", spy="none", whisper="none")
        snoop = await ari.client.channels.snoop(caller, "callcenter", spy="none", whisper="out",
                                                app_args="whisper,contract",
                                                snoop_id="contract-snoop")
        assert snoop.id == "contract-snoop" and snoop.name.startswith(f"Snoop/{caller}-")
        start = await ari.seen.wait_for(of_type(StasisStart, snoop.id))
        assert isinstance(start, StasisStart) and start.args == ["whisper", "contract"]
        playback = await ari.client.channels.play(snoop.id, "sound:beep")
        assert playback.target_uri == f"channel:{snoop.id}"
        await pbx.advance(1)
        done = await ari.seen.wait_for(
            lambda e: isinstance(e, PlaybackFinished) and e.playback.id == playback.id)
        assert isinstance(done, PlaybackFinished) and done.playback.state == "done"
        # The snooped channel stays in its bridge all along: the whisper holds nobody back.
        assert caller in (await ari.client.bridges.get(bridge.id)).channels
        await ari.client.channels.hangup(caller)
        await ari.seen.wait_for(of_type(StasisEnd, snoop.id))
        with pytest.raises(AriNotFound):
            await ari.client.channels.get(snoop.id)
    finally:
        for channel in (helper, caller):
            try:
                await ari.client.channels.hangup(channel)
            except AriNotFound:
                pass
        try:
            await ari.client.bridges.destroy("contract-b2")
        except AriNotFound:
            pass
