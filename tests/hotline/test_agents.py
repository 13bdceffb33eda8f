"""Step 2: agents over AMI — login, pause reasons, logout, unreachable softphones, and
their state surviving restarts of Asterisk and of the product."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ari_apps.hotline.exceptions import (
    NoSoftphone,
    NotLoggedIn,
    SoftphoneTaken,
    SoftphoneUnregistered,
    UnknownPauseReason,
    UnknownQueue,
)
from callcenter.passwords import Passwords
from callcenter.pbxsim.server import PbxSimulator
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from callcenter.store.models import Role
from tests.factories import make_user
from tests.hotline.conftest import (
    HotlineHarness,
    Seeded,
    close_harness,
    hotline_settings,
    open_harness,
)


def members(sim: PbxSimulator, queue: str = "hotline") -> list[tuple[str, str, bool, str]]:
    """(interface, member name, paused, reason) as the simulated Asterisk holds them."""
    return [(m.interface, m.name, m.paused, m.reason) for m in sim.queues.queues[queue].members]


def view(hotline: HotlineHarness, agent: str) -> dict[str, object]:
    return next(v for v in hotline.service.agents.views() if v["agent"] == agent)


async def test_login_adds_the_profile_softphone_to_the_queues_and_is_recorded(
        hotline: HotlineHarness) -> None:
    result = await hotline.service.agents.login("agent1", ["hotline", "vip"])
    assert result["state"] == "idle" and result["queues"] == ["hotline", "vip"]
    assert members(hotline.sim) == [("PJSIP/agent-7001", "agent1", False, "")]
    assert members(hotline.sim, "vip") == [("PJSIP/agent-7001", "agent1", False, "")]
    events = [(e.agent, e.queue, e.kind) for e in await hotline.agent_events()]
    assert events == [("agent1", "hotline", "login"), ("agent1", "vip", "login")]
    changed = await hotline.until(lambda: hotline.topics("hotline.agent.changed"))
    assert changed[-1]["agent"] == "agent1" and changed[-1]["state"] == "idle"


async def test_pause_with_a_reason_then_unpause_then_logout(hotline: HotlineHarness) -> None:
    agents = hotline.service.agents
    await agents.login("agent1", ["hotline"])
    paused = await agents.pause("agent1", "training")
    assert (paused["state"], paused["reason"]) == ("paused", "training")
    assert members(hotline.sim) == [("PJSIP/agent-7001", "agent1", True, "training")]
    await agents.pause("agent1", "lunch")
    assert view(hotline, "agent1")["reason"] == "lunch"
    assert (await agents.unpause("agent1"))["state"] == "idle"
    assert (await agents.logout("agent1"))["state"] == "logged_out"
    assert members(hotline.sim) == []
    trail = [(e.kind, e.reason, e.productive) for e in await hotline.agent_events()]
    assert trail == [("login", "", False), ("pause", "training", True), ("pause", "lunch", False),
                     ("unpause", "", False), ("logout", "", False)]


async def test_an_unpause_answers_asterisks_word_even_when_it_comes_after_the_response(
        hotline: HotlineHarness) -> None:
    """On a real Asterisk 22.10.1 the QueueMemberPause of an unpause was not yet read when
    the action's response came: the console was told "paused" while the agent was idle."""
    agents = hotline.service.agents
    await agents.login("agent1", ["hotline"])
    await agents.pause("agent1", "training")
    queues = hotline.sim.queues
    emit, held = queues._emit, []

    def late(name: str, fields: dict[str, str]) -> None:
        if name == "QueueMemberPause":
            held.append(fields)
        else:
            emit(name, fields)

    queues._emit = late  # type: ignore[method-assign]
    unpaused = asyncio.create_task(agents.unpause("agent1"))
    await hotline.until(lambda: held)  # Asterisk answered; its event is still on the way
    done, _ = await asyncio.wait({unpaused}, timeout=0.2)
    assert not done  # not answered from the state before the event
    queues._emit = emit  # type: ignore[method-assign]
    emit("QueueMemberPause", held[0])
    assert (await unpaused)["state"] == "idle"


async def test_bad_requests_are_refused_and_change_nothing(hotline: HotlineHarness) -> None:
    agents = hotline.service.agents
    with pytest.raises(UnknownQueue):
        await agents.login("agent1", ["no-such-queue"])
    with pytest.raises(NoSoftphone):
        await agents.login("nophone", ["hotline"])
    with pytest.raises(NotLoggedIn):
        await agents.pause("agent1", "training")
    await agents.login("agent1", ["hotline"])
    with pytest.raises(UnknownPauseReason):
        await agents.pause("agent1", "nap")
    assert members(hotline.sim) == [("PJSIP/agent-7001", "agent1", False, "")]
    assert [e.kind for e in await hotline.agent_events()] == ["login"]


