"""Adapter details the contract suite relies on: wire order, banner, lazy nested objects."""

from __future__ import annotations

import asyncio
import json

import pytest
from ami_replay import AmiReplayServer, load_ami
from ari_replay import load_trace, ws_bodies
from structlog.testing import capture_logs

from callcenter.asterisk import (
    AmiClient,
    AmiEvent,
    AriMalformedFrame,
    Backoff,
    Channel,
    StasisStart,
    parse_event,
)
from callcenter.asterisk.dispatch import OrderedDispatcher

WAIT = 5.0


async def test_ami_events_carry_their_arrival_order_across_keys_and_the_banner_version() -> None:
    server = AmiReplayServer(*load_ami("ami-queue-answered.txt"))
    await server.start()
    ami = AmiClient("127.0.0.1", server.port, "callcenter", "callcenter", node="pbx1",
                    backoff=Backoff(initial=0.01, maximum=0.05))
    seen: list[AmiEvent] = []
    ami.on("*", seen.append)
    await ami.connect(wait_seconds=WAIT)
    async with asyncio.timeout(WAIT):
        # The replay server answers the recorded actions in their recorded order.
        await ami.queue_add("hotline", "Local/agent1@agents-sim/n", member_name="Agent 1",
                            penalty=0, paused=False)
        await ami.queue_pause("hotline", "Local/agent1@agents-sim/n", True, reason="coffee")
        await ami.queue_pause("hotline", "Local/agent1@agents-sim/n", False)
        result = await ami.originate("Local/hotline@queue-entry/n", application="Wait",
                                     data="60", caller_id="Caller <5551234>")
        await ami.dispatcher.drain()
    version = ami.protocol_version
    await ami.close()
    await server.close()
    assert version and version[0].isdigit()  # from "Asterisk Call Manager/<version>"
    assert result.response is not None
    assert result.response.message == "Originate successfully queued"
    # Handlers of different keys (calls, queues) interleave; seq restores the wire order.
    seqs = [e.seq for e in seen]
    assert len(set(seqs)) == len(seqs) and min(seqs) >= 1
    wire = [e.name for e in sorted(seen, key=lambda e: e.seq)]
    assert wire.index("QueueCallerJoin") < wire.index("AgentCalled")


def test_nested_channel_is_built_on_first_read_and_keeps_its_value() -> None:
    body = ws_bodies(load_trace("ari-sos-conference.jsonl"))[0]
    event = parse_event(json.dumps(body), "pbx1")
    assert isinstance(event, StasisStart)
    assert event.order_key() == f"channel:{body['channel']['id']}"  # without building it
    channel = event.channel
    assert isinstance(channel, Channel) and channel.id == body["channel"]["id"]
    assert event.channel is channel  # built once
    assert event == parse_event(json.dumps(body), "pbx1")


def test_malformed_nested_channel_fails_on_read_and_a_bad_id_at_parse() -> None:
    frame = {"type": "StasisEnd", "application": "callcenter", "timestamp": "t",
             "channel": {"id": "1", "name": "x", "state": 5}}
    event = parse_event(json.dumps(frame), "pbx1")
    assert event.order_key() == "channel:1"
    with pytest.raises(AriMalformedFrame, match="StasisEnd.channel"):
        _ = event.channel  # type: ignore[attr-defined]
    frame["channel"] = {"id": 1, "name": "x", "state": "Up"}
    with pytest.raises(AriMalformedFrame):
        parse_event(json.dumps(frame), "pbx1")


async def test_sync_handler_returning_a_value_is_not_awaited() -> None:
    firsts: dict[str, bool] = {}
    d: OrderedDispatcher[str] = OrderedDispatcher(
        lambda e: (lambda ev: firsts.setdefault(ev, True),))
    with capture_logs() as logs:
        d.submit("channel:1", "a")
        async with asyncio.timeout(WAIT):
            await d.drain()
    await d.close()
    assert firsts == {"a": True} and not [r for r in logs if r["event"] == "event handler failed"]
