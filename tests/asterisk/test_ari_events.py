"""Typed ARI events: checked against events.json and every recorded frame."""

from __future__ import annotations

import json

import pytest
from ari_replay import load_trace, ws_bodies
from reference_data import ARI_API_DOCS

from callcenter.asterisk import (
    EVENT_TYPES,
    AriMalformedFrame,
    ChannelDestroyed,
    Dial,
    GenericEvent,
    StasisStart,
    parse_event,
)
from callcenter.asterisk.ari.events import event_fields

EVENTS_JSON = ARI_API_DOCS / "events.json"
TRACES = ["ari-sos-conference.jsonl", "ari-create-dial.jsonl", "ari-errors.jsonl",
          "ari-snoop.jsonl", "ari-app-replaced.jsonl"]


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_typed_event_fields_match_events_json(name: str) -> None:
    models = json.loads(EVENTS_JSON.read_text())["models"]
    spec = {k: bool(v.get("required", False)) for k, v in models[name]["properties"].items()}
    # Fields of ARI sub-objects we do not model (Endpoint on ChannelUserevent) are left out.
    spec.pop("endpoint", None)
    assert event_fields(EVENT_TYPES[name]) == spec


def test_product_event_types_are_typed() -> None:
    wanted = {"StasisStart", "StasisEnd", "ChannelStateChange", "ChannelDestroyed",
              "ChannelHangupRequest", "ChannelDtmfReceived", "ChannelEnteredBridge",
              "ChannelLeftBridge", "BridgeCreated", "BridgeDestroyed", "ChannelVarset", "Dial",
              "PlaybackStarted", "PlaybackFinished", "RecordingStarted", "RecordingFinished",
              "RecordingFailed", "ApplicationReplaced", "ChannelCallerId", "ChannelConnectedLine"}
    assert wanted <= set(EVENT_TYPES)


@pytest.mark.parametrize("trace", TRACES)
def test_every_recorded_frame_parses_to_its_typed_event(trace: str) -> None:
    bodies = ws_bodies(load_trace(trace)) + ws_bodies(load_trace(trace), "ws1") + ws_bodies(
        load_trace(trace), "ws2") + ws_bodies(load_trace(trace), "ws3")
    assert bodies
    for body in bodies:
        event = parse_event(json.dumps(body), "pbx1")
        assert type(event) is EVENT_TYPES[body["type"]]
        assert event.node == "pbx1"
        assert event.raw == body


def test_busy_leg_dial_and_destroy_carry_recorded_values() -> None:
    bodies = ws_bodies(load_trace("ari-sos-conference.jsonl"))
    dials = [parse_event(json.dumps(b), "n") for b in bodies if b["type"] == "Dial"]
    assert all(isinstance(d, Dial) and d.caller is None for d in dials)
    assert {d.dialstatus for d in dials} >= {"", "RINGING", "ANSWER", "BUSY", "CONGESTION"}
    destroyed = [parse_event(json.dumps(b), "n") for b in bodies if b["type"] == "ChannelDestroyed"]
    assert {(d.cause, d.cause_txt) for d in destroyed if isinstance(d, ChannelDestroyed)} >= {
        (0, "Unknown"), (17, "User busy"), (19, "User alerting, no answer")}


def test_stasis_start_has_args_and_channel_identity() -> None:
    body = ws_bodies(load_trace("ari-sos-conference.jsonl"))[0]
    event = parse_event(json.dumps(body), "pbx1")
    assert isinstance(event, StasisStart)
    assert event.args == ["sos"]
    assert event.channel.caller.number == "7001"
    assert event.channel.dialplan.app_data == "callcenter,sos"
    assert event.order_key() == "channel:1795295568.109"


def test_unknown_event_type_becomes_generic_event() -> None:
    event = parse_event('{"type":"ChannelTalkingStarted2","application":"callcenter",'
                        '"timestamp":"t","x":1}', "pbx1")
    assert isinstance(event, GenericEvent)
    assert event.type == "ChannelTalkingStarted2" and event.raw["x"] == 1


@pytest.mark.parametrize("frame", [
    "not json {", "[1,2]", '{"no_type": 1}', '{"type": 5}', '"StasisStart"',
    '{"type":"StasisStart","application":"callcenter","timestamp":"t","args":"sos",'
    '"channel":{"id":"1","name":"x","state":"Up"}}',
    '{"type":"ChannelDestroyed","application":"callcenter","timestamp":"t","cause":"16",'
    '"cause_txt":"Normal","channel":{"id":"1","name":"x","state":"Up"}}',
    '{"type":"StasisEnd","application":"callcenter","timestamp":"t","channel":{"id":7}}',
    '{"type":"StasisEnd","application":"callcenter","timestamp":"t"}',
    b"\xff\xfe",
])
def test_malformed_frames_raise_malformed_frame(frame: str | bytes) -> None:
    with pytest.raises(AriMalformedFrame):
        parse_event(frame, "pbx1")
