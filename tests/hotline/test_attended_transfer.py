"""Attended transfers on the simulator: consult an agent, a queue or a number while the
caller is held, then complete or cancel; the target not answering; statistics kept right."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from ari_apps.hotline.exceptions import CallNotFound, ConsultNotAnswered, TransferFailed
from ari_apps.wallboard.figures import FigureQueries
from callcenter.calls.models import Call
from callcenter.pbxsim.objects import Channel
from callcenter.pbxsim.people import Person
from tests.hotline.conftest import HotlineHarness, Seeded, sim_now
from tests.hotline.test_transfer import row_where, talking_to

OUTSIDE = "13812340000"


def consult_states(hotline: HotlineHarness, call_id: str) -> list[str]:
    return [p["state"] for p in hotline.topics("hotline.call.consult")
            if p["call_id"] == call_id]


async def consult(hotline: HotlineHarness, call_id: str, to: str, target: str) -> dict[str, Any]:
    """Start a consultation as the console does (the command returns once it rings)."""
    task = asyncio.ensure_future(hotline.service.transfers.transfer(
        call_id, "attended", to, target, "agent1"))
    await hotline.until(task.done)
    return task.result()


async def answered_consult(hotline: HotlineHarness, call_id: str) -> None:
    await hotline.until(lambda: "talking" in consult_states(hotline, call_id))


def caller_channel(hotline: HotlineHarness, call_id: str) -> Channel:
    call = hotline.service.tracker.by_id(call_id)
    assert call is not None
    found = hotline.sim.model.find_by_name(call.channel)
    assert found is not None
    return found


def bridged_with(channel: Channel) -> list[str]:
    """The names of the other channels in ``channel``'s bridge."""
    bridge = channel.bridge
    return [] if bridge is None else sorted(c.name for c in bridge.channels if c is not channel)


async def figures(hotline: HotlineHarness) -> dict[str, tuple[int, int, int]]:
    """(offered, answered, abandoned) per queue, as the supervisor's view computes them."""
    now = sim_now(hotline.sim)
    async with hotline.sessions() as db:
        conn = await db.connection()
        counts = await FigureQueries(20, {}).counts(conn, now - timedelta(hours=1),
                                                    now + timedelta(minutes=1), 5)
    return {queue: (c.offered, c.answered, c.abandoned) for (queue, _b), c in counts.items()}


async def test_attended_transfer_to_an_agent_consults_then_joins_the_caller(
        hotline: HotlineHarness, seeded: Seeded) -> None:
    call_id = await talking_to(hotline, "agent1")
    caller = caller_channel(hotline, call_id)
    started = await consult(hotline, call_id, "agent", "agent2")
    assert (started["mode"], started["state"]) == ("attended", "calling")
    # The caller is held alone in the call's bridge; the agent is consulting elsewhere.
    assert bridged_with(caller) == []
    with pytest.raises(ConsultNotAnswered):  # the target still rings
        await hotline.service.transfers.transfer(call_id, "complete", "", "", "agent1")
    await answered_consult(hotline, call_id)
    await hotline.advance(2, timers=False)
    await hotline.service.transfers.transfer(call_id, "complete", "", "", "agent1")
    parent = await row_where(hotline, lambda c: c.id == call_id and c.ended_at is not None)
    assert (parent.outcome, parent.agent) == ("transferred", "agent1")
    assert parent.details["transferred_to"] == "agent:agent2"
    await hotline.until(lambda: any(n.startswith("Local/a-agent-7002@hotline-transfer")
                                    for n in bridged_with(caller)))
    child = await row_where(hotline, lambda c: c.id == started["new_call_id"])
    assert (child.kind, child.parent_id, child.agent, child.elder_id) == (
        "transfer", call_id, "agent2", seeded.elder_id)
    assert child.answered_at is not None and child.ended_at is None
    await hotline.was_in_state("agent1", "wrapup")
    hotline.hang_up(caller.id)
    child = await row_where(hotline, lambda c: c.id == started["new_call_id"]
                            and c.ended_at is not None)
    assert child.outcome == "answered" and child.talk_seconds >= 2
    assert consult_states(hotline, call_id) == ["calling", "talking", "completed"]


async def test_attended_transfer_to_a_queue_counts_the_call_once(
        hotline: HotlineHarness, seeded: Seeded) -> None:
    call_id = await talking_to(hotline, "agent1")
    await hotline.service.agents.login("agent2", ["vip"])
    started = await consult(hotline, call_id, "queue", "vip")
    await answered_consult(hotline, call_id)  # agent2 answered from the vip queue
    child = await row_where(hotline, lambda c: c.id == started["new_call_id"]
                            and c.answered_at is not None)
    assert (child.kind, child.queue, child.agent, child.parent_id) == (
        "hotline", "vip", "agent2", call_id)
    await hotline.service.transfers.transfer(call_id, "complete", "", "", "agent1")
    parent = await row_where(hotline, lambda c: c.id == call_id and c.ended_at is not None)
    assert parent.outcome == "transferred"
    await hotline.wait_state("agent2", "in_call")
    hotline.hang_up(caller_channel_id := _caller_id(hotline, child))
    del caller_channel_id
    await row_where(hotline, lambda c: c.id == started["new_call_id"] and c.ended_at is not None)
    # One call offered and answered once, in the queue it came in by; vip saw no new call.
    assert await figures(hotline) == {"hotline": (1, 1, 0)}
    assert not hotline.service.tracker.live


