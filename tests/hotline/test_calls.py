"""Step 3: one call record per call from the AMI queue events, the bus topics of the
contract, and records that survive restarts of the product and of Asterisk."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ari_apps.hotline.models import Callback
from ari_apps.hotline.recovery import reconcile
from callcenter.asterisk import AmiEvent
from callcenter.calls.models import Call
from callcenter.pbxsim.objects import CallerId, Channel
from callcenter.pbxsim.people import Person
from callcenter.pbxsim.queues import Queue
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from recordings.cdr import CdrReconciler, call_from_cdr
from tests.hotline.conftest import (
    ELDER_PHONE,
    STRANGER,
    WAIT,
    HotlineHarness,
    Seeded,
    close_harness,
    hotline_settings,
    open_harness,
    sim_now,
)


async def ended(hotline: HotlineHarness, call_id: str) -> Call:
    return await hotline.row_with(call_id, "ended_at")


async def answered(hotline: HotlineHarness, call_id: str) -> Call:
    return await hotline.row_with(call_id, "answered_at")


_TRUNKS = itertools.count(0xabc)


async def arrived(hotline: HotlineHarness) -> Channel:
    """A caller from the elder's phone reaches ``[hotline-entry]``: its arrival event (the
    context's first step) is sent and its row written; the rest of the context is the
    test's to run (``hotline.sim.dialplan.hotline.entry``)."""
    model = hotline.sim.model
    ch = model.new_channel(f"PJSIP/trunk-{next(_TRUNKS):08x}", "PJSIP", state="Up",
                           context="hotline-entry", exten="12349",
                           caller=CallerId(number=ELDER_PHONE))
    model.ami_event("UserEvent", {**ch.ami(), "UserEvent": "CallcenterHotline",
                                  "Stage": "arrived", "CareCall": ""})
    await hotline.until(lambda: hotline.call_row(ch.linkedid))
    return ch


async def callbacks_count(hotline: HotlineHarness, count: int) -> list[Callback] | None:
    """The callback list once it has ``count`` entries (it is written after the call row)."""
    entries = await hotline.callbacks()
    return entries if len(entries) == count else None


async def test_answered_call_rings_the_agent_then_records_wait_talk_and_wrapup(
        hotline: HotlineHarness, seeded: Seeded) -> None:
    await hotline.service.agents.login("agent1", ["hotline"])
    channel = hotline.call_in(ELDER_PHONE)
    call_id = hotline.linkedid(channel)
    ringing = await hotline.until(lambda: hotline.topics("hotline.call.ringing"))
    assert ringing[0] | {"rung_at": None} == {
        "call_id": call_id, "agent": "agent1", "queue": "hotline", "caller_number": ELDER_PHONE,
        "elder_id": seeded.elder_id, "caller_kind": "elder", "priority": 0, "reason": "",
        "care_call": None, "care_reason": "", "rung_at": None}
    row = await answered(hotline, call_id)
    assert row.agent == "agent1" and row.wait_seconds >= 1
    answered_topic = await hotline.until(lambda: hotline.topics("hotline.call.answered"))
    assert answered_topic[0]["agent"] == "agent1"
    await hotline.wait_state("agent1", "in_call")
    await hotline.advance(3)
    hotline.hang_up(channel)
    row = await ended(hotline, call_id)
    assert (row.outcome, row.talk_seconds, row.wrapup_seconds) == ("answered", 3, 5)
    assert row.queued_at is not None and row.started_at <= row.queued_at <= row.answered_at
    ended_topic = await hotline.until(lambda: hotline.topics("hotline.call.ended"))
    assert ended_topic[-1] | {"ended_at": None} == {
        "call_id": call_id, "queue": "hotline", "agent": "agent1", "outcome": "answered",
        "ended_at": None}
    await hotline.was_in_state("agent1", "wrapup")
    assert len(await hotline.calls()) == 1  # one row for the whole call


