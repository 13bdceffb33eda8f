"""What agents and supervisors see of an SOS: the API, the incident pages, "join" from the console.

A real SosApp over ARI against the PBX simulator, the real store, and the console app
over the same store and bus, driven through HTTP like a browser (cookies, CSRF header).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from ari_apps.sos.conference import SosConference
from ari_apps.sos.http import install_web
from ari_apps.sos.models import LegRole, LegState
from callcenter.bus import MemoryBus
from callcenter.crypto import FieldCipher
from callcenter.passwords import Passwords
from callcenter.pbxsim.server import PbxSimulator
from callcenter.runtime import Runtime
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from callcenter.store.models import Area, Role
from tests.factories import make_area, make_user
from tests.sos.conftest import (
    DOCTORS,
    EMERGENCY,
    KIN,
    SOCIAL_WORKER,
    SosHarness,
    close_harness,
    open_harness,
    sos_settings,
)
from tests.webui.conftest import csrf_of, submit_login
from webui import create_app
from webui.i18n import LOCALE_DIR

#: The in-area agent's softphone (the district of the seeded elder).
AGENT_NK_ENDPOINT = "agent-7002"
AGENT_HP_ENDPOINT = "agent-7003"
UNKNOWN_CALLER = "13000009999"
SOS_WEB = Path(__file__).parents[2] / "ari_apps" / "sos" / "web"


@dataclass
class SosConsole:
    """The SOS app and the console sharing one store and one bus."""

    sos: SosHarness
    runtime: Runtime
    app: web.Application


async def add_console_users(sessions: SessionFactory, passwords: Passwords) -> None:
    """An agent of the elder's district, one of another district, and an auditor."""
    async with sessions.begin() as session:
        district = (
            await session.execute(select(Area).where(Area.code == "120104"))
        ).scalar_one()
        other = await make_area(session, "120101", "和平区")
        await make_user(session, passwords, "agent_nk", Role.AGENT.value, area=district,
                        display_name="南开坐席", endpoint=AGENT_NK_ENDPOINT)
        await make_user(session, passwords, "agent_hp", Role.AGENT.value, area=other,
                        display_name="和平坐席", endpoint=AGENT_HP_ENDPOINT)
        await make_user(session, passwords, "auditor1", Role.AUDITOR.value)


async def open_console(
    sim: PbxSimulator, settings: Settings, sessions: SessionFactory, elder_id: int,
    tmp_path: Path, cipher: FieldCipher, passwords: Passwords,
) -> SosConsole:
    """Start the SOS app and build the console over the same store and MemoryBus."""
    bus = MemoryBus()
    configured = sos_settings(settings, sim)
    harness = await open_harness(sim, configured, sessions, elder_id, tmp_path, bus=bus)
    for number in [EMERGENCY, *KIN, *DOCTORS, SOCIAL_WORKER, AGENT_NK_ENDPOINT,
                   AGENT_HP_ENDPOINT]:
        harness.person(number)
    await add_console_users(sessions, passwords)
    runtime = Runtime(settings=configured, engine=sessions.kw["bind"], sessions=sessions,
                      read_sessions=sessions, bus=bus, cipher=cipher, passwords=passwords)
    return SosConsole(harness, runtime, create_app(
        runtime, features=[lambda app: install_web(app, harness.app, harness.commands)]
    ))


@pytest.fixture
async def console(
    sim: PbxSimulator, settings: Settings, sessions: SessionFactory, seeded: int,
    tmp_path: Path, cipher: FieldCipher, passwords: Passwords,
) -> AsyncIterator[SosConsole]:
    opened = await open_console(sim, settings, sessions, seeded, tmp_path, cipher, passwords)
    try:
        yield opened
    finally:
        await close_harness(opened.sos)


@pytest.fixture
async def server(console: SosConsole) -> AsyncIterator[TestServer]:
    async with TestServer(console.app) as started:
        yield started


