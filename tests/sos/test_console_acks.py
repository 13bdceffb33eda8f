"""The console as agents and supervisors live an SOS: acknowledgement per user, kept on the
server; the incident list's elapsed time and handlers; the timeline in words; times in the
centre's time zone.

The real SosApp against the PBX simulator and the console over the same store and bus,
driven through HTTP like a browser (see test_console.py).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

import tests.sos.test_console as console_tests
from ari_apps.sos.models import IncidentEvent
from callcenter.crypto import FieldCipher
from callcenter.passwords import Passwords
from callcenter.pbxsim.server import PbxSimulator
from callcenter.settings import Settings, SettingsError
from callcenter.store.engine import SessionFactory
from callcenter.store.models import Area, Role
from tests.factories import make_user
from tests.sos.conftest import DOCTORS, close_harness
from tests.sos.test_console import SosConsole, _get, _join, _started, open_console
from tests.webui.conftest import csrf_of

SHANGHAI = ZoneInfo("Asia/Shanghai")
SECOND_AGENT_ENDPOINT = "agent-7004"
# The console fixtures of test_console.py, shared.
console = console_tests.console
server = console_tests.server
login = console_tests.login


async def _ack(http: aiohttp.ClientSession, incident: str) -> tuple[int, Any]:
    async with http.post(f"/api/sos/{incident}/ack",
                         headers={"X-CSRF-Token": await csrf_of(http)}) as response:
        return response.status, await response.json()


async def _acknowledged(http: aiohttp.ClientSession, incident: str) -> bool:
    status, listed = await _get(http, "/api/sos")
    assert status == 200
    [found] = [i for i in listed["incidents"] if i["id"] == incident]
    return bool(found["acknowledged"])


async def _timeline(console: SosConsole, incident: str) -> list[IncidentEvent]:
    await console.sos.settle_store()
    async with console.runtime.sessions() as session:
        rows = await session.execute(select(IncidentEvent)
                                     .where(IncidentEvent.incident_id == incident)
                                     .order_by(IncidentEvent.at, IncidentEvent.id))
        return list(rows.scalars())


async def _add_second_agent(console: SosConsole) -> None:
    """Another agent of the elder's district (``agent_nk2``) beside ``agent_nk``."""
    async with console.runtime.sessions.begin() as session:
        district = (await session.execute(select(Area).where(Area.code == "120104"))).scalar_one()
        await make_user(session, console.runtime.passwords, "agent_nk2", Role.AGENT.value,
                        area=district, display_name="南开二号", endpoint=SECOND_AGENT_ENDPOINT)
    console.sos.person(SECOND_AGENT_ENDPOINT)


async def test_an_acknowledgement_belongs_to_its_user_across_sessions(
    console: SosConsole, login: Any
) -> None:
    conference = await _started(console)
    await _add_second_agent(console)
    first, other = await login("agent_nk"), await login("agent_nk2")
    assert not await _acknowledged(first, conference.id)
    assert not await _acknowledged(other, conference.id)

    status, body = await _ack(first, conference.id)
    assert status == 200 and body == {"incident": conference.id, "new": True}

    # The same user in another browser (a new login): not popped again; the other still is.
    again = await login("agent_nk")
    assert await _acknowledged(again, conference.id)
    assert await _acknowledged(first, conference.id)
    assert not await _acknowledged(other, conference.id)
    # Once on the timeline, in words; a repeat changes nothing.
    status, body = await _ack(again, conference.id)
    assert status == 200 and body["new"] is False
    acks = [e for e in await _timeline(console, conference.id) if e.kind == "acknowledged"]
    assert [(e.actor, e.detail["name"], e.detail["via"]) for e in acks] == [
        ("agent_nk", "南开坐席", "pop")]
    status, page = await _get(other, f"/incidents/{conference.id}")
    assert "南开坐席 已知晓" in page


async def test_an_alert_that_the_elder_may_be_without_help_pops_it_again(
    console: SosConsole, login: Any
) -> None:
    conference = await _started(console)
    agent = await login("agent_nk")
    await _ack(agent, conference.id)
    # Nobody answered: agents on duty are rung (the escalation's step on the timeline).
    async with console.runtime.sessions.begin() as session:
        session.add(IncidentEvent(key=f"{conference.id}:test-escalated", incident_id=conference.id,
                                  at=datetime.now(SHANGHAI) + timedelta(seconds=1),
                                  kind="escalated", detail={"to": "agent", "count": 1}))
    assert not await _acknowledged(agent, conference.id)
    status, body = await _ack(agent, conference.id)
    assert status == 200 and body["new"] is True
    # ...a later acknowledgement is current again (its time is after the alert's).
    async with console.runtime.sessions.begin() as session:
        event = (await session.execute(select(IncidentEvent).where(
            IncidentEvent.key == f"{conference.id}:test-escalated"))).scalar_one()
        event.at = datetime.now(SHANGHAI) - timedelta(seconds=5)
    assert await _acknowledged(agent, conference.id)


async def test_opening_the_page_or_joining_acknowledges(console: SosConsole, login: Any) -> None:
    conference = await _started(console)
    await _add_second_agent(console)
    reader, joiner, auditor = await login("agent_nk"), await login("agent_nk2"), await login(
        "auditor1")
    status, _ = await _get(reader, f"/incidents/{conference.id}")
    assert status == 200
    assert await _acknowledged(reader, conference.id)
    status, joined = await _join(joiner, conference.id, await csrf_of(joiner))
    assert status == 200, joined
    assert await _acknowledged(joiner, conference.id)
    status, _ = await _get(auditor, f"/incidents/{conference.id}")  # an auditor only reads
    assert status == 200
    vias = sorted((e.actor, e.detail["via"]) for e in await _timeline(console, conference.id)
                  if e.kind == "acknowledged")
    assert vias == [("agent_nk", "page"), ("agent_nk2", "join")]