async def test_abandons_long_and_short_are_recorded_apart_and_both_called_back(
        hotline: HotlineHarness) -> None:
    long_caller = hotline.call_in(ELDER_PHONE)
    await hotline.until(lambda: len(hotline.sim.queues.queues["hotline"].callers) == 1)
    short_caller = hotline.call_in(STRANGER)
    await hotline.until(lambda: len(hotline.sim.queues.queues["hotline"].callers) == 2)
    await hotline.advance(2, timers=False)
    hotline.hang_up(short_caller)
    await hotline.advance(8, timers=False)
    hotline.hang_up(long_caller)
    short = await ended(hotline, hotline.linkedid(short_caller))
    long = await ended(hotline, hotline.linkedid(long_caller))
    assert (short.outcome, long.outcome) == ("short_abandon", "abandoned")
    assert short.wait_seconds < 5 <= long.wait_seconds
    entries = await hotline.until(lambda: callbacks_count(hotline, 2))
    assert sorted(e.call_id for e in entries) == sorted([short.id, long.id])
    await hotline.until(lambda: hotline.topics("hotline.callbacks.changed")[-1:] == [
        {"pending": 2}])


async def test_a_ring_no_answer_stops_the_ringing_and_a_caller_who_waits_too_long_overflows(
        hotline: HotlineHarness) -> None:
    hotline.sim.set_person("agent-7002", Person(behaviour="noanswer", ring_seconds=60))
    hotline.sim.queues.queues["hotline"].max_wait = 20
    await hotline.service.agents.login("agent2", ["hotline"])
    channel = hotline.call_in(STRANGER)
    call_id = hotline.linkedid(channel)
    stopped = await hotline.until(lambda: hotline.topics("hotline.call.stopped_ringing"))
    assert stopped[0] == {"call_id": call_id, "agent": "agent2"}
    row = await ended(hotline, call_id)
    assert row.outcome == "overflow" and row.answered_at is None and row.wait_seconds >= 19
    assert [e.call_id for e in await hotline.until(lambda: callbacks_count(hotline, 1))] == [
        call_id]
    await hotline.wait_state("agent2", "idle")  # never stuck ringing


async def test_a_caller_the_queue_refuses_with_nobody_logged_in_is_recorded_and_called_back(
        hotline: HotlineHarness) -> None:
    """The rendered ``joinempty = unavailable,invalid``: with nobody logged in, app_queue
    lets no caller in (no queue event at all) and the dialplan says goodbye."""
    hotline.sim.queues.queues["hotline"].refuse_empty = True
    channel = hotline.call_in(ELDER_PHONE)
    call_id = hotline.linkedid(channel)
    row = await ended(hotline, call_id)
    assert (row.outcome, row.queued_at, row.queue) == ("overflow", None, "hotline")
    assert [e.call_id for e in await hotline.until(lambda: callbacks_count(hotline, 1))] == [
        call_id]
    assert hotline.topics("hotline.call.ended")[-1]["outcome"] == "overflow"


async def test_a_caller_who_hangs_up_during_the_route_is_recorded_and_called_back(
        hotline: HotlineHarness) -> None:
    await hotline.service.agents.login("agent1", ["hotline"])
    routed = await hotline.bus.subscribe("hotline.call.routed")
    channel = hotline.call_in(ELDER_PHONE)
    call_id = hotline.linkedid(channel)
    # Gone as the route decides, before it has set the channel's variables. Waited for
    # without moving simulated time on: the call lasts from its arrival, and a route that
    # took a few simulated seconds (the store's real time) would make it a long abandon.
    gone = asyncio.Event()

    def hang_up(_message: object) -> None:
        hotline.hang_up(channel)
        gone.set()

    routed.tap = hang_up
    async with asyncio.timeout(WAIT):
        await gone.wait()
    row = await ended(hotline, call_id)
    await routed.close()
    assert (row.outcome, row.queued_at, row.caller_kind) == ("short_abandon", None, "elder")
    assert [e.call_id for e in await hotline.until(lambda: callbacks_count(hotline, 1))] == [
        call_id]
    await hotline.advance(2)
    assert len(await hotline.callbacks()) == 1 and len(await hotline.calls()) == 1
    await hotline.wait_state("agent1", "idle")


