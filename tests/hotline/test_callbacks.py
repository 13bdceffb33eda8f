"""Step 4: abandoned calls are called back, always — at the caller's place, with retries,
then kin alerted and a follow-up opened; never twice; cleared by the caller's own call."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from ari_apps.hotline.calls import LiveCall
from ari_apps.hotline.models import Callback
from callcenter.calls.models import Call
from callcenter.notify.models import Notification
from callcenter.pbxsim.people import Person
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from tests.hotline.conftest import (
    ELDER_PHONE,
    KIN_PHONE,
    SOCIAL_WORKER,
    STRANGER,
    HotlineHarness,
    Seeded,
    close_harness,
    hotline_settings,
    open_harness,
    sim_now,
)
from workflow.models import WorkOrder


def waiting(hotline: HotlineHarness) -> list[str]:
    return [e.ch.id for e in hotline.sim.queues.queues["hotline"].callers]


async def abandon(hotline: HotlineHarness, number: str, after: float = 6) -> str:
    """A caller waits ``after`` seconds and hangs up; the abandoned call's id."""
    channel = hotline.call_in(number)
    await hotline.until(lambda: channel in waiting(hotline))
    await hotline.advance(after, timers=False)
    hotline.hang_up(channel)
    await hotline.until(lambda: hotline.service.tracker.by_id(channel) is None)
    await hotline.until(hotline.callbacks)
    return channel


async def entry(hotline: HotlineHarness) -> Callback:
    return (await hotline.callbacks())[-1]


async def test_an_abandoned_caller_is_called_back_and_connected_to_an_agent(
        hotline: HotlineHarness, seeded: Seeded) -> None:
    call_id = await abandon(hotline, ELDER_PHONE)
    assert (await entry(hotline)).status == "pending"
    await hotline.service.agents.login("agent1", ["hotline"])

    async def connected() -> bool:
        return (await entry(hotline)).status == "connected"

    await hotline.until(connected, timers=True)
    done = await entry(hotline)
    assert done.attempts == 1 and done.last_result == "connected"
    row = await hotline.call_row(str(done.connected_call_id))
    assert row is not None and (row.kind, row.parent_id, row.agent) == ("callback", call_id,
                                                                        "agent1")
    assert row.elder_id == seeded.elder_id and row.answered_at is not None
    await hotline.until(lambda: hotline.topics("hotline.callbacks.changed")[-1:] == [
        {"pending": 0}])


async def test_the_callback_keeps_the_callers_place_among_waiting_callers(
        hotline: HotlineHarness) -> None:
    early = await abandon(hotline, ELDER_PHONE)  # abandoned first ...
    later = hotline.call_in(STRANGER)  # ... someone who joined after them still waits
    await hotline.until(lambda: later in waiting(hotline))
    await hotline.until(lambda: len(waiting(hotline)) == 2, timers=True)
    callback = next(c for c in waiting(hotline) if c.startswith("cb-"))
    assert waiting(hotline) == [callback, later]
    row = await hotline.call_row(callback)
    assert row is not None and row.parent_id == early


async def test_failed_attempts_back_off_then_kin_are_alerted_and_a_follow_up_opened(
        hotline: HotlineHarness, seeded: Seeded) -> None:
    hotline.sim.set_person(ELDER_PHONE, Person(behaviour="busy", ring_seconds=1))
    call_id = await abandon(hotline, ELDER_PHONE)
    first_due = (await entry(hotline)).next_at

    async def failed() -> bool:
        return (await entry(hotline)).status == "failed"

    await hotline.until(failed, timers=True)
    done = await entry(hotline)
    assert done.attempts == 2 and done.last_result == "busy"  # HOTLINE_CALLBACK_DELAYS: 2
    attempts = [c for c in await hotline.calls() if c.kind == "callback"]
    assert [(c.outcome, c.parent_id) for c in attempts] == [("busy", call_id)] * 2
    assert first_due is not None and attempts[1].started_at >= first_due

    async def alerts() -> list[tuple[str, str | None]] | None:
        async with hotline.sessions() as db:
            found = sorted((n.recipient, n.subject_entity) for n in
                           (await db.execute(select(Notification))).scalars())
        return found if len(found) == 2 else None  # queued right after the last attempt

    sms = await hotline.until(alerts)
    async with hotline.sessions() as db:
        order = await db.get(WorkOrder, done.work_order_id)
    assert sms == sorted([(f"+86{KIN_PHONE}", "callback"), (f"+86{SOCIAL_WORKER}", "callback")])
    assert order is not None and (order.type, order.elder_id) == ("service", seeded.elder_id)


async def test_a_callback_picked_up_but_refused_by_the_queue_ends_and_is_tried_again(
        hotline: HotlineHarness, seeded: Seeded) -> None:
    """The elder answers, but nobody is logged in: app_queue lets them in nowhere (the
    rendered ``joinempty``) and the dialplan hangs up. On a real Asterisk 22.10.1 that
    attempt stayed open and its callback "dialling" for good (never retried, kin never
    alerted); it now ends as an overflow, and the next attempts follow to the last."""
    call_id = await abandon(hotline, ELDER_PHONE)
    hotline.sim.queues.queues["hotline"].refuse_empty = True

    async def failed() -> bool:
        return (await entry(hotline)).status == "failed"

    await hotline.until(failed, timers=True)
    done = await entry(hotline)
    assert done.attempts == 2 and done.last_result == "overflow"
    attempts = [c for c in await hotline.calls() if c.kind == "callback"]
    assert [(c.outcome, c.parent_id, c.answered_at) for c in attempts] == [
        ("overflow", call_id, None)] * 2
    assert all(c.ended_at is not None for c in attempts)
    assert done.work_order_id is not None  # the loop closes: a follow-up for the elder


