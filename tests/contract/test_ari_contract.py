"""ARI behaviours the product relies on (simulator by default, real Asterisk if configured)."""

from __future__ import annotations

import io
import wave

from contract.conftest import Pbx
from contract.wire import AriClient, of_type


async def test_originate_gives_dial_events_then_stasis_start_in_state_up(
        pbx: Pbx, ari: AriClient) -> None:
    status, ch = await ari.request("POST", "/channels", endpoint="Local/answer@people",
                                   app="callcenter", appArgs="leg,doctor")
    assert status == 200 and ch["state"] == "Down"
    start = await ari.wait_for(of_type("StasisStart", ch["id"]), advance=pbx.tick)
    kinds = [(e["type"], e.get("dialstatus")) for e in ari.events
             if (e.get("peer") or e.get("channel") or {}).get("id") == ch["id"]]
    assert kinds.index(("Dial", "")) < kinds.index(("Dial", "ANSWER")) < kinds.index(("StasisStart", None))
    assert start["args"] == ["leg", "doctor"] and start["channel"]["state"] == "Up"
    await ari.request("DELETE", f"/channels/{ch['id']}")


async def test_busy_leg_reports_dial_busy_and_cause_17_on_the_far_half(
        pbx: Pbx, ari: AriClient) -> None:
    _, ch = await ari.request("POST", "/channels", endpoint="Local/busy@people", app="callcenter")
    await ari.wait_for(of_type("Dial", ch["id"], dialstatus="BUSY"), advance=pbx.tick)
    mine = await ari.wait_for(of_type("ChannelDestroyed", ch["id"]), advance=pbx.tick)
    assert mine["cause"] == 0
    causes = [e["cause"] for e in ari.events if e["type"] == "ChannelDestroyed"]
    assert 17 in causes
    assert not any(e["type"] == "StasisStart" for e in ari.events)


async def test_no_answer_leg_is_destroyed_with_cause_19_at_the_timeout(
        pbx: Pbx, ari: AriClient) -> None:
    _, ch = await ari.request("POST", "/channels", endpoint="Local/noanswer@people",
                              app="callcenter", timeout=5)
    await ari.wait_for(of_type("Dial", ch["id"], dialstatus="RINGING"), advance=pbx.tick)
    gone = await ari.wait_for(of_type("ChannelDestroyed", ch["id"]), advance=pbx.tick)
    assert gone["cause"] == 19 and gone["cause_txt"] == "User alerting, no answer"
    assert not any(e.get("dialstatus") == "NOANSWER" for e in ari.events)


async def test_created_channel_dialled_busy_stays_in_stasis(pbx: Pbx, ari: AriClient) -> None:
    _, ch = await ari.request("POST", "/channels/create", endpoint="Local/busy@people",
                              app="callcenter", appArgs="dialed,busy")
    await ari.wait_for(of_type("StasisStart", ch["id"]), advance=pbx.tick)
    assert (await ari.request("POST", f"/channels/{ch['id']}/dial", timeout=5))[0] == 204
    await ari.wait_for(of_type("Dial", ch["id"], dialstatus="BUSY"), advance=pbx.tick)
    status, body = await ari.request("GET", f"/channels/{ch['id']}")
    assert status == 200 and body["state"] == "Down"
    await ari.request("DELETE", f"/channels/{ch['id']}")
    gone = await ari.wait_for(of_type("ChannelDestroyed", ch["id"]), advance=pbx.tick)
    assert gone["cause"] == 16


async def test_bridge_enter_and_leave_and_recording_file_has_the_call_duration(
        pbx: Pbx, ari: AriClient) -> None:
    _, call = await ari.request("POST", "/channels", endpoint="Local/answer@people",
                                app="callcenter", appArgs="leg,a")
    await ari.wait_for(of_type("StasisStart", call["id"]), advance=pbx.tick)
    await ari.request("DELETE", "/recordings/stored/contract-rec")
    status, bridge = await ari.request("POST", "/bridges/contract-b1", type="mixing",
                                       name="contract-b1")
    assert status == 200 and bridge["technology"] == "simple_bridge"
    assert (await ari.request("POST", "/bridges/contract-b1/addChannel", channel=call["id"]))[0] == 204
    entered = await ari.wait_for(of_type("ChannelEnteredBridge", call["id"]), advance=pbx.tick)
    assert entered["bridge"]["channels"] == [call["id"]]
    status, rec = await ari.request("POST", "/bridges/contract-b1/record", name="contract-rec",
                                    format="wav")
    assert status == 201 and rec["state"] == "queued"
    await ari.wait_for(of_type("RecordingStarted"), advance=pbx.tick)
    await pbx.advance(3)
    await ari.request("DELETE", f"/channels/{call['id']}")
    await ari.wait_for(of_type("ChannelLeftBridge", call["id"]), advance=pbx.tick)
    done = await ari.wait_for(of_type("RecordingFinished"), advance=pbx.tick)
    assert done["recording"]["state"] == "done" and done["recording"]["duration"] >= 3
    status, data = await ari.request("GET", "/recordings/stored/contract-rec/file")
    assert status == 200
    with wave.open(io.BytesIO(data)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
        assert wav.getframerate() == 8000 and wav.getnchannels() == 1
    assert 3 <= seconds < 5
    assert (await ari.request("DELETE", "/bridges/contract-b1"))[0] == 204
    await ari.wait_for(of_type("BridgeDestroyed"), advance=pbx.tick)
    await ari.request("DELETE", "/recordings/stored/contract-rec")


async def test_errors_have_asterisk_statuses_and_bodies(pbx: Pbx, ari: AriClient) -> None:
    assert await ari.request("GET", "/channels/no-such-channel") == (404, {"message": "Channel not found"})
    assert await ari.request("POST", "/channels") == (400, {"message": "Endpoint must be specified"})
    assert await ari.request("POST", "/channels", endpoint="Foo/bar", app="callcenter") == (
        500, {"error": "Allocation failed"})
    await ari.request("POST", "/bridges/contract-err", type="mixing")
    assert await ari.request("POST", "/bridges/contract-err", type="mixing") == (
        409, {"message": "Bridge with id 'contract-err' already exists"})
    assert await ari.request("POST", "/bridges/contract-err/addChannel") == (
        400, {"message": "Missing parameter channel"})
    assert await ari.request("GET", "/nonexistent") == (404, {"message": "Resource not found"})
    await ari.request("DELETE", "/bridges/contract-err")