async def test_an_unregistered_softphone_cannot_log_in(hotline: HotlineHarness) -> None:
    hotline.sim.set_registered("agent-7002", False)
    with pytest.raises(SoftphoneUnregistered) as refused:
        await hotline.service.agents.login("agent2", ["hotline"])
    assert refused.value.details["device_state"] == "5"
    assert members(hotline.sim) == [] and await hotline.agent_events() == []


async def test_a_softphone_another_agent_is_logged_in_on_is_refused_and_changes_nothing(
        hotline: HotlineHarness, sessions: SessionFactory, passwords: Passwords) -> None:
    async with sessions.begin() as db:  # two profiles name the same softphone
        await make_user(db, passwords, "agent9", Role.AGENT.value, endpoint="agent-7001")
    await hotline.service.agents.login("agent1", ["hotline"])
    with pytest.raises(SoftphoneTaken) as refused:
        await hotline.service.agents.login("agent9", ["hotline"])
    assert refused.value.details == {"interface": "PJSIP/agent-7001", "agent": "agent1",
                                     "queues": ["hotline"]}
    assert members(hotline.sim) == [("PJSIP/agent-7001", "agent1", False, "")]
    assert [(e.agent, e.kind) for e in await hotline.agent_events()] == [("agent1", "login")]
    assert view(hotline, "agent1")["state"] == "idle"
    assert all(v["agent"] != "agent9" or v["state"] == "logged_out"
               for v in hotline.service.agents.views())


async def test_a_softphone_that_goes_away_shows_as_unreachable(hotline: HotlineHarness) -> None:
    await hotline.service.agents.login("agent2", ["hotline"])
    hotline.sim.set_registered("agent-7002", False)
    await hotline.until(lambda: view(hotline, "agent2")["reachable"] is False)
    hotline.sim.set_registered("agent-7002", True)
    await hotline.until(lambda: view(hotline, "agent2")["reachable"] is True)


async def test_member_events_for_members_and_queues_nobody_knows_are_ignored(
        hotline: HotlineHarness) -> None:
    await hotline.service.agents.login("agent1", ["hotline"])
    model = hotline.sim.model
    model.ami_event("QueueMemberStatus", {"Queue": "hotline", "Interface": "PJSIP/ghost",
                                          "MemberName": "ghost", "Status": "2", "Paused": "0"})
    model.ami_event("QueueMemberPause", {"Queue": "elsewhere", "Interface": "SIP/nobody",
                                         "Paused": "1", "PausedReason": "x"})
    model.ami_event("AgentCalled", {"Queue": "nowhere", "Uniqueid": "0.0", "Linkedid": "0.0",
                                    "Interface": "PJSIP/ghost", "MemberName": "ghost"})
    await hotline.settle()
    assert [v["agent"] for v in hotline.service.agents.views()] == ["agent1"]
    assert view(hotline, "agent1")["state"] == "idle"


async def test_asterisk_restart_puts_agents_back_with_their_pause_reason(
        hotline: HotlineHarness) -> None:
    agents = hotline.service.agents
    await agents.login("agent1", ["hotline"])
    await agents.login("agent2", ["hotline"])
    await agents.pause("agent2", "meeting")
    await hotline.sim.restart()  # persistentmembers = no: Asterisk forgets them
    assert members(hotline.sim) == []
    await hotline.until(lambda: ("PJSIP/agent-7002", "agent2", True, "meeting")
                        in members(hotline.sim) and hotline.ami.connected)
    assert sorted(members(hotline.sim)) == [("PJSIP/agent-7001", "agent1", False, ""),
                                            ("PJSIP/agent-7002", "agent2", True, "meeting")]
    await hotline.until(lambda: (view(hotline, "agent2")["state"],
                                 view(hotline, "agent2")["reason"]) == ("paused", "meeting"))
    assert view(hotline, "agent1")["state"] == "idle"


async def test_product_restart_reapplies_what_agents_asked_while_it_was_down(
        hotline: HotlineHarness, settings: Settings, sessions: SessionFactory,
        tmp_path: Path, seeded: Seeded) -> None:
    agents = hotline.service.agents
    await agents.login("agent1", ["hotline"])
    await agents.pause("agent1", "break")
    await close_harness(hotline)
    # While the product is down, Asterisk restarts and a stray member appears by hand.
    await hotline.sim.restart()
    hotline.sim.queues.add("hotline", "PJSIP/agent-7002", "agent2")
    again = await open_harness(hotline.sim, hotline_settings(settings, hotline.sim, tmp_path),
                               sessions, tmp_path / "second")
    try:
        # agent2 never logged in through the product: left as Asterisk has it.
        assert sorted(members(again.sim)) == [("PJSIP/agent-7001", "agent1", True, "break"),
                                              ("PJSIP/agent-7002", "agent2", False, "")]
        assert view(again, "agent1")["state"] == "paused"
        assert view(again, "agent1")["reason"] == "break"
    finally:
        await close_harness(again)
