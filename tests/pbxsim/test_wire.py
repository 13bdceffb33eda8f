"""The simulator over the wire, compared with the real Asterisk 22 transcripts."""

from __future__ import annotations

import json

import aiohttp
import pytest
from reference_data import TRACES

from callcenter.pbxsim.people import Person
from callcenter.pbxsim.server import PbxSimulator
from pbxsim.wire import SCHEMA, AmiClient, AriClient, event, of_type


def trace_sequence(name: str, endpoint: str) -> list[tuple[str, str, str]]:
    """(type, half, detail) of the events about one originated leg in a real trace."""
    ids: dict[str, str] = {}
    out = []
    for line in (TRACES / name).read_text().splitlines():
        rec = json.loads(line)
        body = rec.get("body")
        if rec["dir"] != "ws" or not body:
            continue
        ch = body.get("channel") or body.get("peer") or {}
        if not ch.get("name", "").startswith(endpoint):
            continue
        ids.setdefault(ch["id"], ch["name"][-1])
        detail = str(body.get("dialstatus", body.get("cause", body.get("dialplan_app", ""))))
        out.append((body["type"], ch["name"][-1], detail))
    return out


async def leg_sequence(sim: PbxSimulator, ari: AriClient, endpoint: str) -> list[tuple[str, str, str]]:
    _, ch = await ari.request("POST", "/channels", endpoint=endpoint, app="callcenter",
                              appArgs="leg,x", callerId="SOS <7001>", timeout=5)
    await sim.advance(6)
    prefix = "Local/" + endpoint.split("/", 1)[1]
    out = []
    for body in ari.events:
        c = body.get("channel") or body.get("peer") or {}
        if c.get("name", "").startswith(prefix) and body["type"] not in ("ChannelVarset",):
            detail = str(body.get("dialstatus", body.get("cause", body.get("dialplan_app", ""))))
            out.append((body["type"], c["name"][-1], detail))
    del ch
    return out


@pytest.mark.parametrize("person", ["busy", "congestion", "noanswer"])
async def test_failed_legs_match_the_sos_trace_exactly(sim: PbxSimulator, ari: AriClient,
                                                       person: str) -> None:
    real = [e for e in trace_sequence("ari-sos-conference.jsonl", f"Local/{person}@people")
            if e[0] != "ChannelVarset"]
    assert await leg_sequence(sim, ari, f"Local/{person}@people") == real


async def test_answered_leg_matches_the_trace_up_to_stasis_start(sim: PbxSimulator,
                                                                 ari: AriClient) -> None:
    real = [e for e in trace_sequence("ari-sos-conference.jsonl", "Local/answer2@people")
            if e[0] != "ChannelVarset"]
    real = real[:[e[0] for e in real].index("StasisStart") + 1]
    ours = await leg_sequence(sim, ari, "Local/answer2@people")
    ours = ours[:[e[0] for e in ours].index("StasisStart") + 1]
    assert sorted(ours) == sorted(real)
    assert ours[-1][0] == "StasisStart"


async def test_sos_entry_reaches_stasis_in_state_ring_and_answer_sets_up(
        sim: PbxSimulator, ari: AriClient) -> None:
    _, phone = await ari.request("POST", "/channels", endpoint="Local/sos@sos-entry/n",
                                 context="people", extension="phone", callerId="Elder <7001>")
    start = await ari.wait_for(of_type("StasisStart"), advance=lambda: sim.advance(0.1))
    assert start["args"] == ["sos"] and start["channel"]["state"] == "Ring"
    assert start["channel"]["caller"] == {"name": "Elder", "number": "7001"}
    assert start["channel"]["id"] != phone["id"]
    assert (await ari.request("POST", f"/channels/{start['channel']['id']}/answer"))[0] == 204
    await ari.wait_for(of_type("ChannelStateChange", start["channel"]["id"]))


async def test_bad_credentials_get_401_on_rest_and_websocket(sim: PbxSimulator) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{sim.ari_url}/ari/channels",
                               headers={"Authorization": aiohttp.encode_basic_auth("callcenter", "x")}) as r:
            assert r.status == 401 and await r.json() == {"message": "Authentication required"}
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await session.ws_connect(f"{sim.ari_url}/ari/events",
                                     params={"app": "callcenter", "api_key": "callcenter:wrong"})
        assert err.value.status == 401


async def test_second_websocket_replaces_the_first(sim: PbxSimulator, ari: AriClient) -> None:
    second = AriClient(sim.ari_url, "callcenter", "callcenter")
    await second.connect()
    try:
        replaced = await ari.wait_for(of_type("ApplicationReplaced"))
        assert replaced["application"] == "callcenter"
        await second.request("POST", "/channels", endpoint="Local/answer@people", app="callcenter")
        await second.wait_for(of_type("StasisStart"), advance=lambda: sim.advance(0.1))
        assert not any(e["type"] == "StasisStart" for e in ari.events)
    finally:
        await second.close()