async def test_acknowledging_refuses_the_wrong_user_incident_or_request(
    console: SosConsole, login: Any
) -> None:
    conference = await _started(console)
    outside, auditor, agent = await login("agent_hp"), await login("auditor1"), await login(
        "agent_nk")
    status, body = await _ack(outside, conference.id)
    assert status == 404 and body["error_id"] == "incident-not-found"
    status, body = await _ack(auditor, conference.id)
    assert status == 403 and body["error_id"] == "forbidden"
    async with agent.post(f"/api/sos/{conference.id}/ack") as response:
        assert response.status == 403 and (await response.json())["error_id"] == "csrf-failed"
    status, body = await _ack(agent, "nosuchincident")
    assert status == 404
    assert [e for e in await _timeline(console, conference.id) if e.kind == "acknowledged"] == []
    assert not await _acknowledged(agent, conference.id)


async def test_the_list_shows_elapsed_time_and_who_handles_it(
    console: SosConsole, login: Any
) -> None:
    conference = await _started(console)
    await _add_second_agent(console)
    agent, other = await login("agent_nk"), await login("agent_nk2")
    status, listed = await _get(agent, "/api/sos")
    assert listed["incidents"][0]["handlers"] == []
    await _ack(agent, conference.id)
    status, joined = await _join(other, conference.id, await csrf_of(other))
    leg_id = joined["leg"]
    await conference.wait_for(lambda c: leg_id in c.legs)
    await console.sos.settle_store()

    status, listed = await _get(agent, "/api/sos")
    handlers = {(h["name"], h["role"], h["how"]) for h in listed["incidents"][0]["handlers"]}
    assert handlers == {("南开坐席", "agent", "acknowledged"), ("南开二号", "agent", "joining")}
    status, page = await _get(agent, "/incidents")
    assert "南开坐席（坐席·已知晓）" in page and "南开二号（坐席·正在接入）" in page
    assert re.search(r'<td class="incident-elapsed">\d+秒</td>', page)

    await console.sos.advance(1)  # the softphone answers and joins
    await conference.wait_for(lambda c: leg_id in c.parties)
    await console.sos.settle_store()
    status, listed = await _get(agent, "/api/sos")
    assert ("南开二号", "agent", "joined") in {
        (h["name"], h["role"], h["how"]) for h in listed["incidents"][0]["handlers"]}


async def test_the_timeline_speaks_the_agents_language_in_the_centres_time(
    console: SosConsole, login: Any
) -> None:
    console.sos.person(DOCTORS[0], "busy")
    conference = await _started(console)
    await console.sos.advance(1)  # the first doctor is busy: the second one is dialled
    await conference.wait_for(lambda c: any(
        leg.candidate is not None and leg.candidate.number == DOCTORS[1]
        for leg in c.legs.values()))
    agent = await login("agent_nk")
    status, page = await _get(agent, f"/incidents/{conference.id}")
    assert status == 200
    lines = re.findall(r'<time datetime="([^"]+)">([\d:]+)</time>\s*<span class="line">([^<]+)',
                       page)
    texts = [text for _, _, text in lines]
    for expected in ("已识别老人：王秀英", "呼叫120急救", "呼叫社区医生 医生1",
                     "社区医生 医生1 未接通：忙", "改拨社区医生第 2 位：医生2",
                     f"已生成工单 WO-{conference.id}", "已排队发送短信通知"):
        assert expected in texts, (expected, texts)
    assert texts[0].startswith("呼救触发（一键呼救）")
    assert not [leg for leg in conference.legs if leg in " ".join(texts)]  # no leg ids
    for iso, shown, _ in lines:  # every time in Asia/Shanghai, whatever the server's zone
        assert shown == datetime.fromisoformat(iso).astimezone(SHANGHAI).strftime("%H:%M:%S")

    # The same steps in English, from the same catalog keys.
    async with agent.get("/lang/en", allow_redirects=False):
        pass
    status, page = await _get(agent, f"/incidents/{conference.id}")
    assert "Community doctor 医生1 not reached: busy" in page
    assert "Trying Community doctor no. 2: 医生2" in page


@pytest.fixture
async def new_york(
    sim: PbxSimulator, settings: Settings, sessions: SessionFactory, seeded: int,
    tmp_path: Path, cipher: FieldCipher, passwords: Passwords,
) -> AsyncIterator[tuple[SosConsole, TestServer]]:
    """The console of a centre in New York."""
    opened = await open_console(sim, settings.model_copy(update={"time_zone": "America/New_York"}),
                                sessions, seeded, tmp_path, cipher, passwords)
    try:
        async with TestServer(opened.app) as server:
            yield opened, server
    finally:
        await close_harness(opened.sos)


async def test_the_console_shows_times_in_the_configured_time_zone(
    new_york: tuple[SosConsole, TestServer],
) -> None:
    from tests.webui.conftest import submit_login

    console, server = new_york
    conference = await _started(console)
    async with aiohttp.ClientSession(base_url=server.make_url(""),
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await submit_login(http, "agent_nk")
        status, page = await _get(http, "/incidents")
    started = conference.started_at.astimezone(ZoneInfo("America/New_York"))
    assert started.strftime("%Y-%m-%d %H:%M:%S") in page
    assert 'data-tz="America/New_York"' in page


def test_an_unknown_time_zone_is_refused_at_start() -> None:
    with pytest.raises((SettingsError, ValueError), match="time zone"):
        Settings(time_zone="Mars/Olympus_Mons")
    assert Settings().time_zone == "Asia/Shanghai"