def _caller_id(hotline: HotlineHarness, child: Call) -> str:
    """The original caller's channel (it is bridged with the consultation's Local ;1)."""
    return next(c.id for c in hotline.sim.model.channels.values()
                if c.tech == "PJSIP" and c.bridge is not None and any(
                    o.name.startswith("Local/q-vip@hotline-transfer") for o in c.bridge.channels))


async def test_attended_transfer_to_an_outside_number(hotline: HotlineHarness) -> None:
    call_id = await talking_to(hotline, "agent1")
    hotline.sim.set_person(OUTSIDE, Person(behaviour="answer", ring_seconds=1))
    started = await consult(hotline, call_id, "number", OUTSIDE)
    await answered_consult(hotline, call_id)
    await hotline.service.transfers.transfer(call_id, "complete", "", "", "agent1")
    await row_where(hotline, lambda c: c.id == call_id and c.outcome == "transferred")
    outside = next(c for c in hotline.sim.model.channels.values()
                   if c.tech == "PJSIP" and c.connected.number == OUTSIDE)
    hotline.hang_up(outside.id)  # the outside party ends the transferred call
    child = await row_where(hotline, lambda c: c.id == started["new_call_id"]
                            and c.ended_at is not None)
    assert (child.kind, child.outcome, child.parent_id) == ("transfer", "answered", call_id)
    assert not hotline.service.tracker.live and not hotline.service.tracker.outside


async def test_a_target_that_does_not_answer_puts_the_agent_back_with_a_clear_error(
        hotline: HotlineHarness) -> None:
    call_id = await talking_to(hotline, "agent1")
    caller = caller_channel(hotline, call_id)
    hotline.sim.set_person(OUTSIDE, Person(behaviour="noanswer"))
    started = await consult(hotline, call_id, "number", OUTSIDE)
    await hotline.until(lambda: "failed" in consult_states(hotline, call_id))
    failure = hotline.topics("hotline.call.consult")[-1]
    assert failure["error"] == "the target did not answer"
    assert bridged_with(caller) == [hotline.service.tracker.by_id(call_id).agent_channel]
    child = await row_where(hotline, lambda c: c.id == started["new_call_id"]
                            and c.ended_at is not None)
    assert (child.outcome, child.answered_at) == ("no_answer", None)
    still = hotline.service.tracker.by_id(call_id)
    assert still is not None and still.state == "talking"
    with pytest.raises(CallNotFound):  # nothing left to complete
        await hotline.service.transfers.transfer(call_id, "complete", "", "", "agent1")
    # The call goes on and ends as an answered call, not a transferred one.
    hotline.hang_up(caller.id)
    parent = await row_where(hotline, lambda c: c.id == call_id and c.ended_at is not None)
    assert parent.outcome == "answered"
    assert await hotline.callbacks() == []


async def test_cancel_returns_to_the_caller_and_the_consultation_ends_by_itself(
        hotline: HotlineHarness) -> None:
    call_id = await talking_to(hotline, "agent1")
    caller = caller_channel(hotline, call_id)
    started = await consult(hotline, call_id, "agent", "agent2")
    await answered_consult(hotline, call_id)
    await hotline.advance(1, timers=False)
    result = await hotline.service.transfers.transfer(call_id, "cancel", "", "", "agent1")
    assert result["new_call_id"] == started["new_call_id"]
    await hotline.until(lambda: "cancelled" in consult_states(hotline, call_id))
    assert hotline.topics("hotline.call.consult")[-1]["error"] == ""
    await hotline.until(lambda: bridged_with(caller) == [
        hotline.service.tracker.by_id(call_id).agent_channel])
    child = await row_where(hotline, lambda c: c.id == started["new_call_id"]
                            and c.ended_at is not None)
    assert (child.outcome, child.parent_id) == ("answered", call_id)
    hotline.hang_up(caller.id)
    parent = await row_where(hotline, lambda c: c.id == call_id and c.ended_at is not None)
    assert parent.outcome == "answered"
    assert await figures(hotline) == {"hotline": (1, 1, 0)}


async def test_a_consultation_asterisk_does_not_start_is_a_clear_error(
        hotline: HotlineHarness) -> None:
    call_id = await talking_to(hotline, "agent1")
    agent_channel = hotline.sim.model.find_by_name(
        hotline.service.tracker.by_id(call_id).agent_channel)
    assert agent_channel is not None
    agent_channel.may_transfer = False  # Queue() without option t: the digits pass through
    hotline.service.transfers.consults.start_seconds = 0.5
    with pytest.raises(TransferFailed, match="did not start the consultation"):
        await consult(hotline, call_id, "agent", "agent2")
    hotline.sim.transfers.feature_code = ""  # features.conf without atxfer
    with pytest.raises(TransferFailed, match="No attended transfer feature code found"):
        await consult(hotline, call_id, "agent", "agent2")
    still = hotline.service.tracker.by_id(call_id)
    assert still is not None and still.state == "talking"
    assert hotline.service.transfers.consults.by_call == {}
    rows = [c for c in await hotline.calls() if c.parent_id == call_id]
    assert [c.outcome for c in rows] == ["failed", "failed"]
