"""Recordings on the PBX (the simulator by default, a real Asterisk 22 with
``CALLCENTER_TEST_ASTERISK=1``): a bridge recording is taken into the store through
``GET /recordings/stored/{name}/file`` and is a playable WAV; on a real Asterisk, a
MixMonitor file is taken from the spool once the call's first channel has hung up, and a
queue call recorded by the rendered dialplan ([record-call]) is captured and playable."""

from __future__ import annotations

import asyncio
import os
import wave
from pathlib import Path

import pytest

from callcenter.asterisk import (
    AriNotFound,
    ChannelEnteredBridge,
    RecordingFinished,
    StasisStart,
)
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from contract.conftest import REAL, Ami, Ari, Pbx, ami_event, of_type
from recordings.capture import CaptureRequest
from recordings.exceptions import RecordingNotComplete
from recordings.models import RecordingSource
from recordings.services import Recordings

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def _bridged_pair(ari: Ari, bridge_id: str) -> tuple[str, str]:
    legs = []
    for role in ("a", "b"):
        leg = await ari.client.channels.originate("Local/answer@people", app="callcenter",
                                                  app_args=f"contract,{role}")
        await ari.seen.wait_for(of_type(StasisStart, leg.id))
        legs.append(leg.id)
    bridge = await ari.client.bridges.create("mixing", bridge_id=bridge_id)
    for leg_id in legs:
        await ari.client.bridges.add_channel(bridge.id, leg_id)
        await ari.seen.wait_for(of_type(ChannelEnteredBridge, leg_id))
    return legs[0], legs[1]


async def _cleanup(ari: Ari, bridge_id: str, name: str) -> None:
    for step in (lambda: ari.client.bridges.destroy(bridge_id),
                 lambda: ari.client.recordings.delete_stored(name)):
        try:
            await step()
        except AriNotFound:
            pass


async def test_a_bridge_recording_is_captured_through_ari_as_a_playable_wav(
    pbx: Pbx, ari: Ari, settings: Settings, sessions: SessionFactory, tmp_path: Path,
) -> None:
    name, bridge_id = "contract-capture", "contract-cap-b"
    await _cleanup(ari, bridge_id, name)  # left by an interrupted run
    recordings = Recordings.build(settings.model_copy(update={
        "recordings_dir": tmp_path / "store"}), sessions, ari=lambda node: ari.client)
    try:
        a, b = await _bridged_pair(ari, bridge_id)
        await ari.client.bridges.record(bridge_id, name, "wav")
        await pbx.advance(3)
        for leg in (a, b):
            await ari.client.channels.hangup(leg)
        await ari.seen.wait_for(of_type(RecordingFinished))

        row = await recordings.capture.take(CaptureRequest(name, RecordingSource.ARI))
        assert row.state == "stored" and row.problem == "unknown-call"  # no call row here
        assert 2500 <= row.duration_ms < 5000 and row.sample_rate == 8000  # 2.98 s on Asterisk 22
        with wave.open(str(recordings.store.path_of(str(row.sha256)))) as played:
            assert played.getnchannels() == 1 and played.getsampwidth() == 2
            assert 2.5 <= played.getnframes() / played.getframerate() < 5.0
        names = [r.name for r in await ari.client.recordings.list_stored()]
        assert name not in names  # taken off Asterisk's disk once stored
    finally:
        await _cleanup(ari, bridge_id, name)


#: A real Asterisk's CLI (``asterisk`` with ``-rx``): the stand-in for the hotline's dialplan
#: starting MixMonitor (the product's AMI user may not run the MixMonitor action).
ASTERISK_CLI = os.environ.get("CALLCENTER_TEST_ASTERISK_CLI")