async def test_a_caller_who_calls_back_clears_their_entry(hotline: HotlineHarness) -> None:
    await abandon(hotline, STRANGER)
    again = hotline.call_in(STRANGER)
    await hotline.until(lambda: again in waiting(hotline))
    cleared = await entry(hotline)
    assert cleared.status == "cleared" and cleared.connected_call_id == again
    await hotline.advance(20)  # the armed attempt never dials
    assert not [c for c in await hotline.calls() if c.kind == "callback"]


async def test_the_route_asks_for_waiting_callbacks_only_when_its_read_found_one(
        hotline: HotlineHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Most callers have no callback waiting: the route's one read says so, and nothing
    more is asked on their time; a caller with one waiting still clears it."""
    callbacks = hotline.service.callbacks
    assert callbacks is not None
    asked: list[str] = []
    clear = callbacks.caller_called

    async def counted(number: str, call_id: str) -> None:
        asked.append(call_id)
        await clear(number, call_id)

    monkeypatch.setattr(callbacks, "caller_called", counted)
    await abandon(hotline, STRANGER)
    assert asked == []  # routed with nothing waiting
    again = hotline.call_in(STRANGER)
    await hotline.until(lambda: again in waiting(hotline))
    assert asked == [again]
    assert (await entry(hotline)).status == "cleared"


async def test_never_two_callbacks_for_one_abandon(hotline: HotlineHarness) -> None:
    call_id = await abandon(hotline, STRANGER)
    async with hotline.sessions() as db:
        row = await db.get(Call, call_id)
    assert row is not None
    again = LiveCall(id=call_id, uniqueid=call_id, number=STRANGER, queue="hotline",
                     queued_at=row.queued_at)
    await hotline.service.callbacks.abandoned(again, sim_now(hotline.sim))
    assert [c.call_id for c in await hotline.callbacks()] == [call_id]


async def ringing_attempt(hotline: HotlineHarness) -> str:
    """An abandoned stranger's first callback attempt, ringing a phone nobody answers for a
    minute; its id."""
    hotline.sim.set_person(STRANGER, Person(behaviour="noanswer", ring_seconds=60))
    await abandon(hotline, STRANGER)

    async def dialling() -> bool:
        return (await entry(hotline)).status == "dialling"

    await hotline.until(dialling, timers=True)
    attempt_id = f"cb-{(await entry(hotline)).id}-1"
    await hotline.until(lambda: hotline.call_row(attempt_id))  # it rings
    return attempt_id


async def test_a_restart_during_a_callback_attempt_never_strands_it(
        hotline: HotlineHarness, settings: Settings, sessions: SessionFactory,
        tmp_path: Path) -> None:
    await ringing_attempt(hotline)
    await close_harness(hotline)  # the product dies while the caller's phone rings
    await hotline.sim.advance(40)  # the attempt rang out while nobody listened
    again = await open_harness(hotline.sim, hotline_settings(settings, hotline.sim, tmp_path),
                               sessions, tmp_path / "second")
    try:
        retried = await entry(again)
        assert retried.status == "pending" and retried.attempts == 1
        assert retried.next_at is not None and retried.last_result == "interrupted"
        attempt = await again.call_row(f"cb-{retried.id}-1")
        assert attempt is not None and attempt.outcome == "no_answer"
    finally:
        await close_harness(again)


async def test_a_callback_still_ringing_across_a_restart_ends_when_it_rings_out(
        hotline: HotlineHarness, settings: Settings, sessions: SessionFactory,
        tmp_path: Path) -> None:
    """The product dies while the caller's phone rings and is back before it stops: the
    attempt is taken back, and when Asterisk gives up ringing it ends as not answered and
    the next attempt is due. On a real Asterisk 22.10.1 it stayed open and its callback
    "dialling" for good: the process that would have read its originate was gone."""
    attempt_id = await ringing_attempt(hotline)
    await close_harness(hotline)
    await hotline.sim.advance(5)
    again = await open_harness(hotline.sim, hotline_settings(settings, hotline.sim, tmp_path),
                               sessions, tmp_path / "second")
    try:
        assert attempt_id in hotline.sim.model.channels  # still ringing: taken back
        assert (await entry(again)).status == "dialling"

        async def rang_out() -> bool:
            return (await entry(again)).status == "pending"

        await again.until(rang_out)
        retried = await entry(again)
        assert retried.attempts == 1 and retried.last_result == "no_answer"
        attempt = await again.call_row(attempt_id)
        assert attempt is not None and attempt.outcome == "no_answer"
        assert attempt.ended_at is not None
    finally:
        await close_harness(again)
