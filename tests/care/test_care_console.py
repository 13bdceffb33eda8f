"""The care API and page: calls and plans in my jurisdiction, filters, a paused campaign."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from ari_apps.care.http import install_web
from ari_apps.care.models import CareKind
from callcenter.commands import CommandPath
from callcenter.crypto import FieldCipher
from callcenter.passwords import Passwords
from callcenter.pbxsim.server import PbxSimulator
from callcenter.runtime import Runtime
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from callcenter.store.models import Area, Role
from tests.care.conftest import (
    ELDER_PHONE,
    CareHarness,
    Elders,
    care_settings,
    close_care,
    open_care,
)
from tests.factories import make_area, make_user
from tests.webui.conftest import csrf_of, submit_login
from webui import create_app


@dataclass
class CareConsole:
    care: CareHarness
    app: web.Application


async def open_console(sim: PbxSimulator, settings: Settings, sessions: SessionFactory,
                       elders: Elders, tmp_path: Path, cipher: FieldCipher,
                       passwords: Passwords) -> CareConsole:
    from callcenter.bus import MemoryBus

    bus = MemoryBus()
    configured = care_settings(settings, sim)
    care = await open_care(sim, configured, sessions, elders, tmp_path, bus=bus)
    async with sessions.begin() as session:
        district = (await session.execute(select(Area).where(Area.code == "120104"))
                    ).scalar_one()
        other = await make_area(session, "120101", "和平区")
        await make_user(session, passwords, "sup_nk", Role.SUPERVISOR.value, area=district,
                        display_name="南开班长")
        await make_user(session, passwords, "agent_hp", Role.AGENT.value, area=other)
    runtime = Runtime(settings=configured, engine=sessions.kw["bind"], sessions=sessions,
                      read_sessions=sessions, bus=bus, cipher=cipher, passwords=passwords)
    app = create_app(runtime, clock=care.now,
                     features=[lambda a: install_web(a, care.app, CommandPath(bus))])
    return CareConsole(care, app)


@pytest.fixture
async def console(sim: PbxSimulator, settings: Settings, sessions: SessionFactory,
                  elders: Elders, tmp_path: Path, cipher: FieldCipher,
                  passwords: Passwords) -> AsyncIterator[CareConsole]:
    opened = await open_console(sim, settings, sessions, elders, tmp_path, cipher, passwords)
    try:
        yield opened
    finally:
        await close_care(opened.care)


@pytest.fixture
async def login(console: CareConsole) -> AsyncIterator[Any]:
    async with TestServer(console.app) as server:
        opened: list[aiohttp.ClientSession] = []

        async def login_as(username: str) -> aiohttp.ClientSession:
            http = aiohttp.ClientSession(base_url=server.make_url(""),
                                         cookie_jar=aiohttp.CookieJar(unsafe=True))
            opened.append(http)
            response = await submit_login(http, username)
            assert response.status == 303
            return http

        yield login_as
        for http in opened:
            await http.close()


async def _two_calls(care: CareHarness) -> tuple[str, str]:
    care.person(ELDER_PHONE, ring=3, dtmf="1", dtmf_after=2)
    well = await care.call_now()
    await care.until(lambda: care.done(well))
    care.person(ELDER_PHONE, ring=3, hangup_after=60)
    silent = await care.call_now(kind=CareKind.MEDICATION)
    await care.until(lambda: care.done(silent))
    return well, silent


async def test_calls_are_listed_with_their_filters_in_my_jurisdiction(
    console: CareConsole, login: Any,
) -> None:
    well, silent = await _two_calls(console.care)
    http = await login("sup_nk")
    async with http.get("/api/care/calls") as response:
        assert response.status == 200
        calls = (await response.json())["calls"]
    assert {c["id"] for c in calls} == {well, silent}
    async with http.get("/api/care/calls", params={"result": "answered_well"}) as response:
        assert [c["id"] for c in (await response.json())["calls"]] == [well]
    async with http.get("/api/care/calls", params={"kind": "medication"}) as response:
        [only] = (await response.json())["calls"]
        assert (only["id"], only["result"]) == (silent, "no_response")
    code = console.care.elders.wang[0]
    later = (console.care.now() + timedelta(minutes=5)).isoformat()
    async with http.get("/api/care/calls", params={"elder": code, "from": later}) as response:
        assert (await response.json())["calls"] == []
    async with http.get("/api/care/calls", params={"result": "maybe"}) as response:
        assert response.status == 422
    outsider = await login("agent_hp")
    async with outsider.get("/api/care/calls") as response:
        assert (await response.json())["calls"] == []
    elder_id = console.care.elders.wang[1]
    async with outsider.get(f"/api/care/elders/{elder_id}/history") as response:
        assert response.status == 404
    async with http.get(f"/api/care/elders/{elder_id}/history") as response:
        history = await response.json()
    assert [c["id"] for c in history["calls"]] == [silent, well]
    assert "call.answered_well" in [e["kind"] for e in history["timeline"]]


async def test_plans_created_refused_and_listed(console: CareConsole, login: Any) -> None:
    http = await login("sup_nk")
    token = await csrf_of(http)
    code = console.care.elders.wang[0]
    plan = {"code": "M-1", "elder_code": code, "kind": "medication", "repeat": "daily",
            "at_time": "08:00", "medicine": "降压药", "report_to_kin": True}
    async with http.post("/api/care/plans", json=plan,
                         headers={"X-CSRF-Token": token}) as response:
        assert response.status == 201, await response.text()
    past = plan | {"code": "B-1", "kind": "birthday", "repeat": "once",
                   "on_date": "2001-01-01", "medicine": ""}
    async with http.post("/api/care/plans", json=past,
                         headers={"X-CSRF-Token": token}) as response:
        assert response.status == 422
        body = await response.json()
        assert body["error_id"] == "invalid-care-plan"
        assert "in the past" in body["details"]["on_date"]
    async with http.get("/api/care/plans", params={"elder": code}) as response:
        plans = (await response.json())["plans"]
    assert [(p["code"], p["medicine"]) for p in plans] == [("M-1", "降压药")]
    async with http.get("/api/openapi.json") as response:
        paths = (await response.json())["paths"]
    assert {"/api/care/calls", "/api/care/plans"} <= set(paths)
    assert {p["name"] for p in paths["/api/care/calls"]["get"]["parameters"]} >= {
        "elder", "kind", "result", "from", "to"}


async def test_a_supervisor_pauses_a_campaign_and_the_dialler_holds_it(
    console: CareConsole, login: Any,
) -> None:
    http = await login("sup_nk")
    token = await csrf_of(http)
    async with http.post("/api/care/campaigns/wellbeing", json={"paused": True},
                         headers={"X-CSRF-Token": token}) as response:
        assert response.status == 200
    await console.care.advance(1)
    assert CareKind.WELLBEING in console.care.app.dialler.paused_kinds
    agent = await login("agent_hp")
    async with agent.post("/api/care/campaigns/wellbeing", json={"paused": False},
                          headers={"X-CSRF-Token": await csrf_of(agent)}) as response:
        assert response.status == 403


async def test_a_supervisor_issues_lists_and_cancels_a_weather_warning_in_their_area(
    console: CareConsole, login: Any,
) -> None:
    http = await login("sup_nk")
    token = {"X-CSRF-Token": await csrf_of(http)}
    until = (console.care.now() + timedelta(hours=3)).isoformat()
    warning = {"area_code": "120104001", "message": "今晚有大风，请关好门窗", "until": until}
    refusals = [
        ({"area_code": "120101"}, 403, "area-out-of-jurisdiction"),
        ({"area_code": "NOPE"}, 404, "area-not-found"),
        ({"message": " "}, 422, "invalid-care-broadcast"),
        ({"message": "风" * 301}, 422, "invalid-care-broadcast"),
        ({"message": "大风\u0000"}, 400, None),
        ({"until": (console.care.now() - timedelta(minutes=1)).isoformat()}, 422,
         "invalid-care-broadcast"),
    ]
    for change, status, error_id in refusals:
        async with http.post("/api/care/broadcasts", json=warning | change,
                             headers=token) as response:
            assert response.status == status, (change, await response.text())
            if error_id:
                assert (await response.json())["error_id"] == error_id
    async with http.get("/api/care/broadcasts") as response:
        assert (await response.json())["broadcasts"] == [], "nothing was created"
    agent = await login("agent_hp")
    async with agent.post("/api/care/broadcasts", json=warning,
                          headers={"X-CSRF-Token": await csrf_of(agent)}) as response:
        assert response.status == 403

    async with http.post("/api/care/broadcasts", json=warning, headers=token) as response:
        assert response.status == 201, await response.text()
        issued = await response.json()
    assert (issued["area_code"], issued["elders"], issued["state"]) == ("120104001", 7,
                                                                       "active")
    assert issued["counts"]["pending"] == 7
    async with http.get(f"/api/care/broadcasts/{issued['id']}") as response:
        assert (await response.json())["message"] == "今晚有大风，请关好门窗"
    async with agent.get(f"/api/care/broadcasts/{issued['id']}") as response:
        assert response.status == 404, "another area's warning is not shown"
    async with agent.get("/api/care/broadcasts") as response:
        assert (await response.json())["broadcasts"] == []
    async with http.post(f"/api/care/broadcasts/{issued['id']}/cancel",
                         headers=token) as response:
        assert response.status == 200
        assert (await response.json())["stopped"] == 7
    async with http.post(f"/api/care/broadcasts/{issued['id']}/cancel",
                         headers=token) as response:
        assert response.status == 409
    async with http.get("/api/care/broadcasts") as response:
        [listed] = (await response.json())["broadcasts"]
    assert (listed["state"], listed["counts"]["cancelled"]) == ("cancelled", 7)
    async with http.get("/api/openapi.json") as response:
        paths = (await response.json())["paths"]
    assert {"/api/care/broadcasts", "/api/care/broadcasts/{broadcast_id}",
            "/api/care/broadcasts/{broadcast_id}/cancel"} <= set(paths)
    assert set(paths["/api/care/broadcasts"]) == {"get", "post"}