@pytest.fixture
async def login(server: TestServer) -> AsyncIterator[Any]:
    """``await login("agent_nk")``: a cookie-holding HTTP session logged in as that user."""
    opened: list[aiohttp.ClientSession] = []

    async def login_as(username: str) -> aiohttp.ClientSession:
        http = aiohttp.ClientSession(base_url=server.make_url(""),
                                     cookie_jar=aiohttp.CookieJar(unsafe=True))
        opened.append(http)
        response = await submit_login(http, username)
        assert response.status == 303, f"login as {username} failed"
        return http

    yield login_as
    for http in opened:
        await http.close()


async def _get(http: aiohttp.ClientSession, path: str) -> tuple[int, Any]:
    async with http.get(path) as response:
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.text()


async def _join(http: aiohttp.ClientSession, incident: str, csrf: str | None) -> tuple[int, Any]:
    headers = {"X-CSRF-Token": csrf} if csrf is not None else {}
    async with http.post(f"/api/sos/{incident}/join", headers=headers) as response:
        return response.status, await response.json()


async def _started(console: SosConsole, number: str | None = None) -> SosConference:
    channel = console.sos.press(number) if number else console.sos.press()
    conference = await console.sos.incident(channel)
    await console.sos.settle_store()
    return conference


def _agent_legs(conference: SosConference) -> list[str]:
    return [leg.id for leg in conference.legs.values() if leg.role is LegRole.AGENT]


async def test_an_active_incident_is_listed_in_the_area_and_hidden_outside_it(
    console: SosConsole, login: Any
) -> None:
    conference = await _started(console)
    inside, outside = await login("agent_nk"), await login("agent_hp")

    status, listed = await _get(inside, "/api/sos")
    assert status == 200
    assert [(i["id"], i["elder_name"], i["status"]) for i in listed["incidents"]] == [
        (conference.id, "王秀英", "active")
    ]
    status, listed = await _get(outside, "/api/sos")
    assert status == 200 and listed["incidents"] == []
    status, body = await _get(outside, f"/api/sos/{conference.id}")
    assert status == 404 and body["error_id"] == "incident-not-found"
    status, _ = await _get(outside, f"/incidents/{conference.id}")
    assert status == 404


async def test_the_incident_view_has_legs_timeline_and_notifications(
    console: SosConsole, login: Any
) -> None:
    conference = await _started(console)
    agent = await login("agent_nk")

    status, view = await _get(agent, f"/api/sos/{conference.id}")
    assert status == 200
    roles = {leg["role"] for leg in view["legs"]}
    assert roles == {"elder", "emergency", "doctor", "kin", "social_worker"}
    kinds = [entry["kind"] for entry in view["timeline"]]
    assert kinds[0] == "trigger"
    assert {"identified", "leg.dialing", "work_order.opened", "notify.queued"} <= set(kinds)
    assert sorted((n["channel"], n["recipient"]) for n in view["notifications"]) == sorted(
        [("sms", f"+86{n}") for n in [*KIN, SOCIAL_WORKER]] + [("email", "kin1@example.org")]
    )
    assert view["live"]["elder"]["health_notes"] == "高血压"
    assert view["work_order_number"] == f"WO-{conference.id}"
    assert view["recording_name"] == conference.recording_name


async def test_the_incident_pages_show_the_elder_legs_records_and_join_button(
    console: SosConsole, login: Any
) -> None:
    conference = await _started(console)
    agent = await login("agent_nk")

    status, listing = await _get(agent, "/incidents")
    assert status == 200
    assert f'href="/incidents/{conference.id}"' in listing and "王秀英" in listing
    assert 'href="/incidents"' in listing  # the nav link appears now the route exists

    status, page = await _get(agent, f"/incidents/{conference.id}")
    assert status == 200
    for text in ("王秀英", "高血压", "独居", f"WO-{conference.id}", conference.recording_name,
                 f'data-join-url="/api/sos/{conference.id}/join"', "从我的软电话加入",
                 "120急救", 'data-kind="trigger"', "+86" + KIN[0]):
        assert text in page, text
    for leg in conference.legs.values():
        assert f'data-leg="{leg.id}"' in page
    # The pop's script, its labels and its template are on every page, CSP-clean.
    assert '<script src="/assets/sos/sos.js" defer></script>' in page
    assert 'id="sos-card-template"' in page and "<script>" not in page


