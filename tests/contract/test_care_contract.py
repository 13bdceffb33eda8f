"""The ARI behaviours the care call relies on (simulator, or a real Asterisk 22).

A care call is an originate with a channel id of ours into the app; on answer it is
played a prompt (PlaybackStarted, PlaybackFinished with its target), the elder's key
arrives as ChannelDtmfReceived on that channel while a prompt plays, the prompt is
stopped, and key 2 sends the channel on in the dialplan with channel variables set
(StasisEnd; the variables stay on the channel for the hotline's routing to read).
"""

from __future__ import annotations

from callcenter.asterisk import (
    AriNotFound,
    ChannelDtmfReceived,
    PlaybackFinished,
    PlaybackStarted,
    StasisEnd,
    StasisStart,
)
from contract.conftest import Ari, Pbx, of_type

CALL = "contract-care-1"


async def test_care_call_prompt_key_and_leaving_for_the_dialplan(pbx: Pbx, ari: Ari) -> None:
    try:
        await ari.client.channels.hangup(CALL)  # a previous run's, on a real Asterisk
    except AriNotFound:
        pass
    # The elder's phone: the ;2 half enters [sos-entry]'s Stasis() and is answered by us.
    near = await ari.client.channels.originate("Local/sos@sos-entry", app="callcenter",
                                               app_args="care,contract,1", channel_id=CALL,
                                               timeout=30)
    assert near.id == CALL
    far = await ari.seen.wait_for(lambda e: isinstance(e, StasisStart) and e.args == ["sos"])
    try:
        await ari.client.channels.answer(far.channel.id)
        start = await ari.seen.wait_for(of_type(StasisStart, CALL))
        assert isinstance(start, StasisStart)
        assert start.args == ["care", "contract", "1"] and start.channel.state == "Up"

        greeting = await ari.client.channels.play(CALL, "sound:beep", lang="zh")
        assert greeting.target_uri == f"channel:{CALL}"
        began = await ari.seen.wait_for(
            lambda e: isinstance(e, PlaybackStarted) and e.playback.id == greeting.id)
        assert isinstance(began, PlaybackStarted)
        await pbx.advance(1)
        done = await ari.seen.wait_for(
            lambda e: isinstance(e, PlaybackFinished) and e.playback.id == greeting.id)
        assert isinstance(done, PlaybackFinished)
        assert done.playback.state == "done" and done.playback.target_uri == f"channel:{CALL}"

        # The question again, long; the elder presses 2 while it plays; we stop it.
        question = await ari.client.channels.play(CALL, "sound:demo-congrats")
        await ari.seen.wait_for(
            lambda e: isinstance(e, PlaybackStarted) and e.playback.id == question.id)
        await ari.client.channels.send_dtmf(far.channel.id, "2")
        await pbx.advance(1)
        key = await ari.seen.wait_for(of_type(ChannelDtmfReceived, CALL))
        assert isinstance(key, ChannelDtmfReceived) and key.digit == "2"
        await ari.client.playbacks.stop(question.id)
        stopped = await ari.seen.wait_for(
            lambda e: isinstance(e, PlaybackFinished) and e.playback.id == question.id)
        assert isinstance(stopped, PlaybackFinished)

        await ari.client.channels.set_variable(CALL, "CALLCENTER_PRIORITY", "high")
        await ari.client.channels.set_variable(CALL, "CALLCENTER_REASON", "关爱电话：测试按2")
        await ari.client.channels.continue_in_dialplan(CALL, context="people",
                                                       extension="answer", priority=1)
        await ari.seen.wait_for(of_type(StasisEnd, CALL))
        assert await ari.client.channels.get_variable(CALL, "CALLCENTER_PRIORITY") == "high"
        assert await ari.client.channels.get_variable(CALL, "CALLCENTER_REASON") == \
            "关爱电话：测试按2"
    finally:
        for channel in (CALL, far.channel.id):
            try:
                await ari.client.channels.hangup(channel)
            except AriNotFound:
                pass
