"""The ARI client against a server replaying the recorded Asterisk 22 traffic."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from ari_replay import AriReplayServer, WsScript, frames_of, load_trace, ws_bodies
from conftest import make_client
from dispatch_probe import live_consumer_keys
from structlog.testing import capture_logs

from callcenter.asterisk import (
    AriConflict,
    AriConnectionError,
    AriError,
    AriEvent,
    AriNotFound,
    AriServerError,
    AriSnapshot,
    AriUnauthorized,
    AriUnprocessable,
    BridgeDestroyed,
    ChannelDestroyed,
    StasisStart,
)
from callcenter.asterisk.ari.errors import error_for_status

WAIT = 5.0


class Collector:
    """Collects events and resolves a future once ``until`` is seen."""

    def __init__(self, until: str, count: int = 1) -> None:
        self.events: list[AriEvent] = []
        self.until = until
        self.count = count
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def __call__(self, event: AriEvent) -> None:
        self.events.append(event)
        if event.type == self.until:
            self.count -= 1
            if self.count == 0 and not self.done.done():
                self.done.set_result(None)


async def test_replayed_sos_conference_arrives_typed_and_in_order(ari_server) -> None:
    bodies = ws_bodies(ari_server.records)
    ari_server.scripts.append(WsScript(frames_of(bodies), then="hold"))
    client = make_client(ari_server)
    seen = Collector("BridgeDestroyed")
    client.on("*", seen)
    await client.connect(wait_seconds=WAIT)
    async with asyncio.timeout(WAIT):
        await seen.done
    await client.close()
    assert len(seen.events) == len(bodies)
    assert all(e.node == "pbx1" for e in seen.events)
    # Per channel, handlers saw the channel's events in wire order.
    for key in {e.order_key() for e in seen.events}:
        wire = [b for b in bodies if _key(b) == key]
        got = [e.raw for e in seen.events if e.order_key() == key]
        assert got == wire
    assert isinstance(seen.events[-1], BridgeDestroyed)


def _key(body: dict[str, Any]) -> str:
    import json

    from callcenter.asterisk import parse_event
    return parse_event(json.dumps(body), "x").order_key()


async def test_rest_calls_use_query_string_as_recorded(ari_server) -> None:
    client = make_client(ari_server)
    bridge = await client.bridges.create("mixing", bridge_id="sos-TEST1", name="sos-TEST1")
    assert await client.channels.originate("Local/sos@sos-entry/n", context="people", extension="phone",
                                           priority=1, caller_id="Elder <7001>", timeout=30)
    assert bridge.id == "sos-TEST1" and bridge.technology == "simple_bridge"
    rec = await client.bridges.record("sos-TEST1", "sos-TEST1", "wav")
    stored = await client.recordings.list_stored()
    data = await client.recordings.download("sos-TEST1")
    await client.recordings.delete_stored("sos-TEST1")
    await client.close()
    assert ("POST", "/ari/bridges/sos-TEST1", {"type": "mixing", "name": "sos-TEST1"}) in ari_server.requests
    assert ("POST", "/ari/channels", {"endpoint": "Local/sos@sos-entry/n", "context": "people",
            "extension": "phone", "priority": "1", "callerId": "Elder <7001>", "timeout": "30"}
            ) in ari_server.requests
    assert rec.state == "queued" and rec.target == ("bridge", "sos-TEST1")
    assert [s.name for s in stored] == ["sos-TEST1"]
    assert len(data) == 128364


ERROR_CASES = [
    r for r in load_trace("ari-errors.jsonl") if r["dir"] == "resp" and r["status"] >= 400
    and r["path"] != "/ari/events"
]


async def test_every_recorded_error_maps_to_its_exception_class() -> None:
    records = load_trace("ari-errors.jsonl")
    server = AriReplayServer(records=records)
    await server.start()
    client = make_client(server)
    reqs = [r for r in records if r["dir"] == "req" and r["path"] != "/ari/events"]
    resps = [r for r in records if r["dir"] == "resp" and r["path"] != "/ari/events"]
    checked = 0
    try:
        for req, resp in zip(reqs, resps, strict=True):
            if req.get("auth") or resp["status"] == 401:
                continue  # covered by test_wrong_credentials_raise_unauthorized
            if resp["status"] < 400:  # setup steps: replayed in order, they must succeed
                await client.rest.request(req["method"], req["path"].removeprefix("/ari"),
                                          req["query"], raw=True)
                continue
            with pytest.raises(AriError) as info:
                await client.rest.request(req["method"], req["path"].removeprefix("/ari"),
                                          req["query"])
            err = info.value
            assert type(err) is error_for_status(resp["status"])
            assert err.status == resp["status"]
            assert err.message == (resp["body"].get("message") or resp["body"].get("error"))
            assert err.method == req["method"] and err.path == req["path"].removeprefix("/ari")
            assert err.node == "pbx1"
            checked += 1
    finally:
        await client.close()
        await server.close()
    assert checked >= 30


async def test_typed_calls_raise_the_recorded_errors() -> None:
    server = AriReplayServer(records=load_trace("ari-errors.jsonl"))
    await server.start()
    client = make_client(server)
    try:
        with pytest.raises(AriNotFound, match="Channel not found"):
            await client.channels.get("no-such-channel")
        await client.bridges.create_with_id("err-B1", "mixing", name="err-B1")
        with pytest.raises(AriConflict, match="already exists"):
            await client.bridges.create("mixing", bridge_id="err-B1", name="err-B1")
        with pytest.raises(AriUnprocessable, match="Channel not in this bridge"):
            await client.bridges.remove_channel("err-B2", "1795295604.132")
        with pytest.raises(AriServerError, match="Allocation failed"):
            await client.channels.originate("Foo/bar", app="callcenter")
    finally:
        await client.close()
        await server.close()


async def test_wrong_credentials_raise_unauthorized(ari_server) -> None:
    ari_server.password = "other"
    client = make_client(ari_server)
    with pytest.raises(AriUnauthorized) as info:
        await client.channels.list()
    assert info.value.status == 401 and info.value.message == "Authentication required"
    with pytest.raises(AriConnectionError) as conn:
        await client.connect(wait_seconds=0.3)
    await client.close()
    assert isinstance(client.last_error, AriUnauthorized)
    assert ari_server.ws_refusals >= 1
    assert conn.value.status == 401


async def test_reconnects_and_resyncs_after_server_drops_socket(ari_server) -> None:
    bodies = ws_bodies(ari_server.records)
    ari_server.scripts.append(WsScript(frames_of(bodies[:3]), then="close"))
    ari_server.scripts.append(WsScript(frames_of(bodies[3:6]), then="hold"))
    ari_server.rest_overrides[("GET", "/ari/channels")] = (200, [bodies[0]["channel"]])
    ari_server.rest_overrides[("GET", "/ari/bridges")] = (200, [])
    ari_server.rest_overrides[("GET", "/ari/applications/callcenter")] = (200, {
        "name": "callcenter", "channel_ids": [bodies[0]["channel"]["id"]], "bridge_ids": [],
        "endpoint_ids": [], "device_names": [], "events_allowed": [], "events_disallowed": []})
    client = make_client(ari_server)
    snapshots: list[AriSnapshot] = []
    two: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    connects: list[bool] = []

    async def on_connected(c: Any) -> None:
        connects.append(c.connected)

    async def on_resynced(snapshot: AriSnapshot) -> None:
        # The first connection's resync may be cut short by the drop: only the reconnect's counts.
        snapshots.append(snapshot)
        if client.stats.connects == 2 and not two.done():
            two.set_result(None)

    client.on_connected(on_connected)
    client.on_resynced(on_resynced)
    seen = Collector("never")
    client.on("*", seen)
    await client.connect(wait_seconds=WAIT)
    async with asyncio.timeout(WAIT):
        await two
    await client.dispatcher.drain()
    await client.close()
    assert ari_server.ws_connects == 2
    assert connects and connects[-1] is True
    assert [c.id for c in snapshots[-1].channels] == [bodies[0]["channel"]["id"]]
    assert snapshots[-1].node == "pbx1"
    assert sorted(e.timestamp + e.type for e in seen.events) == sorted(
        b["timestamp"] + b["type"] for b in bodies[:6])
    assert ("GET", "/ari/applications/callcenter", {}) in ari_server.requests


async def test_connection_refused_is_retried_until_server_appears() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = AriReplayServer(records=[])
    from callcenter.asterisk import AriClient, Backoff
    client = AriClient(f"http://127.0.0.1:{port}", "callcenter", "callcenter", "callcenter",
                       node="pbx1", backoff=Backoff(initial=0.01, maximum=0.05))
    with capture_logs() as logs:
        with pytest.raises(AriConnectionError):
            await client.connect(wait_seconds=0.2)  # refused, retried in the background
        from aiohttp.test_utils import TestServer
        server.server = TestServer(server.app, port=port)
        await server.start()
        async with asyncio.timeout(WAIT):
            await client.wait_connected()
    await client.close()
    await server.close()
    assert isinstance(client.last_error, AriConnectionError)
    assert sum(r["event"] == "ari connect failed" for r in logs) >= 2


async def test_half_open_socket_detected_by_heartbeat_and_reconnected(ari_server) -> None:
    ari_server.scripts.append(WsScript([], then="silent"))  # never answers pings
    ari_server.scripts.append(WsScript([], then="hold"))
    client = make_client(ari_server, heartbeat=0.1)
    second: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def on_connected(c: Any) -> None:
        if c.stats.connects == 2:
            second.set_result(None)

    client.on_connected(on_connected)
    await client.connect(wait_seconds=WAIT)
    async with asyncio.timeout(WAIT):
        await second
    await client.close()
    assert client.stats.connects == 2


async def test_bad_frames_are_logged_and_dropped_while_good_ones_flow(ari_server) -> None:
    good = frames_of(ws_bodies(ari_server.records)[:2])
    bad: list[str | bytes] = ["not json", '{"no":"type"}', "[]",
                              '{"type":"StasisEnd","application":"callcenter","timestamp":"t","channel":{"id":1}}',
                              '{"type":"SomethingNew","application":"callcenter","timestamp":"t"}',
                              b"\x00\x01binary"]
    ari_server.scripts.append(WsScript([bad[0], good[0], *bad[1:], good[1]], then="hold"))
    client = make_client(ari_server)
    seen = Collector("ChannelStateChange")
    client.on("*", seen)
    with capture_logs() as logs:
        await client.connect(wait_seconds=WAIT)
        async with asyncio.timeout(WAIT):
            await seen.done
            await client.dispatcher.drain()
    await client.close()
    assert sorted(e.type for e in seen.events) == ["ChannelStateChange", "SomethingNew", "StasisStart"]
    assert client.stats.malformed == 5 and client.stats.unknown == 1
    assert sum(r["event"] == "malformed ari frame dropped" for r in logs) == 5
    assert any(r["event"].startswith("untyped ari event") for r in logs)


async def test_handler_exception_is_logged_and_later_events_still_handled(ari_server) -> None:
    bodies = ws_bodies(ari_server.records)
    ari_server.scripts.append(WsScript(frames_of(bodies[:2]), then="hold"))
    client = make_client(ari_server)
    seen = Collector("ChannelStateChange")

    def boom(event: StasisStart) -> None:
        raise RuntimeError("feature bug")

    client.on(StasisStart, boom)
    client.on("*", seen)
    with capture_logs() as logs:
        await client.connect(wait_seconds=WAIT)
        async with asyncio.timeout(WAIT):
            await seen.done
    await client.close()
    assert sum(r["event"] == "event handler failed" for r in logs) == 1


async def test_500_and_503_from_rest_map_to_server_errors(ari_server) -> None:
    ari_server.rest_overrides[("GET", "/ari/asterisk/info")] = (503, {"message": "booting"})
    ari_server.rest_overrides[("GET", "/ari/bridges")] = (500, b"<html>oops</html>")
    client = make_client(ari_server)
    with pytest.raises(AriServerError) as info:
        await client.asterisk.info()
    assert info.value.status == 503 and info.value.error_id == "ari_unavailable"
    with pytest.raises(AriServerError) as info2:
        await client.bridges.list()
    await client.close()
    assert info2.value.status == 500 and "oops" in info2.value.message


async def test_channel_destroyed_evicts_its_consumer(ari_server) -> None:
    bodies = [b for b in ws_bodies(ari_server.records) if b["type"] == "ChannelDestroyed"][:1]
    ari_server.scripts.append(WsScript(frames_of(bodies), then="hold"))
    client = make_client(ari_server)
    seen = Collector("ChannelDestroyed")
    client.on(ChannelDestroyed, seen)
    await client.connect(wait_seconds=WAIT)
    async with asyncio.timeout(WAIT):
        await seen.done
        await client.dispatcher.drain()
    live = live_consumer_keys("ari:pbx1")
    await client.close()
    assert f"channel:{bodies[0]['channel']['id']}" not in live
    assert live_consumer_keys("ari:pbx1") == []


async def test_an_app_unregistered_under_an_open_socket_is_connected_again(ari_server) -> None:
    # Asterisk 22.10.1, seen in the contract suite: an earlier socket of the app closed while
    # this one registered, and the app went with it; this socket stayed open and deaf
    # ("Stasis app 'callcenter' doesn't exist" for every new call). The resync's
    # GET /applications/{app} says 404: the client connects again.
    ari_server.scripts.append(WsScript([], then="hold"))
    ari_server.scripts.append(WsScript([], then="hold"))
    ari_server.rest_overrides[("GET", "/ari/channels")] = (200, [])
    ari_server.rest_overrides[("GET", "/ari/bridges")] = (200, [])
    missing = (404, {"message": "Application not found"})
    found = (200, {"name": "callcenter", "channel_ids": [], "bridge_ids": [], "endpoint_ids": [],
                   "device_names": [], "events_allowed": [], "events_disallowed": []})
    ari_server.rest_overrides[("GET", "/ari/applications/callcenter")] = missing
    client = make_client(ari_server)
    resynced: asyncio.Future[AriSnapshot] = asyncio.get_running_loop().create_future()

    async def on_connected(c: Any) -> None:
        if c.stats.connects == 2:  # registered for good this time
            ari_server.rest_overrides[("GET", "/ari/applications/callcenter")] = found

    async def on_resynced(snapshot: AriSnapshot) -> None:
        if not resynced.done():
            resynced.set_result(snapshot)

    client.on_connected(on_connected)
    client.on_resynced(on_resynced)
    with capture_logs() as logs:
        await client.connect(wait_seconds=WAIT)
        async with asyncio.timeout(WAIT):
            snapshot = await resynced
    await client.close()
    assert ari_server.ws_connects == 2 and client.stats.connects == 2
    assert snapshot.application is not None and snapshot.application.name == "callcenter"
    assert any(e["event"] == "ari app not registered on the open socket; reconnecting"
               for e in logs)