async def test_a_caller_who_hangs_up_during_the_greeting_is_recorded_and_called_back(
        hotline: HotlineHarness, seeded: Seeded) -> None:
    """Gone before the route ever asked: ``[hotline-entry]``'s arrival event is all the
    product hears of the call before its end. Who called is read then, as the route
    would: the row and the callback name the elder (stored as an unknown caller before,
    on a real Asterisk too), so the last failed callback can alert their kin."""
    ch = await arrived(hotline)
    await hotline.advance(3, timers=False)  # the greeting plays
    hotline.hang_up(ch.id)
    row = await ended(hotline, ch.linkedid)
    assert (row.outcome, row.caller_number, row.queue, row.wait_seconds) == (
        "short_abandon", ELDER_PHONE, "hotline", 3)
    assert (row.caller_kind, row.elder_id) == ("elder", seeded.elder_id)
    entries = await hotline.until(lambda: callbacks_count(hotline, 1))
    assert [(e.call_id, e.elder_id) for e in entries] == [(ch.linkedid, seeded.elder_id)]


async def test_a_caller_gone_during_the_greeting_while_the_store_cannot_say_who_is_still_called_back(
        hotline: HotlineHarness) -> None:
    class Away:
        async def run(self, _read: object) -> None:
            raise ConnectionRefusedError("the store is away")

    hotline.service.tracker.reads = Away()  # type: ignore[assignment]
    ch = await arrived(hotline)
    hotline.hang_up(ch.id)
    row = await ended(hotline, ch.linkedid)
    assert (row.outcome, row.caller_kind, row.elder_id) == ("short_abandon", "unknown", None)
    assert [e.call_id for e in await hotline.until(lambda: callbacks_count(hotline, 1))] == [
        ch.linkedid]


async def test_a_call_heard_of_on_arrival_starts_at_its_arrival_not_at_its_route(
        hotline: HotlineHarness) -> None:
    await hotline.service.agents.login("agent1", ["hotline"])
    ch = await arrived(hotline)
    await hotline.advance(3, timers=False)  # the greeting plays, then the route asks
    hotline.sim.model.spawn(hotline.sim.dialplan.hotline.entry(ch))
    row = await answered(hotline, ch.linkedid)
    assert row.queued_at is not None
    assert (row.queued_at - row.started_at).total_seconds() >= 3  # the greeting is in the call
    assert row.caller_kind == "elder" and len(await hotline.calls()) == 1


async def test_product_restart_mid_call_keeps_the_record_whole(
        hotline: HotlineHarness, settings: Settings, sessions: SessionFactory,
        tmp_path: Path, seeded: Seeded) -> None:
    await hotline.service.agents.login("agent1", ["hotline"])
    talking = hotline.call_in(ELDER_PHONE)
    await answered(hotline, hotline.linkedid(talking))
    await hotline.service.agents.pause("agent1", "after-call-work")
    waiting = hotline.call_in(STRANGER)
    await hotline.until(lambda: len(hotline.sim.queues.queues["hotline"].callers) == 1)
    await close_harness(hotline)
    await hotline.sim.advance(4)  # nobody listens to Asterisk for 4 s
    again = await open_harness(hotline.sim, hotline_settings(settings, hotline.sim, tmp_path),
                               sessions, tmp_path / "second")
    try:
        assert again.service.tracker.by_id(hotline.linkedid(talking)) is not None
        assert again.service.tracker.by_id(hotline.linkedid(waiting)) is not None
        again.hang_up(talking)
        row = await ended(again, hotline.linkedid(talking))
        assert row.outcome == "answered" and row.talk_seconds >= 4
        await again.service.agents.unpause("agent1")
        await answered(again, hotline.linkedid(waiting))  # the waiting caller reached agent1
    finally:
        await close_harness(again)