async def test_an_auditor_sees_the_page_without_a_join_button(
    console: SosConsole, login: Any
) -> None:
    conference = await _started(console)
    auditor = await login("auditor1")
    status, page = await _get(auditor, f"/incidents/{conference.id}")
    assert status == 200 and "王秀英" in page
    assert "data-join-url" not in page and 'id="sos-pop"' not in page


async def test_an_unidentified_caller_shows_as_such(console: SosConsole, login: Any) -> None:
    conference = await _started(console, UNKNOWN_CALLER)
    outside = await login("agent_hp")  # an unknown caller's incident is everybody's
    status, page = await _get(outside, f"/incidents/{conference.id}")
    assert status == 200
    assert f"未识别来电 {UNKNOWN_CALLER}" in page
    assert re.search(r'data-role="kin"[^>]*>\s*<h3>家属\s*<span class="tag warn exhausted-tag">',
                     page)


async def test_joining_rings_my_softphone_into_the_conference(
    console: SosConsole, login: Any
) -> None:
    conference = await _started(console)
    agent = await login("agent_nk")

    status, joined = await _join(agent, conference.id, await csrf_of(agent))
    assert status == 200, joined
    assert joined["endpoint"] == AGENT_NK_ENDPOINT
    leg_id = joined["leg"]
    await conference.wait_for(lambda c: leg_id in c.legs)
    leg = conference.legs[leg_id]
    assert leg.role is LegRole.AGENT
    assert leg.candidate is not None and leg.candidate.number == AGENT_NK_ENDPOINT

    await console.sos.advance(1)  # the softphone rings, then answers
    await conference.wait_for(lambda c: c.legs[leg_id].state is not LegState.DIALING
                              and c.legs[leg_id].state is not LegState.RINGING)
    await console.sos.advance(2)  # the announcement, then into the bridge
    await conference.wait_for(lambda c: c.legs[leg_id].state is LegState.JOINED)
    bridge = console.sos.sim.model.bridges[conference.bridge_id]
    assert leg_id in {channel.id for channel in bridge.channels}
    assert "agent.join" in await console.sos.timeline(conference.id)


async def test_joining_without_the_csrf_header_is_refused(
    console: SosConsole, login: Any
) -> None:
    conference = await _started(console)
    agent = await login("agent_nk")
    status, body = await _join(agent, conference.id, None)
    assert status == 403 and body["error_id"] == "csrf-failed"
    status, body = await _join(agent, conference.id, "not-the-token")
    assert status == 403
    assert _agent_legs(conference) == []


async def test_an_auditor_or_an_agent_out_of_area_cannot_join(
    console: SosConsole, login: Any
) -> None:
    conference = await _started(console)
    auditor, outside = await login("auditor1"), await login("agent_hp")
    status, body = await _join(auditor, conference.id, await csrf_of(auditor))
    assert status == 403 and body["error_id"] == "forbidden"
    status, body = await _join(outside, conference.id, await csrf_of(outside))
    assert status == 404 and body["error_id"] == "incident-not-found"
    assert _agent_legs(conference) == []


def test_every_label_of_the_pop_is_in_both_catalogs() -> None:
    import orjson

    catalogs = {p.stem: {**orjson.loads(p.read_bytes()),
                         **orjson.loads((SOS_WEB / "locale" / p.name).read_bytes())}
                for p in LOCALE_DIR.glob("*.json")}
    keys = set(re.findall(r'"((?:sos|incident|flag|gender|elder)\.[\w.]+)"',
                          (SOS_WEB / "templates" / "_sos_pop.html").read_text()))
    keys |= {f"sos.state.{state}" for state in LegState}
    keys |= {f"sos.role.{role}" for role in LegRole}
    for lang, messages in catalogs.items():
        assert keys <= set(messages), (lang, keys - set(messages))
