"""Step 5: blind transfers that keep the statistics right, click-to-dial, and listen →
whisper → barge from the supervisor's phone without redialling (audited)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from ari_apps.hotline.exceptions import CallNotFound, NoSoftphone, TransferFailed, UnknownQueue
from callcenter.calls.models import Call
from callcenter.pbxsim.people import Person
from callcenter.store.models import AuditEntry
from tests.hotline.conftest import ELDER_PHONE, STRANGER, HotlineHarness, Seeded


async def talking_to(hotline: HotlineHarness, agent: str, number: str = ELDER_PHONE) -> str:
    """A call from ``number`` answered by ``agent``; its call id."""
    await hotline.service.agents.login(agent, ["hotline"])
    channel = hotline.call_in(number)
    call_id = hotline.linkedid(channel)
    await hotline.until(lambda: (c := hotline.service.tracker.by_id(call_id)) is not None
                        and c.state == "talking")
    return call_id


async def row_where(hotline: HotlineHarness, check: Any) -> Call:
    async def find() -> Call | None:
        return next((c for c in await hotline.calls() if check(c)), None)

    found: Call = await hotline.until(find)
    return found


async def test_blind_transfer_to_a_queue_ends_one_row_and_starts_its_child(
        hotline: HotlineHarness, seeded: Seeded) -> None:
    call_id = await talking_to(hotline, "agent1")
    await hotline.service.agents.login("agent2", ["vip"])
    await hotline.advance(2, timers=False)
    result = await hotline.service.transfers.blind(call_id, "queue", "vip", "agent1")
    parent = await row_where(hotline, lambda c: c.id == call_id and c.ended_at is not None)
    assert (parent.outcome, parent.agent, parent.talk_seconds) == ("transferred", "agent1", 2)
    child = await row_where(hotline, lambda c: c.id == result["new_call_id"]
                            and c.answered_at is not None)
    assert (child.kind, child.parent_id, child.queue, child.agent) == (
        "hotline", call_id, "vip", "agent2")
    assert child.elder_id == seeded.elder_id
    await hotline.wait_state("agent2", "in_call")
    await hotline.was_in_state("agent1", "wrapup")
    # One offered call answered once in each queue: no answer counted twice.
    answered = [c for c in await hotline.calls() if c.answered_at is not None]
    assert sorted((c.queue, c.outcome or "") for c in answered) == [
        ("hotline", "transferred"), ("vip", "")]


async def test_blind_transfer_to_an_outside_number_records_its_answer(
        hotline: HotlineHarness) -> None:
    call_id = await talking_to(hotline, "agent1")
    hotline.sim.set_person("13812345678", Person(behaviour="answer", ring_seconds=1,
                                                 hangup_after=4))
    result = await hotline.service.transfers.blind(call_id, "number", "13812345678", "agent1")
    child = await row_where(hotline, lambda c: c.id == result["new_call_id"]
                            and c.ended_at is not None)
    assert (child.kind, child.outcome, child.parent_id) == ("transfer", "answered", call_id)
    assert child.talk_seconds >= 3


async def test_a_transfer_to_a_failing_number_is_a_clear_outcome_and_a_bad_one_an_error(
        hotline: HotlineHarness) -> None:
    call_id = await talking_to(hotline, "agent1")
    with pytest.raises(TransferFailed):
        await hotline.service.transfers.blind(call_id, "number", "not-a-number", "agent1")
    with pytest.raises(UnknownQueue):
        await hotline.service.transfers.blind(call_id, "queue", "nowhere", "agent1")
    still = hotline.service.tracker.by_id(call_id)
    assert still is not None and still.state == "talking"  # nothing changed
    hotline.sim.set_person("13812345679", Person(behaviour="busy", ring_seconds=1))
    result = await hotline.service.transfers.blind(call_id, "number", "13812345679", "agent1")
    child = await row_where(hotline, lambda c: c.id == result["new_call_id"]
                            and c.ended_at is not None)
    assert child.outcome == "busy"
    with pytest.raises(CallNotFound):  # the call was handed on already: no longer live
        await hotline.service.transfers.blind(call_id, "queue", "vip", "agent1")


async def test_click_to_dial_rings_the_agent_first_then_the_number(
        hotline: HotlineHarness, seeded: Seeded) -> None:
    hotline.sim.set_person("13811112222", Person(behaviour="answer", ring_seconds=2,
                                                 hangup_after=5))
    task = asyncio.ensure_future(hotline.service.transfers.click_to_dial(
        "agent1", "138-1111-2222", seeded.elder_id))
    await hotline.until(task.done)
    call_id = task.result()["call_id"]
    row = await row_where(hotline, lambda c: c.id == call_id and c.ended_at is not None)
    assert (row.kind, row.agent, row.caller_number, row.outcome) == (
        "click_to_dial", "agent1", "13811112222", "answered")
    assert row.elder_id == seeded.elder_id and row.talk_seconds >= 4
    with pytest.raises(NoSoftphone):
        await hotline.service.transfers.click_to_dial("nophone", "13811112222", None)


async def test_click_to_dial_with_an_unregistered_softphone_is_a_clear_error(
        hotline: HotlineHarness) -> None:
    hotline.sim.set_registered("agent-7001", False)
    task = asyncio.ensure_future(hotline.service.transfers.click_to_dial(
        "agent1", "13811112222", None))
    await hotline.until(task.done)
    with pytest.raises(TransferFailed):
        task.result()
    rows = await hotline.calls()
    assert [(c.kind, c.outcome) for c in rows] == [("click_to_dial", "failed")]


async def test_listen_then_whisper_then_barge_on_one_supervisor_call(
        hotline: HotlineHarness) -> None:
    call_id = await talking_to(hotline, "agent1", STRANGER)
    supervision = hotline.service.supervision
    modes = []
    for mode in ("listen", "whisper", "barge"):
        task = asyncio.ensure_future(supervision.supervise(call_id, "sup1", mode))
        await hotline.until(task.done)
        modes.append(task.result())
    sessions = {m["session"] for m in modes}
    assert len(sessions) == 1  # one call to the supervisor's phone for all three
    phones = [c for c in hotline.sim.model.channels.values() if c.name.startswith("PJSIP/sup")]
    assert len(phones) == 1
    snoops = [c for c in hotline.sim.model.channels.values() if c.tech == "Snoop"]
    assert [s.snoop for s in snoops] == [("both", "both")]  # barge: heard by both sides
    bridge = hotline.sim.model.bridges[sessions.pop()]
    assert {c.id for c in bridge.channels} == {phones[0].id, snoops[0].id}
    async with hotline.sessions() as db:
        audited = [(a.actor, a.action, a.entity_id) for a in
                   (await db.execute(select(AuditEntry).order_by(AuditEntry.seq))).scalars()]
    assert audited == [("sup1", f"hotline.{m}", call_id) for m in ("listen", "whisper", "barge")]
