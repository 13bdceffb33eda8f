"""The live view over the product's path: hotline topics on the bus → the supervisors'
sockets (within their area), figures read again from the stored calls after a call ends;
``GET /api/queues`` by role and area, its parameters checked, in the OpenAPI document."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import aiohttp

from callcenter.bus import BusMessage
from callcenter.calls.models import AgentEvent, Call
from tests.wallboard.conftest import Console
from tests.webui.conftest import FakeClock, World


async def _socket(console: Console, http: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
    socket = await http.ws_connect("/ws", headers={"Origin": console.url})
    assert (await socket.receive_json(timeout=5))["topic"] == "ws.ready"
    return socket


async def _next(socket: aiohttp.ClientWebSocketResponse, topic: str,
                match: Any = lambda p: True) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            message = await socket.receive_json()
            if message["topic"] == topic and match(message["payload"]):
                payload: dict[str, Any] = message["payload"]
                return payload


async def test_the_view_follows_the_hotline_and_the_stored_calls(
    console: Console, world: World, clock: FakeClock,
) -> None:
    boss = await console.login("super_d1")
    socket = await _socket(console, boss)
    since = clock.now - timedelta(seconds=30)
    await console.runtime.bus.publish(BusMessage("hotline.queue.changed", {
        "queue": "general", "waiting": 2, "longest_wait_since": since.isoformat(),
        "callers": []}))
    row = await _next(socket, "wallboard.queue")
    assert (row["queue"], row["waiting"], row["longest_wait_seconds"]) == ("general", 2, 30)

    await console.runtime.bus.publish(BusMessage("hotline.agent.changed", {
        "agent": "agent_c1", "state": "paused", "reason": "午休", "queues": ["general"],
        "since": clock.now.isoformat()}))
    # (A figures round may send the stored state first; the live one follows.)
    agent = await _next(socket, "wallboard.agent",
                        lambda p: p["agent"] == "agent_c1" and p["state"] == "paused")
    assert agent["reason"] == "午休"

    # A call is stored as answered and ended; its "ended" makes the figures be read again.
    async with console.runtime.sessions.begin() as db:
        db.add(Call(id="c1", kind="hotline", direction="inbound", queue="general",
                    agent="agent_c1", started_at=clock.now - timedelta(minutes=3),
                    queued_at=clock.now - timedelta(minutes=3),
                    answered_at=clock.now - timedelta(minutes=2), ended_at=clock.now,
                    wait_seconds=12, talk_seconds=100, wrapup_seconds=20, outcome="answered"))
        db.add(AgentEvent(agent="agent_c1", queue="general", kind="login",
                          at=clock.now - timedelta(hours=1)))
    await console.runtime.bus.publish(BusMessage("hotline.call.ended", {
        "call_id": "c1", "queue": "general", "agent": "agent_c1", "outcome": "answered",
        "ended_at": clock.now.isoformat()}))
    row = await _next(socket, "wallboard.queue", lambda p: p["offered"] == 1)
    assert (row["answered"], row["service_level"], row["asa_seconds"], row["aht_seconds"]) == (
        1, 1.0, 12.0, 120.0)
    assert row["waiting"] == 2  # the live part stays the hotline's
    agent = await _next(socket, "wallboard.agent",
                        lambda p: p["agent"] == "agent_c1" and p["calls"] == 1)
    assert (agent["handling_seconds"], agent["state"]) == (120, "paused")

    await console.runtime.bus.publish(BusMessage("hotline.callbacks.changed", {"pending": 3}))
    assert await _next(socket, "wallboard.callbacks") == {"pending": 3}
    async with boss.get("/api/queues") as response:
        body = await response.json()
    assert body["callbacks_pending"] == 3
    assert [q["queue"] for q in body["queues"]] == ["general"]
    await boss.close()


async def test_queues_api_by_role_area_and_parameters(console: Console, world: World) -> None:
    agent, boss, admin = (await console.login("agent_c1"), await console.login("super_d1"),
                          await console.login("admin"))
    async with agent.get("/api/queues") as response:
        assert response.status == 403
    async with boss.get("/api/queues") as response:
        assert response.status == 200
        people = {a["agent"] for a in (await response.json())["agents"]}
    assert people == {"agent_street", "agent_c1"}  # agent_d2 is outside district D1
    async with admin.get("/api/queues?period=week") as response:
        body = await response.json()
    assert {a["agent"] for a in body["agents"]} == {"agent_street", "agent_c1", "agent_d2"}
    for bad in ("?period=year", "?from=2025-03-01T00:00:00%2B08:00",
                "?from=2025-03-02T00:00:00&to=2025-03-03T00:00:00",
                "?from=2025-03-03T00:00:00Z&to=2025-03-01T00:00:00Z", "?bogus=1"):
        async with admin.get("/api/queues" + bad) as response:
            assert response.status == 422, bad
    async with admin.get("/api/queues?from=2025-03-01T00:00:00Z&to=2025-03-02T00:00:00Z") as r:
        assert r.status == 200 and (await r.json())["period"] == "window"
    async with admin.get("/api/queues/intervals?day=2025-03-03") as response:
        rows = (await response.json())["intervals"]
    assert len(rows) == 96 and rows[0]["start"] == "2025-03-02T16:00:00Z"
    async with admin.get("/wallboard/history.svg") as response:
        assert response.content_type == "image/svg+xml"
        assert (await response.text()).startswith("<svg")
    async with admin.get("/api/openapi.json") as response:
        paths = (await response.json())["paths"]
    assert {"/api/queues", "/api/queues/intervals", "/api/screenpop/current"} <= set(paths)
    for http in (agent, boss, admin):
        await http.close()
