"""The WebSocket hub: delivery by role, user and area, over the memory bus and Redis."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import WSCloseCode, web
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from callcenter.bus import SERVERS_ONLY, Bus, BusMessage
from callcenter.bus.redis import RedisBus
from callcenter.runtime import Runtime
from tests.conftest import REDIS_URL
from tests.webui.conftest import FakeClock, World, csrf_of, submit_login
from webui import create_app
from webui.keys import Principal
from webui.ws import CLOSE_SESSION_ENDED, WsClient, WsHub, audience_matches

END = "test.end"


@dataclasses.dataclass
class Hub:
    """A running console plus the bus to publish on (a separate client for Redis)."""

    server: TestServer
    publisher: Bus


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def hub(
    request: pytest.FixtureRequest, runtime: Runtime, clock: FakeClock, world: World
) -> AsyncIterator[Hub]:
    if request.param == "memory":
        async with TestServer(create_app(runtime, clock=clock)) as server:
            yield Hub(server, runtime.bus)
        return
    # Two Redis clients: the console's own, and a publisher standing for another process.
    console_bus, publisher = RedisBus(REDIS_URL), RedisBus(REDIS_URL)
    await console_bus.start()
    try:
        app = create_app(dataclasses.replace(runtime, bus=console_bus), clock=clock)
        async with TestServer(app) as server:
            yield Hub(server, publisher)
    finally:
        await publisher.close()
        await console_bus.close()


async def _connect(server: TestServer, username: str) -> tuple[aiohttp.ClientSession, int]:
    http = aiohttp.ClientSession(base_url=server.make_url(""),
                                 cookie_jar=aiohttp.CookieJar(unsafe=True))
    assert (await submit_login(http, username)).status == 303
    async with http.get("/api/me") as me:
        return http, (await me.json())["user_id"]


def _origin(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


async def _open(http: aiohttp.ClientSession, server: TestServer) -> aiohttp.ClientWebSocketResponse:
    socket = await http.ws_connect("/ws", headers={"Origin": _origin(server)})
    hello = await socket.receive_json(timeout=5)
    assert hello["topic"] == "ws.ready"
    return socket


async def _topics_until_end(socket: aiohttp.ClientWebSocketResponse) -> list[str]:
    topics = []
    async with asyncio.timeout(10):
        while True:
            message = await socket.receive_json()
            if message["topic"] == END:
                return topics
            topics.append(message["topic"])


async def test_messages_reach_only_their_audience(hub: Hub, world: World) -> None:
    names = ("agent_c1", "agent_d2", "super_d1", "auditor")
    sessions, sockets, ids = [], {}, {}
    try:
        for name in names:
            http, user_id = await _connect(hub.server, name)
            sessions.append(http)
            ids[name] = user_id
            sockets[name] = await _open(http, hub.server)
        messages = [
            BusMessage("queue.changed", {"n": 1}, {"roles": ["supervisor"]}),
            BusMessage("callback.assigned", {"n": 2}, {"users": [ids["agent_d2"]]}),
            BusMessage("sos.started", {"n": 3}, {"area_path": world.path_c1}),
            BusMessage("alarm.raised", {"n": 4}, {"roles": ["agent"], "area_path": "/D2/S2/C3/"}),
            BusMessage("notice", {"n": 5}, {"roles": ["auditor"], "users": [ids["agent_c1"]]}),
            BusMessage("hotline.call.ringing", {"caller_number": "13800138001"}, SERVERS_ONLY),
            BusMessage(END, {}),
        ]
        for message in messages:
            await hub.publisher.publish(message)
        received = {name: await _topics_until_end(sockets[name]) for name in names}
    finally:
        for http in sessions:
            await http.close()
    assert received == {
        "agent_c1": ["sos.started", "notice"],
        "agent_d2": ["callback.assigned", "alarm.raised"],
        "super_d1": ["queue.changed", "sos.started"],
        "auditor": ["sos.started", "notice"],
    }


async def test_websocket_with_a_foreign_or_missing_origin_is_refused(hub: Hub) -> None:
    http, _ = await _connect(hub.server, "agent_c1")
    try:
        for headers in ({"Origin": "http://evil.example"}, {}):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect("/ws", headers=headers)
            assert refused.value.status == 403
    finally:
        await http.close()


async def test_websocket_without_a_session_is_refused(hub: Hub) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(hub.server.make_url("/ws"), headers={"Origin": _origin(hub.server)})
    assert refused.value.status == 401


async def test_logout_closes_the_sessions_sockets(hub: Hub) -> None:
    http, _ = await _connect(hub.server, "agent_c1")
    try:
        socket = await _open(http, hub.server)
        async with http.post("/logout", data={"csrf_token": await csrf_of(http)},
                             allow_redirects=False) as response:
            assert response.status == 303
        closing = await socket.receive(timeout=5)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert socket.close_code == CLOSE_SESSION_ENDED
    finally:
        await http.close()


def _principal(user_id: int, role: str = "agent") -> Principal:
    return Principal(user_id=user_id, username=f"u{user_id}", display_name="", role=role,
                     area_path=None, token_hash=f"h{user_id}", csrf_token="c",
                     expires_at=datetime(2030, 1, 1, tzinfo=UTC))


def test_a_slow_socket_drops_its_own_messages_without_holding_up_others() -> None:
    hub = WsHub(clock=lambda: datetime(2025, 1, 1, tzinfo=UTC))
    slow = WsClient(_principal(1), web.WebSocketResponse(), queue_size=2)
    fast = WsClient(_principal(2), web.WebSocketResponse(), queue_size=100)
    hub.add(slow)
    hub.add(fast)
    # deliver() never awaits: a socket that reads nothing cannot stall the fan-out.
    counts = [hub.deliver(BusMessage("tick", {"n": n})) for n in range(10)]
    assert counts == [2, 2] + [1] * 8
    assert slow.dropped == 8 and fast.dropped == 0


def test_an_expired_session_gets_no_more_messages() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    hub = WsHub(clock=lambda: now)
    expired = WsClient(
        dataclasses.replace(_principal(1), expires_at=now - timedelta(seconds=1)),
        web.WebSocketResponse(), queue_size=10,
    )
    hub.add(expired)
    assert hub.deliver(BusMessage("tick", {})) == 0


def test_commands_between_processes_never_reach_a_browser() -> None:
    hub = WsHub(clock=lambda: datetime(2025, 1, 1, tzinfo=UTC))
    hub.add(WsClient(_principal(1, "admin"), web.WebSocketResponse(), queue_size=10))
    assert hub.deliver(BusMessage("internal.command.sos.join", {"args": {}})) == 0
    assert hub.deliver(BusMessage("internal.reply.abc", {"result": {}})) == 0
    assert hub.deliver(BusMessage("sos.updated", {})) == 1


def test_a_message_for_named_users_looks_at_their_sockets_only(
        monkeypatch: pytest.MonkeyPatch) -> None:
    hub = WsHub(clock=lambda: datetime(2025, 1, 1, tzinfo=UTC))
    mine = [WsClient(_principal(7), web.WebSocketResponse(), queue_size=10) for _ in range(2)]
    others = [WsClient(_principal(n), web.WebSocketResponse(), queue_size=10)
              for n in range(100, 120)]
    for client in [*mine, *others]:
        hub.add(client)
    looked: list[int] = []

    def counting(principal: Principal, audience: Any) -> bool:
        looked.append(principal.user_id)
        return audience_matches(principal, audience)

    monkeypatch.setattr("webui.ws.audience_matches", counting)
    assert hub.deliver(BusMessage("screenpop.show", {}, {"users": [7]})) == 2
    assert looked == [7, 7]  # not the 20 other sockets
    looked.clear()
    assert hub.deliver(BusMessage("hotline.call.ringing", {}, SERVERS_ONLY)) == 0
    assert looked == []  # servers only: no socket looked at
    assert hub.deliver(BusMessage("tick", {}, {"roles": ["agent"]})) == 22
    assert hub.user_ids(["u7", "u103", "nobody"]) == [7, 103]
    hub.discard(mine[0])
    assert hub.user_ids(["u7"]) == [7]  # one socket of theirs is still open
    hub.discard(mine[1])
    assert hub.user_ids(["u7"]) == []
    assert hub.deliver(BusMessage("screenpop.show", {}, {"users": [7]})) == 0


class _GatedSocket:
    """A console socket whose writes of some frames wait (flow control, or a large frame
    compressed aside) until the test opens their gate."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.gates: dict[str, asyncio.Future[None]] = {}
        self.cancelled: list[str] = []
        self.closed: int | None = None
        self._wrote = asyncio.Event()

    async def until_written(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.written) < count:
                self._wrote.clear()
                await self._wrote.wait()

    async def send_str(self, data: str, compress: int | None = None) -> None:
        if data == "broken":
            raise ConnectionResetError("Cannot write to closing transport")
        gate = self.gates.get(data)
        if gate is not None:
            try:
                await gate
            except asyncio.CancelledError:
                self.cancelled.append(data)
                raise
        self.written.append(data)
        self._wrote.set()

    async def close(self, *, code: int, message: bytes = b"") -> bool:
        self.closed = code
        return True