async def test_a_call_that_ended_while_the_product_was_down_is_closed_not_lost(
        hotline: HotlineHarness, settings: Settings, sessions: SessionFactory,
        tmp_path: Path) -> None:
    waiting = hotline.call_in(STRANGER)
    await hotline.until(lambda: len(hotline.sim.queues.queues["hotline"].callers) == 1)
    await close_harness(hotline)
    await hotline.sim.advance(7)
    hotline.hang_up(waiting)  # abandoned while nobody listened
    again = await open_harness(hotline.sim, hotline_settings(settings, hotline.sim, tmp_path),
                               sessions, tmp_path / "second")
    try:
        row = await ended(again, hotline.linkedid(waiting))
        assert row.outcome == "abandoned" and row.hangup_cause == "ended-unobserved"
        assert [e.call_id for e in await again.until(lambda: callbacks_count(again, 1))] == [
            row.id]
    finally:
        await close_harness(again)


async def test_asterisk_restart_mid_traffic_closes_the_calls_and_frees_the_agents(
        hotline: HotlineHarness) -> None:
    await hotline.service.agents.login("agent1", ["hotline"])
    talking = hotline.call_in(ELDER_PHONE)
    await answered(hotline, hotline.linkedid(talking))
    waiting = hotline.call_in(STRANGER)
    await hotline.until(lambda: len(hotline.sim.queues.queues["hotline"].callers) == 1)
    await hotline.advance(6, timers=False)
    await hotline.sim.restart()
    talked = await ended(hotline, hotline.linkedid(talking))
    waited = await ended(hotline, hotline.linkedid(waiting))
    assert talked.outcome == "answered" and waited.outcome == "abandoned"
    assert [e.call_id for e in await hotline.until(lambda: callbacks_count(hotline, 1))] == [
        waited.id]
    await hotline.wait_state("agent1", "idle")  # back in the queue, not stuck in a call
    assert [m.name for m in hotline.sim.queues.queues["hotline"].members] == ["agent1"]


async def test_a_caller_in_a_queue_the_hotline_does_not_serve_is_still_recorded(
        hotline: HotlineHarness) -> None:
    hotline.sim.queues.queues["sos-backup"] = Queue("sos-backup")
    # Another dialplan (the SOS fallback) queues a caller without asking the router.
    channel = hotline.sim.dialplan.inbound(STRANGER, "123491", queue="sos-backup").id
    row = await hotline.row_with(channel, "queued_at")
    assert (row.queue, row.caller_kind, row.details["routed_by"]) == (
        "sos-backup", "unknown", "dialplan")
    await hotline.advance(8, timers=False)
    hotline.hang_up(channel)
    ended_row = await ended(hotline, channel)
    assert ended_row.outcome == "abandoned"
    assert [e.call_id for e in await hotline.until(lambda: callbacks_count(hotline, 1))] == [
        channel]


async def answered_while_down(hotline: HotlineHarness) -> str:
    """The product stops; a call the classic-AGI script routes is answered by agent1."""
    await hotline.service.agents.login("agent1", ["hotline"])
    await hotline.service.snapshot.refresh()
    await close_harness(hotline)  # the product is down: FastAGI refuses, the script routes
    channel = hotline.call_in(ELDER_PHONE)
    queue = hotline.sim.queues.queues["hotline"]
    async with asyncio.timeout(WAIT):  # the script runs (real time), the softphone answers
        while not queue.members[0].in_call:
            await hotline.sim.advance(0.1)
            await asyncio.sleep(0.01)
    assert hotline.sim.model.channels[channel].variables["CALLCENTER_ROUTED_BY"] == "fallback"
    await hotline.sim.advance(2)
    return channel