async def _cli(command: str) -> str:
    assert ASTERISK_CLI is not None
    process = await asyncio.create_subprocess_exec(
        ASTERISK_CLI, "-rx", command, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await process.communicate()
    return out.decode()


@pytest.mark.skipif(not REAL or not ASTERISK_CLI,
                    reason="MixMonitor on a real Asterisk (CALLCENTER_TEST_ASTERISK_CLI)")
async def test_a_mixmonitor_file_is_taken_from_the_spool_once_the_call_ends(
    pbx: Pbx, ari: Ari, ami: Ami, settings: Settings, sessions: SessionFactory,
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    spool.chmod(0o777)  # Asterisk writes here
    bridge_id = "contract-mixmon-b"
    await _cleanup(ari, bridge_id, "none")
    recordings = Recordings.build(settings.model_copy(update={
        "recordings_dir": tmp_path / "store", "recordings_spool": spool}), sessions)
    try:
        a, b = await _bridged_pair(ari, bridge_id)
        channel = await ari.client.channels.get(a)
        mark = ami.seen.mark()
        said = await _cli(f"mixmonitor start {channel.name} {spool / f'{a}.wav'}")
        assert "No such" not in said and "Usage" not in said, said
        await ari.client.channels.play(a, "sound:hello-world")  # real speech through the leg
        await pbx.advance(3)
        for leg in (a, b):
            await ari.client.channels.hangup(leg)
        # MixMonitorStop comes only from StopMixMonitor; at a hang-up the Hangup of the
        # call's first channel (Uniqueid == Linkedid) says the file is complete.
        await ami.seen.wait_for(ami_event("Hangup", Uniqueid=a, Linkedid=a), mark)

        row = await recordings.capture.take(CaptureRequest(f"{a}.wav", RecordingSource.SPOOL,
                                                           call_id=a))
        assert row.state == "stored" and row.problem in (None, "unknown-call")
        # Only frames that passed are written: hello-world is 1.4 s, and it is heard.
        assert 1000 <= row.duration_ms < 5000 and row.shape["segments"]
        with wave.open(str(recordings.store.path_of(str(row.sha256)))) as played:
            assert played.getframerate() == 8000
        assert not (spool / f"{a}.wav").exists()
    finally:
        await _cleanup(ari, bridge_id, "none")


@pytest.mark.skipif(not REAL, reason="the rendered dialplan on a real Asterisk 22")
async def test_a_queue_call_recorded_by_the_rendered_dialplan_is_captured_and_playable(
    pbx: Pbx, ami: Ami, settings: Settings, sessions: SessionFactory, tmp_path: Path,
) -> None:
    """``callcenter dialplan render``'s ``[hotline-queue]`` starts MixMonitor (Gosub
    ``[record-call]``) before ``Queue()``: a caller queued through ``[hotline-callback]``
    (its members' softphones unregistered, so the overflow prompt answers and the call
    ends) leaves ``<linkedid>.wav`` in the spool, taken whole and playable."""
    mark = ami.seen.mark()
    result = await pbx.run(ami.client.originate(
        f"Local/s@{settings.hotline_callback_context}/n", application="Wait", data="30",
        caller_id="Caller <5551234>"))
    assert result.success
    started = await ami.seen.wait_for(ami_event("VarSet", Variable="MIXMONITOR_FILENAME"),
                                      mark)
    file = Path(started.get("Value"))
    linkedid = started.get("Linkedid")
    assert file.name == f"{linkedid}.wav"  # named after the call record's id
    await ami.seen.wait_for(ami_event("MixMonitorStart", Linkedid=linkedid), mark)
    await ami.seen.wait_for(ami_event("Hangup", Uniqueid=linkedid), mark)

    recordings = Recordings.build(settings.model_copy(update={
        "recordings_dir": tmp_path / "store", "recordings_spool": file.parent}), sessions)
    request = CaptureRequest(file.name, RecordingSource.SPOOL, call_id=linkedid)
    async with asyncio.timeout(30):
        while True:  # MixMonitor closes its file just after the hang-up
            try:
                row = await recordings.capture.take(request)
                break
            except RecordingNotComplete:
                await pbx.tick()
    assert row.state == "stored" and row.problem in (None, "unknown-call"), row.problem
    # The overflow prompt (im-sorry, please-try-call-later) is in the recording, and heard.
    assert row.duration_ms >= 1000 and row.shape["segments"]
    with wave.open(str(recordings.store.path_of(str(row.sha256)))) as played:
        assert played.getframerate() == 8000 and played.getsampwidth() == 2
        assert abs(played.getnframes() - row.duration_ms * 8) <= 8
    assert not await asyncio.to_thread(file.exists)  # taken: the spool's copy is removed
