"""What agents and supervisors do to an incident from the console: end it with a
disposition, hang up or mute a leg, dial a contact by hand (the real SosApp on the PBX
simulator, the console over HTTP with its cookies and CSRF header)."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import orjson
from sqlalchemy import select

from ari_apps.sos.conference import SosConference
from ari_apps.sos.models import Disposition, Incident, IncidentLeg, LegRole, LegState
from callcenter.commands import CommandPath
from callcenter.store.models import AuditEntry
from tests.sos import test_console
from tests.sos.conftest import AGENT_ENDPOINT, KIN, SOCIAL_WORKER, SosHarness
from tests.sos.test_console import SOS_WEB, SosConsole, _get, _started
from tests.sos.test_one_leg import _agent1
from tests.webui.conftest import csrf_of

#: The console fixtures (the SOS app and the console over one store and bus).
console, server, login = test_console.console, test_console.server, test_console.login


async def _post(http: aiohttp.ClientSession, path: str, body: Any = None, *,
                csrf: bool = True) -> tuple[int, Any]:
    headers = {"X-CSRF-Token": await csrf_of(http)} if csrf else {}
    async with http.post(path, json=body, headers=headers) as response:
        return response.status, await response.json()


async def _in_call(console: SosConsole) -> SosConference:
    """An incident whose responders have answered and joined the elder."""
    conference = await _started(console)
    await console.sos.advance(3)  # they answer, hear the announcement, join
    await conference.wait_for(lambda c: len(c.parties) >= 5)
    return conference


def _leg(conference: SosConference, role: LegRole) -> str:
    return next(leg.id for leg in conference.legs.values()
                if leg.role is role and leg.state is LegState.JOINED)


async def _audited(console: SosConsole, action: str) -> list[AuditEntry]:
    async with console.runtime.sessions() as session:
        rows = await session.execute(select(AuditEntry).where(AuditEntry.action == action))
        return list(rows.scalars())


async def test_ending_with_a_disposition_ends_the_call_and_records_who_and_why(
    console: SosConsole, login: Any
) -> None:
    conference = await _in_call(console)
    agent = await login("agent_nk")
    sim = console.sos.sim

    status, ended = await _post(agent, f"/api/sos/{conference.id}/end",
                                {"disposition": "resolved", "note": "家属已到场"})

    assert status == 200, ended
    assert ended == {"incident": conference.id, "outcome": "ended_by_staff",
                     "disposition": "resolved"}
    assert conference.done.is_set()
    assert conference.bridge_id not in sim.model.bridges
    assert not [leg for leg in conference.legs if leg in sim.model.channels]  # all hung up
    assert conference.recording_name not in sim.media.live
    timeline = await console.sos.timeline(conference.id)
    assert timeline[-2:] == ["closed", "ended"]
    async with console.runtime.sessions() as session:
        incident = await session.get(Incident, conference.id)
        assert incident is not None and incident.status == "ended"
        assert (incident.outcome, incident.disposition, incident.note, incident.ended_by) == (
            "ended_by_staff", "resolved", "家属已到场", "agent_nk")
        legs = (await session.execute(
            select(IncidentLeg.state).where(IncidentLeg.incident_id == conference.id)
        )).scalars().all()
        assert set(legs) <= {"left", "failed"}  # none stays "joined" in the records
    [entry] = await _audited(console, "sos.end")
    assert entry.actor == "agent_nk" and entry.entity_id == conference.id
    assert entry.after == {"disposition": "resolved", "note": "家属已到场"}

    status, body = await _post(agent, f"/api/sos/{conference.id}/end", {"disposition": "resolved"})
    assert status == 409 and body["error_id"] == "incident-not-active"


async def test_bad_end_requests_are_refused_and_change_nothing(
    console: SosConsole, login: Any
) -> None:
    conference = await _started(console)
    agent, outside, auditor = await login("agent_nk"), await login("agent_hp"), await login("auditor1")
    url = f"/api/sos/{conference.id}/end"

    for body in ({"disposition": "nope"}, {"disposition": "other"}, {},
                 {"disposition": "resolved", "note": "x" * 1001},
                 {"disposition": "resolved", "extra": 1}):
        status, answer = await _post(agent, url, body)
        assert status == 422 and answer["error_id"] == "invalid-parameters", body
    async with agent.post(url, data=b"[1]", headers={"X-CSRF-Token": await csrf_of(agent)}) as r:
        assert r.status == 400
    status, answer = await _post(agent, url, {"disposition": "resolved"}, csrf=False)
    assert status == 403 and answer["error_id"] == "csrf-failed"
    status, answer = await _post(auditor, url, {"disposition": "resolved"})
    assert status == 403
    status, answer = await _post(outside, url, {"disposition": "resolved"})
    assert status == 404 and answer["error_id"] == "incident-not-found"

    assert not conference.done.is_set() and conference.status.value == "active"
    assert await _audited(console, "sos.end") == []


async def test_hanging_up_a_responder_takes_only_that_leg_off_the_call(
    console: SosConsole, login: Any
) -> None:
    conference = await _in_call(console)
    agent = await login("agent_nk")
    kin = _leg(conference, LegRole.KIN)

    status, answer = await _post(agent, f"/api/sos/{conference.id}/legs/{kin}/hangup")

    assert status == 200, answer
    assert answer == {"incident": conference.id, "leg": kin, "state": "left", "muted": None}
    assert kin not in console.sos.sim.model.channels
    assert kin not in conference.parties and conference.status.value == "active"
    assert "leg.hungup" in await console.sos.timeline(conference.id)
    assert len(await _audited(console, "sos.hangup")) == 1

    status, answer = await _post(agent, f"/api/sos/{conference.id}/legs/{kin}/hangup")
    assert status == 409 and answer["error_id"] == "leg-not-live"
    status, answer = await _post(agent, f"/api/sos/{conference.id}/legs/{conference.id}-k9/hangup")
    assert status == 404 and answer["error_id"] == "leg-not-found"


async def test_only_a_supervisor_may_hang_up_the_elder(console: SosConsole, login: Any) -> None:
    conference = await _in_call(console)
    elder = _leg(conference, LegRole.ELDER)
    agent, supervisor = await login("agent_nk"), await login("sup1")

    status, answer = await _post(agent, f"/api/sos/{conference.id}/legs/{elder}/hangup")
    assert status == 403 and answer["error_id"] == "elder-leg-supervisor-only", answer
    assert elder in console.sos.sim.model.channels

    status, answer = await _post(supervisor, f"/api/sos/{conference.id}/legs/{elder}/hangup")
    assert status == 200 and answer["state"] == "left"
    assert elder not in console.sos.sim.model.channels
    assert conference.status.value == "active"  # the responders still talk to each other


async def test_muting_a_leg_mutes_what_it_says_until_unmuted(
    console: SosConsole, login: Any
) -> None:
    conference = await _in_call(console)
    agent = await login("agent_nk")
    doctor = _leg(conference, LegRole.DOCTOR)
    url = f"/api/sos/{conference.id}/legs/{doctor}/mute"
    channel = console.sos.sim.model.channels[doctor]

    status, answer = await _post(agent, url, {"muted": True})
    assert status == 200 and answer["muted"] is True
    assert channel.muted == {"in"}  # the others no longer hear it; it still hears them
    assert next(leg for leg in conference.snapshot()["legs"] if leg["id"] == doctor)["muted"]

    status, answer = await _post(agent, url, {"muted": False})
    assert status == 200 and answer["muted"] is False and channel.muted == set()
    assert [k for k in await console.sos.timeline(conference.id) if "muted" in k] == [
        "leg.muted", "leg.unmuted"]

    status, answer = await _post(agent, url, {"muted": "maybe"})
    assert status == 422
    status, answer = await _post(agent, f"/api/sos/{conference.id}/legs/nobody/mute",
                                 {"muted": True})
    assert status == 404 and answer["error_id"] == "leg-not-found"
    kin = _leg(conference, LegRole.KIN)
    console.sos.sim.calls.hangup(console.sos.sim.model.channels[kin], 16)
    await conference.wait_for(lambda c: c.legs[kin].state is LegState.LEFT)
    status, answer = await _post(agent, f"/api/sos/{conference.id}/legs/{kin}/mute",
                                 {"muted": True})
    assert status == 409 and answer["error_id"] == "leg-not-live"


async def test_a_contact_dialled_by_hand_joins_like_its_role(
    console: SosConsole, login: Any
) -> None:
    conference = await _started(console)
    agent = await login("agent_nk")
    neighbour = "13800000009"
    console.sos.person(neighbour, dtmf="1")  # a kin by hand confirms like any kin
    url = f"/api/sos/{conference.id}/dial"

    status, answer = await _post(agent, url, {"role": "kin", "number": neighbour, "name": "邻居"})

    assert status == 200, answer
    leg = answer["leg"]
    assert conference.legs[leg].role is LegRole.KIN
    await console.sos.advance(3)  # rings, answers, presses 1, joins
    await conference.wait_for(lambda c: c.legs[leg].state is LegState.JOINED)
    timeline = await console.sos.timeline(conference.id)
    assert "contact.added" in timeline
    assert len(await _audited(console, "sos.dial")) == 1

    for body in ({"role": "kin", "number": "12ab"}, {"role": "agent", "number": neighbour},
                 {"role": "kin", "number": "1" * 21}, {"number": neighbour}):
        status, answer = await _post(agent, url, body)
        assert status == 422, body
    status, answer = await _post(agent, url, {"role": "kin", "number": KIN[0]})
    assert status == 409 and answer["error_id"] == "contact-already-called"


async def test_a_console_process_without_call_control_ends_an_incident(
    console: SosConsole,
) -> None:
    conference = await _started(console)
    other = CommandPath(console.runtime.bus)  # another process: no handlers of its own
    await other.start()
    try:
        answer = await other.call("sos.end", {"incident": conference.id, "disposition":
                                              "false_alarm", "note": "", "actor": "agent_nk"},
                                  within=5)
    finally:
        await other.close()
    assert answer["outcome"] == "ended_by_staff"
    assert conference.done.is_set() and conference.disposition is not None
    assert conference.disposition.value == "false_alarm"


async def test_the_open_api_document_lists_the_actions(console: SosConsole, login: Any) -> None:
    agent = await login("agent_nk")
    status, document = await _get(agent, "/api/openapi.json")
    assert status == 200
    paths = document["paths"]
    for path in ("/api/sos/{incident}/end", "/api/sos/{incident}/legs/{leg}/hangup",
                 "/api/sos/{incident}/legs/{leg}/mute", "/api/sos/{incident}/dial"):
        assert "post" in paths[path], path
    assert "requestBody" in paths["/api/sos/{incident}/end"]["post"]


async def test_an_incident_whose_elder_and_responders_left_ends_by_itself(sos: SosHarness) -> None:
    for number in (KIN[1], SOCIAL_WORKER, AGENT_ENDPOINT):
        sos.person(number, "noanswer")  # still ringing when everybody has left
    channel = sos.press()
    conference = await sos.incident(channel)
    agent, _ = await sos.app.join(conference.id, await _agent1(sos), "agent1")
    await sos.advance(3)  # 120, the doctor and the first kin answer and join the elder
    await conference.wait_for(lambda c: len(c.parties) == 4)
    ringing = [leg.id for leg in conference.legs.values() if leg.state is LegState.RINGING]
    assert agent in ringing and len(ringing) == 3

    sos.sim.calls.hangup(sos.sim.model.channels[channel], 16)  # the elder hangs up …
    await conference.wait_for(lambda c: c.legs[channel].state is LegState.LEFT)
    assert conference.status.value == "active"  # … the responders still talk
    for leg in [leg for leg in conference.parties if leg != _leg(conference, LegRole.DOCTOR)]:
        sos.sim.calls.hangup(sos.sim.model.channels[leg], 16)  # … and leave, but one
    await conference.wait_for(lambda c: c.done.is_set(), within=5)

    assert conference.outcome == "completed"
    assert not [leg for leg in conference.legs if leg in sos.sim.model.channels]
    assert conference.bridge_id not in sos.sim.model.bridges
    assert {conference.legs[leg].state for leg in ringing} == {LegState.FAILED}


async def test_the_incident_page_offers_the_actions_to_agents_not_auditors(
    console: SosConsole, login: Any
) -> None:
    conference = await _in_call(console)
    agent, auditor = await login("agent_nk"), await login("auditor1")
    elder = _leg(conference, LegRole.ELDER)

    status, page = await _get(agent, f"/incidents/{conference.id}")
    assert status == 200
    for text in (f'data-url="/api/sos/{conference.id}/end"', 'value="transferred_to_120"',
                 "已转120", f'data-url="/api/sos/{conference.id}/dial"', 'data-leg-action="mute"',
                 "结束事件并挂断所有人", 'id="leg-actions-template"'):
        assert text in page, text
    elder_row = page[page.index(f'data-leg="{elder}"'):]
    elder_row = elder_row[:elder_row.index("</tr>")]
    assert re.search(r'data-leg-action="hangup"\s+hidden', elder_row)  # supervisors only

    status, page = await _get(auditor, f"/incidents/{conference.id}")
    assert status == 200 and "data-leg-action" not in page and "end-form" not in page


def test_every_action_label_is_in_both_catalogs() -> None:
    template = (SOS_WEB / "templates" / "incident.html").read_text()
    keys = set(re.findall(r'_\("((?:incident|leg)\.(?:end|dial|action|note|disposition)[\w.]*|'
                          r'leg\.(?:hangup|mute|unmute|actions))"\)', template))
    keys |= {f"incident.disposition.{d.value}" for d in Disposition}
    keys |= {f"sos.event.{kind}" for kind in ("closed", "leg.hungup", "leg.muted", "leg.unmuted",
                                               "contact.added")}
    keys |= {"incident.outcome.ended_by_staff"}
    for lang in ("en", "zh-CN"):
        messages = orjson.loads((SOS_WEB / "locale" / f"{lang}.json").read_bytes())
        assert keys <= set(messages), (lang, keys - set(messages))