async def test_a_caller_heard_of_on_arrival_and_routed_by_the_fallback_meanwhile_is_identified(
        hotline: HotlineHarness, settings: Settings, sessions: SessionFactory,
        tmp_path: Path, seeded: Seeded) -> None:
    """The product stops during the greeting; the classic script routes the caller, who
    still waits in the queue when the product is back: the row written on arrival (no
    caller known yet) is filled in from the channel's routing variables, not followed as an
    unknown caller."""
    await hotline.service.agents.login("agent1", ["hotline"])
    await hotline.service.agents.pause("agent1", "break")
    await hotline.service.snapshot.refresh()
    ch = await arrived(hotline)
    # Time passes while the product is down: reconcile judges only rows begun before it
    # asks (the row was found at once, on the very tick of the restart, now and then).
    await hotline.sim.advance(1)
    await close_harness(hotline)
    hotline.sim.model.spawn(hotline.sim.dialplan.hotline.entry(ch))
    queue = hotline.sim.queues.queues["hotline"]
    async with asyncio.timeout(WAIT):  # the script runs (real time)
        while not queue.callers:
            await hotline.sim.advance(0.1)
            await asyncio.sleep(0.01)
    assert ch.variables["CALLCENTER_ROUTED_BY"] == "fallback"
    again = await open_harness(hotline.sim, hotline_settings(settings, hotline.sim, tmp_path),
                               sessions, tmp_path / "second")
    try:
        row = await again.row_with(ch.linkedid, "queued_at")
        assert (row.caller_kind, row.elder_id, row.queue) == ("elder", seeded.elder_id, "hotline")
        assert row.details["routed_by"] == "fallback"
        followed = again.service.tracker.by_id(ch.linkedid)
        assert followed is not None and followed.elder_id == seeded.elder_id
        await again.service.agents.unpause("agent1")
        answered_row = await answered(again, ch.linkedid)
        assert (answered_row.agent, answered_row.caller_kind) == ("agent1", "elder")
        assert len(await again.calls()) == 1
    finally:
        await close_harness(again)


async def test_a_call_heard_of_on_arrival_before_a_restart_is_not_its_own_repeat_caller(
        hotline: HotlineHarness, settings: Settings, sessions: SessionFactory,
        tmp_path: Path) -> None:
    """The product restarts during the greeting; the route that follows leaves the call's
    own arrival row out of the repeat-caller check (it is the same call, not a second)."""
    await hotline.service.agents.login("agent1", ["hotline"])
    ch = await arrived(hotline)
    await hotline.sim.advance(1)  # the restart takes time (as above)
    await close_harness(hotline)
    again = await open_harness(hotline.sim, hotline_settings(settings, hotline.sim, tmp_path),
                               sessions, tmp_path / "second")
    try:
        await again.until(lambda: _followed(again, ch.linkedid))
        hotline.sim.model.spawn(hotline.sim.dialplan.hotline.entry(ch))
        row = await answered(again, ch.linkedid)
        assert (row.priority, row.details["reason"], row.caller_kind) == (0, "", "elder")
        assert len(await again.calls()) == 1
    finally:
        await close_harness(again)


async def _followed(hotline: HotlineHarness, call_id: str) -> bool:
    """Whether the product waits for ``call_id`` to reach a queue (taken back at its start)."""
    return any(c.id == call_id for c in hotline.service.tracker.expected.values())


