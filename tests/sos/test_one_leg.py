"""One agent, one leg: joining again (a reloaded page, another console process) or while the
escalation rings the agent gives back the leg they have, never a second one on their phone."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from ari_apps.sos.models import LegRole
from ari_apps.sos.plan import Candidate
from callcenter.commands import CommandPath
from callcenter.store.models import User
from tests.sos import test_console
from tests.sos.conftest import AGENT_ENDPOINT, DOCTORS, EMERGENCY, KIN, SOCIAL_WORKER, SosHarness
from tests.sos.test_console import AGENT_NK_ENDPOINT, SosConsole, _agent_legs, _join, _started
from tests.sos.test_scenarios import _log_in
from tests.webui.conftest import csrf_of

#: The console fixtures (the SOS app and the console over one store and bus).
console, server, login = test_console.console, test_console.server, test_console.login


def _channels_to(console: SosConsole, endpoint: str) -> list[str]:
    return [ch.id for ch in console.sos.sim.model.channels.values() if endpoint in ch.name]


async def test_joining_again_after_a_reload_gives_back_the_same_leg(
    console: SosConsole, login: Any
) -> None:
    conference = await _started(console)
    agent = await login("agent_nk")
    csrf = await csrf_of(agent)

    status, first = await _join(agent, conference.id, csrf)
    assert status == 200 and first["existing"] is False
    status, again = await _join(agent, conference.id, csrf)  # the page reloaded, join again
    assert status == 200, again
    assert again["leg"] == first["leg"] and again["existing"] is True

    other_browser = await login("agent_nk")  # the same user in a second browser
    status, third = await _join(other_browser, conference.id, await csrf_of(other_browser))
    assert status == 200 and third["leg"] == first["leg"]

    assert _agent_legs(conference) == [first["leg"]]
    assert _channels_to(console, AGENT_NK_ENDPOINT) == [first["leg"]]  # one softphone rings
    assert "agent.join" in await console.sos.timeline(conference.id)


async def test_two_console_processes_joining_at_once_ring_one_leg(console: SosConsole) -> None:
    conference = await _started(console)
    async with console.runtime.sessions() as session:
        user = (await session.execute(select(User).where(User.username == "agent_nk"))).scalar_one()
    # Two console processes without call control, on the bus the calls process listens to.
    processes = [CommandPath(console.runtime.bus), CommandPath(console.runtime.bus)]
    for process in processes:
        await process.start()
    args = {"incident": conference.id, "role": "agent", "endpoint": AGENT_NK_ENDPOINT,
            "name": "南开坐席", "user_id": user.id, "actor": "agent_nk"}
    try:
        answers = await asyncio.gather(*(p.call("sos.join", args, within=5) for p in processes))
    finally:
        for process in processes:
            await process.close()

    assert answers[0]["leg"] == answers[1]["leg"]
    assert sorted(a["existing"] for a in answers) == [False, True]
    assert _agent_legs(conference) == [answers[0]["leg"]]
    assert _channels_to(console, AGENT_NK_ENDPOINT) == [answers[0]["leg"]]


def _nobody_answers(sos: SosHarness) -> None:
    for number in [EMERGENCY, *KIN, *DOCTORS, SOCIAL_WORKER, AGENT_ENDPOINT]:
        sos.person(number, "noanswer")


async def _agent1(sos: SosHarness) -> Candidate:
    async with sos.sessions() as session:
        user = (await session.execute(select(User).where(User.username == "agent1"))).scalar_one()
    return Candidate(LegRole.AGENT, AGENT_ENDPOINT, "agent1", user_id=user.id, endpoint=True)


async def test_joining_while_the_escalation_rings_me_gives_back_that_leg(sos: SosHarness) -> None:
    _nobody_answers(sos)
    await _log_in(sos)
    conference = await sos.incident(sos.press())
    await sos.advance(20)  # nobody answered: the agents on duty are rung
    await conference.wait_for(lambda c: any(leg.role is LegRole.AGENT for leg in c.legs.values()))
    rung = [leg.id for leg in conference.legs.values() if leg.role is LegRole.AGENT]

    leg, existing = await sos.app.join(conference.id, await _agent1(sos), "agent1")

    assert existing and [leg] == rung
    assert [leg.id for leg in conference.legs.values() if leg.role is LegRole.AGENT] == rung


async def test_the_escalation_does_not_ring_an_agent_who_joined_by_hand(sos: SosHarness) -> None:
    _nobody_answers(sos)
    await _log_in(sos)
    conference = await sos.incident(sos.press())
    await sos.advance(10)
    leg, existing = await sos.app.join(conference.id, await _agent1(sos), "agent1")
    assert not existing
    await sos.advance(10)  # the escalation step falls due while the agent's phone rings
    await conference.wait_for(lambda c: c.legs[leg].state.value == "ringing")

    assert "escalated" in await sos.timeline(conference.id)
    assert [g.id for g in conference.legs.values() if g.role is LegRole.AGENT] == [leg]