async def _idle_sender(socket: _GatedSocket) -> tuple[WsClient, asyncio.Task[None]]:
    client = WsClient(_principal(1), socket, queue_size=10)  # type: ignore[arg-type]
    sender = asyncio.create_task(client.send_loop())
    await asyncio.sleep(0)  # one step: the sender now waits for a frame
    return client, sender


async def test_a_frame_offered_to_an_idle_socket_is_written_in_the_same_step() -> None:
    socket = _GatedSocket()
    client, sender = await _idle_sender(socket)
    assert client.offer("pop")
    assert socket.written == ["pop"]  # no await between: nothing else ran before it
    sender.cancel()


async def test_a_write_that_must_wait_goes_out_before_the_frames_offered_after_it() -> None:
    socket = _GatedSocket()
    client, sender = await _idle_sender(socket)
    socket.gates["big"] = asyncio.get_running_loop().create_future()
    for frame in ("a", "big", "c", "d"):
        assert client.offer(frame)
    assert socket.written == ["a"]  # "big" waits, and what came after it waits behind it
    socket.gates["big"].set_result(None)
    await socket.until_written(4)
    assert socket.written == ["a", "big", "c", "d"]
    assert client.offer("e") and socket.written[-1] == "e"  # idle again: written at once
    sender.cancel()