async def test_a_call_the_fallback_routed_while_the_product_was_down_frees_its_agent_at_the_end(
        hotline: HotlineHarness, settings: Settings, sessions: SessionFactory,
        tmp_path: Path, seeded: Seeded) -> None:
    channel = await answered_while_down(hotline)
    call_id = hotline.linkedid(channel)
    again = await open_harness(hotline.sim, hotline_settings(settings, hotline.sim, tmp_path),
                               sessions, tmp_path / "second")
    cdrs: list[AmiEvent] = []

    async def heard(event: AmiEvent) -> None:
        cdrs.append(event)

    again.cluster.on_ami("Cdr", heard)
    try:
        await again.wait_state("agent1", "in_call")  # as Asterisk reports it (QueueStatus)
        await again.advance(3, timers=False)
        again.hang_up(channel)
        # No resync: the call's end alone frees the agent, into the queue's wrap-up (5 s).
        await again.wait_state("agent1", "wrapup")
        await again.advance(5, timers=False)
        await again.wait_state("agent1", "idle")
        # Taken up as live at the start: one row with the elder, the agent, who routed it.
        row = await ended(again, call_id)
        assert (row.agent, row.elder_id, row.queue) == ("agent1", seeded.elder_id, "hotline")
        assert row.details["routed_by"] == "fallback" and row.details["adopted"] is True
        assert (row.outcome, row.wrapup_seconds) == ("answered", 5)
        assert row.talk_seconds >= 5 and row.wait_seconds >= 1
        assert row.started_at <= row.answered_at <= row.ended_at
        # Asterisk's CDR of the call: had nobody taken it up, the row it makes after its
        # grace period (recordings/cdr.py); now it adds nothing.
        heard_cdrs = await again.until(lambda: [c for c in cdrs if c.get("UniqueID") == call_id])
        headers = {k: str(v) for k, v in heard_cdrs[0].headers.items()}
        from_cdr = call_from_cdr(headers, ZoneInfo(settings.time_zone))
        assert from_cdr is not None and (from_cdr.id, from_cdr.kind) == (call_id, "hotline")
        assert await CdrReconciler(sessions, settings.time_zone).add([headers]) == 0
        assert len(await again.calls()) == 1
    finally:
        await close_harness(again)


async def test_a_caller_the_fallback_queued_while_the_product_was_down_is_followed_waiting(
        hotline: HotlineHarness, settings: Settings, sessions: SessionFactory,
        tmp_path: Path, seeded: Seeded) -> None:
    """Never heard of (the product was down from before the call came), routed by the
    classic script, still waiting when the product is back: followed from its QueueStatus
    entry, so that its abandon is recorded and called back (on a real Asterisk 22.10.1
    it had no row, no callback, and a CDR row later called it answered)."""
    await hotline.service.agents.login("agent1", ["hotline"])
    await hotline.service.agents.pause("agent1", "break")
    await hotline.service.snapshot.refresh()
    await close_harness(hotline)
    ch = hotline.sim.model.new_channel(f"PJSIP/trunk-{next(_TRUNKS):08x}", "PJSIP", state="Up",
                                       context="hotline-entry", exten="12349",
                                       caller=CallerId(number=ELDER_PHONE))
    await hotline.sim.advance(5)  # a long greeting: the caller is older than their wait
    hotline.sim.model.spawn(hotline.sim.dialplan.hotline.entry(ch))
    channel, call_id = ch.id, ch.linkedid
    queue = hotline.sim.queues.queues["hotline"]
    async with asyncio.timeout(WAIT):  # the script runs (real time)
        while not queue.callers:
            await hotline.sim.advance(0.1)
            await asyncio.sleep(0.01)
    await hotline.sim.advance(4)
    again = await open_harness(hotline.sim, hotline_settings(settings, hotline.sim, tmp_path),
                               sessions, tmp_path / "second")
    try:
        row = await again.row_with(call_id, "queued_at")
        assert (row.caller_kind, row.elder_id, row.queue) == ("elder", seeded.elder_id, "hotline")
        assert row.details["routed_by"] == "fallback" and row.caller_number == ELDER_PHONE
        assert row.called_number == "12349"  # the hotline's number, as any hotline call's
        # It began when its channel did (CoreShowChannel's Duration, whole seconds), before
        # it joined the queue.
        created = datetime.fromtimestamp(ch.created, UTC)
        assert timedelta(0) <= row.started_at - created < timedelta(seconds=1)
        assert row.queued_at - row.started_at >= timedelta(seconds=4)
        await again.advance(30, timers=False)
        again.hang_up(channel)
        ended_row = await ended(again, call_id)
        assert ended_row.outcome == "abandoned" and ended_row.wait_seconds >= 30
        assert [e.call_id for e in await again.until(lambda: callbacks_count(again, 1))] == [
            call_id]
        assert len(await again.calls()) == 1
    finally:
        await close_harness(again)


