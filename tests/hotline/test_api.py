"""The hotline API over HTTP: agents, calls, callbacks, transfers and supervision, for
browser sessions and API tokens alike, in the OpenAPI document."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from ari_apps.hotline.http import install_web
from callcenter.apitokens import create_client, hashing_key
from callcenter.bus import MemoryBus
from callcenter.passwords import Passwords
from callcenter.runtime import open_runtime
from callcenter.settings import Settings
from callcenter.store.models import AuditEntry, Role
from tests.factories import DEFAULT_PASSWORD
from tests.hotline.conftest import ELDER_PHONE, STRANGER, HotlineHarness, Seeded
from webui import create_app


@pytest.fixture
async def server(hotline: HotlineHarness, settings: Settings,
                 passwords: Passwords) -> AsyncIterator[TestServer]:
    async with open_runtime(settings, bus=MemoryBus()) as opened:
        runtime = dataclasses.replace(opened, passwords=passwords)
        app = create_app(runtime, features=[lambda app: install_web(app, hotline.commands)])
        async with TestServer(app) as started:
            yield started


async def console(server: TestServer, username: str) -> aiohttp.ClientSession:
    """A logged-in browser session that sends its CSRF token."""
    http = aiohttp.ClientSession(base_url=server.make_url(""),
                                 cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.get("/login") as page:
        match = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert match is not None
    async with http.post("/login", data={"username": username, "password": DEFAULT_PASSWORD,
                                         "csrf_token": match.group(1), "next": ""},
                         allow_redirects=False) as response:
        assert response.status == 303
    async with http.get("/api/me") as me:
        http.headers["X-CSRF-Token"] = (await me.json())["csrf_token"]
    return http


async def call(http: aiohttp.ClientSession, method: str, path: str,
               body: Any = None) -> tuple[int, Any]:
    async with http.request(method, path, json=body) as response:
        return response.status, await response.json(content_type=None)


async def test_an_agent_logs_in_pauses_unpauses_and_logs_out_over_http(
        server: TestServer, hotline: HotlineHarness) -> None:
    http = await console(server, "agent1")
    try:
        status, body = await call(http, "POST", "/api/agents/me/login", {"queues": ["hotline"]})
        assert status == 200 and body["state"] == "idle" and body["queues"] == ["hotline"]
        status, body = await call(http, "POST", "/api/agents/me/pause", {"reason": "training"})
        assert (status, body["state"], body["reason"]) == (200, "paused", "training")
        status, body = await call(http, "POST", "/api/agents/me/pause", {"reason": "nap"})
        assert status == 422 and body["error_id"] == "unknown-pause-reason"
        status, body = await call(http, "POST", "/api/agents/me/login", {"queues": []})
        assert status == 422
        status, body = await call(http, "GET", "/api/agents")
        assert status == 200 and [a["agent"] for a in body["agents"]] == ["agent1"]
        assert (await call(http, "POST", "/api/agents/me/unpause"))[1]["state"] == "idle"
        assert (await call(http, "POST", "/api/agents/me/logout"))[1]["state"] == "logged_out"
    finally:
        await http.close()


async def test_calls_are_listed_with_filters_and_read_with_their_children(
        server: TestServer, hotline: HotlineHarness, seeded: Seeded) -> None:
    await hotline.service.agents.login("agent1", ["hotline"])
    elder_call = hotline.call_in(ELDER_PHONE)
    await hotline.until(lambda: hotline.topics("hotline.call.answered"))
    stranger = hotline.call_in(STRANGER)
    await hotline.until(lambda: any(e.ch.id == stranger for e in
                                    hotline.sim.queues.queues["hotline"].callers))
    hotline.hang_up(stranger)
    await hotline.until(hotline.callbacks)
    http = await console(server, "sup1")
    try:
        status, body = await call(http, "GET", f"/api/calls?elder={seeded.elder_id}")
        assert status == 200 and [c["id"] for c in body["calls"]] == [elder_call]
        status, body = await call(http, "GET", "/api/calls?number=9999")  # ends with
        assert [c["id"] for c in body["calls"]] == [stranger]
        status, body = await call(http, "GET", "/api/calls?agent=agent1&queue=hotline")
        assert [c["id"] for c in body["calls"]] == [elder_call]
        status, body = await call(http, "GET", "/api/calls?from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z")
        assert body["calls"] == []
        status, body = await call(http, "GET", "/api/calls?number=12ab")
        assert status == 422
        status, body = await call(http, "GET", f"/api/calls/{elder_call}")
        assert status == 200 and body["agent"] == "agent1" and body["children"] == []
        status, body = await call(http, "GET", "/api/calls/nope")
        assert status == 404 and body["error_id"] == "call-not-found"
        status, body = await call(http, "GET", "/api/callbacks")
        assert status == 200 and [c["call_id"] for c in body["callbacks"]] == [stranger]
    finally:
        await http.close()


async def test_an_attended_transfer_over_http_consults_then_completes(
        server: TestServer, hotline: HotlineHarness) -> None:
    await hotline.service.agents.login("agent1", ["hotline"])
    await hotline.service.agents.login("agent2", ["vip"])
    elder_call = hotline.linkedid(hotline.call_in(ELDER_PHONE))
    await hotline.until(lambda: hotline.topics("hotline.call.answered"))
    agent = await console(server, "agent1")
    path = f"/api/calls/{elder_call}/transfer"
    try:
        status, body = await call(agent, "POST", path + "/complete")
        assert status == 404 and body["error_id"] == "call-not-found"  # no consultation yet
        status, body = await call(agent, "POST", path, {"to": "queue", "target": "vip",
                                                        "mode": "consult"})
        assert status == 422
        status, body = await call(agent, "POST", path, {"to": "queue", "target": "vip",
                                                        "mode": "attended"})
        assert status == 200 and (body["mode"], body["state"]) == ("attended", "calling")
        await hotline.until(lambda: any(p["state"] == "talking" for p in
                                        hotline.topics("hotline.call.consult")))
        status, done = await call(agent, "POST", path + "/complete")
        assert status == 200 and done["new_call_id"] == body["new_call_id"]
        parent = await hotline.row_with(elder_call, "ended_at")
        assert parent.outcome == "transferred"
        status, detail = await call(agent, "GET", f"/api/calls/{elder_call}")
        assert [c["id"] for c in detail["children"]] == [body["new_call_id"]]
    finally:
        await agent.close()


async def test_supervision_is_for_supervisors_and_transfers_need_a_live_call(
        server: TestServer, hotline: HotlineHarness) -> None:
    agent = await console(server, "agent1")
    try:
        status, body = await call(agent, "POST", "/api/calls/x/supervise", {"mode": "listen"})
        assert status == 403
        status, body = await call(agent, "POST", "/api/calls/x/transfer",
                                  {"to": "queue", "target": "vip"})
        assert status == 404
        status, body = await call(agent, "POST", "/api/calls/dial", {"number": "abc"})
        assert status == 422
    finally:
        await agent.close()


async def test_an_api_token_reads_calls_and_the_document_lists_the_routes(
        server: TestServer, hotline: HotlineHarness, settings: Settings) -> None:
    async with hotline.sessions.begin() as db:
        token = await create_client(db, hashing_key(settings.secret_key_bytes()), "crm",
                                    Role.SUPERVISOR, None, actor="test")
    async with aiohttp.ClientSession(base_url=server.make_url("")) as http:
        headers = {"Authorization": f"Bearer {token}"}
        async with http.get("/api/calls", headers=headers) as response:
            assert response.status == 200 and (await response.json())["calls"] == []
        async with http.get("/api/openapi.json") as response:
            paths = (await response.json())["paths"]
    for path in ("/api/agents/me/login", "/api/agents/me/pause", "/api/agents/me/unpause",
                 "/api/agents/me/logout", "/api/agents", "/api/calls", "/api/calls/{call}",
                 "/api/calls/{call}/transfer", "/api/calls/{call}/transfer/complete",
                 "/api/calls/{call}/transfer/cancel", "/api/calls/{call}/supervise",
                 "/api/calls/dial",
                 "/api/callbacks"):
        assert path in paths, path


async def test_a_supervisor_flags_an_elder_high_risk_and_their_calls_go_first(
        server: TestServer, hotline: HotlineHarness, seeded: Seeded) -> None:
    agent, supervisor = await console(server, "agent1"), await console(server, "sup1")
    try:
        path = f"/api/elders/{seeded.elder_id}/high-risk"
        assert (await call(agent, "PUT", path, {"reason": "x"}))[0] == 403
        status, body = await call(supervisor, "PUT", path, {"reason": "独居、心衰"})
        assert status == 200 and body["high_risk"] is True and body["set_by"] == "sup1"
        assert (await call(supervisor, "PUT", "/api/elders/999999/high-risk", {}))[0] == 404
        channel = hotline.call_in(ELDER_PHONE)
        row = await hotline.row_with(channel, "queued_at")
        assert row.priority == 8 and row.details["reason"] == "high_risk"
        status, body = await call(supervisor, "DELETE", path)
        assert status == 200 and body["high_risk"] is False
        async with hotline.sessions() as db:
            actions = [a.action for a in (await db.execute(
                select(AuditEntry).order_by(AuditEntry.seq))).scalars()]
        assert [a for a in actions if a.startswith("hotline.")] == [
            "hotline.high_risk.set", "hotline.high_risk.cleared"]
    finally:
        await agent.close()
        await supervisor.close()