async def test_a_write_stuck_past_the_send_timeout_is_cancelled_and_the_socket_closed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("webui.ws.SEND_TIMEOUT", 0.05)
    socket = _GatedSocket()
    client, sender = await _idle_sender(socket)
    socket.gates["stuck"] = asyncio.get_running_loop().create_future()
    client.offer("stuck")
    client.offer("after")
    async with asyncio.timeout(5):
        await sender
    assert socket.cancelled == ["stuck"] and socket.written == []
    assert socket.closed == WSCloseCode.GOING_AWAY


async def test_a_write_that_fails_at_once_closes_the_socket() -> None:
    socket = _GatedSocket()
    client, sender = await _idle_sender(socket)
    with capture_logs() as logs:
        assert client.offer("broken")
        async with asyncio.timeout(5):
            await sender
    assert socket.closed == WSCloseCode.GOING_AWAY
    failed = [r for r in logs if r["event"] == "websocket send failed, closing"]
    assert "Cannot write to closing transport" in failed[0]["detail"]  # the write's own error


async def test_a_shutdown_closes_the_open_sockets_at_once(runtime: Runtime, clock: FakeClock,
                                                         world: World) -> None:
    """A product stopping (a restart while consoles are open) closes their sockets with
    "going away" before waiting for its handlers: it does not sit out its minute of grace."""
    server = TestServer(create_app(runtime, clock=clock))
    await server.start_server()
    try:
        http, _ = await _connect(server, "agent_c1")
        socket = await _open(http, server)
        async with asyncio.timeout(10):
            await server.close()
            closing = await socket.receive()
        assert closing.type == aiohttp.WSMsgType.CLOSE
        assert closing.data == WSCloseCode.GOING_AWAY
        await http.close()
    finally:
        await server.close()