async def test_a_talking_caller_whose_id_has_a_row_already_is_not_taken_up(
        hotline: HotlineHarness, settings: Settings, sessions: SessionFactory,
        tmp_path: Path, seeded: Seeded) -> None:
    channel = await answered_while_down(hotline)
    call_id = hotline.linkedid(channel)
    # A row of that id that ended (say the caller stayed in Queue() after a transfer).
    await hotline.service.store.save_call(call_id, kind="hotline", direction="inbound",
                                          caller_number=ELDER_PHONE, outcome="transferred",
                                          started_at=sim_now(hotline.sim),
                                          ended_at=sim_now(hotline.sim))
    again = await open_harness(hotline.sim, hotline_settings(settings, hotline.sim, tmp_path),
                               sessions, tmp_path / "second")
    try:
        await again.wait_state("agent1", "in_call")
        assert again.service.tracker.live == {}
        again.hang_up(channel)
        await again.wait_state("agent1", "wrapup")  # freed all the same
        row = await again.call_row(call_id)
        assert row is not None and row.outcome == "transferred" and row.agent is None
        assert len(await again.calls()) == 1
    finally:
        await close_harness(again)


async def test_a_call_heard_of_on_arrival_and_answered_while_the_product_was_down_is_taken_up(
        hotline: HotlineHarness, settings: Settings, sessions: SessionFactory,
        tmp_path: Path, seeded: Seeded) -> None:
    """Its open row (written as the caller arrived, before the product went down) never
    saw the queue: the restart takes the call up under that row, not as an abandon."""
    channel = await answered_while_down(hotline)
    call_id = hotline.linkedid(channel)
    await hotline.service.store.save_call(call_id, kind="hotline", direction="inbound",
                                          caller_number=ELDER_PHONE, queue="hotline",
                                          started_at=sim_now(hotline.sim) - timedelta(seconds=3),
                                          details={"uniqueid": channel})
    again = await open_harness(hotline.sim, hotline_settings(settings, hotline.sim, tmp_path),
                               sessions, tmp_path / "second")
    try:
        await again.wait_state("agent1", "in_call")
        await again.advance(3, timers=False)
        again.hang_up(channel)
        row = await ended(again, call_id)
        assert (row.outcome, row.agent, row.elder_id) == ("answered", "agent1", seeded.elder_id)
        assert row.details["routed_by"] == "fallback" and row.details["adopted"] is True
        assert await again.callbacks() == [] and len(await again.calls()) == 1
    finally:
        await close_harness(again)


class _SlowListing:
    """The AMI client as reconcile uses it, whose channel listing waits for the test."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.answer = asyncio.Event()

    async def queue_status(self) -> list[AmiEvent]:
        return []

    async def core_show_channels(self) -> list[AmiEvent]:
        self.asked.set()
        await self.answer.wait()
        return []  # taken before the new call existed


async def test_a_call_routed_while_asterisk_lists_its_channels_is_not_closed_as_abandoned(
    hotline: HotlineHarness,
) -> None:
    """Reconciling (at every AMI connect) judges the calls Asterisk was asked about, not
    one routed while the answer was on its way: that call was closed as a short abandon,
    called back, and its answer then belonged to no call (seen with a call placed as the
    product's AMI connected)."""
    listing = _SlowListing()
    reconciling = asyncio.ensure_future(reconcile(hotline.service.tracker, listing))  # type: ignore[arg-type]
    async with asyncio.timeout(WAIT):
        await listing.asked.wait()
    channel = hotline.call_in(ELDER_PHONE)
    call_id = hotline.linkedid(channel)
    await hotline.row_with(call_id, "queued_at")
    listing.answer.set()
    async with asyncio.timeout(WAIT):
        await reconciling
    row = await hotline.call_row(call_id)
    assert row is not None and row.ended_at is None and row.outcome is None
    async with hotline.sessions() as session:
        assert (await session.execute(select(Callback))).first() is None