async def test_snoop_enters_stasis_and_ends_when_the_spied_channel_hangs_up(
        sim: PbxSimulator, ari: AriClient) -> None:
    _, call = await ari.request("POST", "/channels", endpoint="Local/answer@people", app="callcenter")
    await ari.wait_for(of_type("StasisStart", call["id"]), advance=lambda: sim.advance(0.1))
    status, snoop = await ari.request("POST", f"/channels/{call['id']}/snoop", spy="both",
                                      app="callcenter", appArgs="snoop,supervisor")
    assert status == 200 and snoop["name"].startswith(f"Snoop/{call['id']}-")
    start = await ari.wait_for(of_type("StasisStart", snoop["id"]), advance=lambda: sim.advance(0.1))
    assert start["args"] == ["snoop", "supervisor"] and start["channel"]["state"] == "Up"
    await ari.request("DELETE", f"/channels/{call['id']}")
    await ari.wait_for(of_type("StasisEnd", snoop["id"]), advance=lambda: sim.advance(0.1))
    assert (await ari.request("GET", f"/channels/{snoop['id']}"))[0] == 404


async def test_scripted_number_answers_after_ringing_and_presses_dtmf(
        sim: PbxSimulator, ari: AriClient) -> None:
    sim.set_person("5550001", Person(behaviour="answer", ring_seconds=3, dtmf="1"))
    _, ch = await ari.request("POST", "/channels", endpoint="PJSIP/5550001@trunk", app="callcenter")
    await sim.advance(2)
    assert not any(e["type"] == "StasisStart" for e in ari.events)
    await ari.wait_for(of_type("StasisStart", ch["id"]), advance=lambda: sim.advance(0.5))
    dtmf = await ari.wait_for(of_type("ChannelDtmfReceived", ch["id"]), advance=lambda: sim.advance(0.5))
    assert dtmf["digit"] == "1"


async def test_a_scripted_number_presses_again_while_on_the_line_and_not_after(
        sim: PbxSimulator, ari: AriClient) -> None:
    sim.set_person("5550001", Person(behaviour="answer", dtmf="1", dtmf_after=2,
                                     dtmf_again=5, hangup_after=14))
    _, ch = await ari.request("POST", "/channels", endpoint="PJSIP/5550001@trunk", app="callcenter")
    await ari.wait_for(of_type("StasisStart", ch["id"]), advance=lambda: sim.advance(0.5))
    await ari.wait_for(of_type("ChannelDestroyed", ch["id"]), advance=lambda: sim.advance(1))
    await sim.advance(20)
    pressed = [e["digit"] for e in ari.events
               if e["type"] == "ChannelDtmfReceived" and e["channel"]["id"] == ch["id"]]
    assert pressed == ["1", "1", "1"]  # at 2, 7 and 12 s; it hangs up at 14


def test_a_person_from_the_control_api_may_press_again_and_nothing_else() -> None:
    person = Person.from_json({"dtmf": "1", "dtmf_again": 8})
    assert (person.dtmf_again, person.to_json()["dtmf_again"]) == (8.0, 8.0)
    with pytest.raises(ValueError, match="unknown fields: dtmf_every"):
        Person.from_json({"dtmf": "1", "dtmf_every": 8})
    for never_waits in (0, -1, float("nan"), float("inf")):  # each would press for ever
        with pytest.raises(ValueError, match="dtmf_again must be"):
            Person.from_json({"dtmf": "1", "dtmf_again": never_waits})


async def test_control_api_injects_a_call_into_stasis(sim: PbxSimulator, ari: AriClient) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{sim.control_url}/control/calls",
                                json={"from": "7001", "to": "110", "app": "callcenter",
                                      "args": ["sos"]}) as r:
            assert r.status == 201
            call = await r.json()
        async with session.post(f"{sim.control_url}/control/calls", json={"from": "1"}) as r:
            assert r.status == 400
    start = await ari.wait_for(of_type("StasisStart", call["id"]), advance=lambda: sim.advance(0.1))
    assert start["args"] == ["sos"] and start["channel"]["name"].startswith("PJSIP/trunk-")


async def test_rest_bodies_match_the_api_models(sim: PbxSimulator, ari: AriClient) -> None:
    _, ch = await ari.request("POST", "/channels", endpoint="Local/answer@people", app="callcenter")
    await ari.wait_for(of_type("StasisStart", ch["id"]), advance=lambda: sim.advance(0.1))
    _, bridge = await ari.request("POST", "/bridges", type="mixing")
    checks = [("GET", f"/channels/{ch['id']}", "Channel"), ("GET", "/channels", "List[Channel]"),
              ("GET", f"/bridges/{bridge['id']}", "Bridge"), ("GET", "/asterisk/info", "AsteriskInfo"),
              ("GET", "/applications", "List[Application]"),
              ("POST", f"/channels/{ch['id']}/play?media=sound:beep", "Playback")]
    for method, path, model in checks:
        status, body = await ari.request(method, path.split("?")[0],
                                         **dict([path.split("?")[1].split("=")] if "?" in path else []))
        assert status in (200, 201), (path, status)
        assert SCHEMA.validate(body, model) == [], path


async def test_ami_queue_status_is_an_event_list(sim: PbxSimulator) -> None:
    ami = AmiClient(sim.host, sim.ami_port, "callcenter", "callcenter")
    await ami.connect()
    try:
        await ami.action("QueueAdd", Queue="hotline", Interface="PJSIP/agent7", MemberName="A7")
        added = await ami.wait_for(event("QueueMemberAdded"))
        assert added["Interface"] == "PJSIP/agent7"
        items = await ami.event_list("QueueStatus", "QueueStatusComplete", Queue="hotline")
        assert [i["Event"] for i in items] == ["QueueParams", "QueueMember"]
        resp = await ami.action("QueuePause", Queue="hotline", Interface="PJSIP/nobody", Paused="true")
        assert resp["Response"] == "Error"
    finally:
        await ami.close()
