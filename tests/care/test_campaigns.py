"""A day's campaign: quiet hours, the elder's own hours, pacing, surges, a restart."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from ari_apps.care.exceptions import QuietHours
from ari_apps.care.models import CareHours, CarePlan, CareTask, TaskState
from ari_apps.care.services import WATCH_KIND, layout_day, local_day
from callcenter.bus import BusMessage
from callcenter.calls.models import Call
from callcenter.pbxsim.server import PbxSimulator
from callcenter.scheduler import Timer
from callcenter.scheduler.models import ScheduledTimer
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from tests.care.conftest import (
    ALL_PHONES,
    ELDER_PHONE,
    CareHarness,
    Elders,
    care_settings,
    close_care,
    open_care,
    restarted_mid_way,
)


def _hhmm(care: CareHarness, minutes: float) -> str:
    zone = ZoneInfo(care.settings.time_zone)
    return (care.now() + timedelta(minutes=minutes)).astimezone(zone).strftime("%H:%M")


async def _plan_all(care: CareHarness, at_minutes: float) -> list[str]:
    """A daily wellbeing plan for every seeded elder, due ``at_minutes`` from now; laid out."""
    at = _hhmm(care, at_minutes)
    async with care.sessions.begin() as session:
        for n, elder_id in enumerate([care.elders.wang[1], *care.elders.ids.values()]):
            session.add(CarePlan(code=f"W-{n}", elder_id=elder_id, kind="wellbeing",
                                 repeat="daily", at_time=at))
    await layout_day(care.sessions, care.settings, local_day(care.settings, care.now()))
    async with care.sessions() as session:
        return list((await session.execute(select(CareTask.id))).scalars())


async def test_quiet_hours_hold_a_plan_until_they_end(
    sim: PbxSimulator, settings: Settings, sessions: SessionFactory, elders: Elders,
    tmp_path: Path,
) -> None:
    zone = ZoneInfo(settings.time_zone)
    start = sim.clock.now()
    from tests.sos.conftest import sim_now

    now = sim_now(sim).astimezone(zone)
    quiet = f"{(now - timedelta(minutes=30)):%H:%M}-{(now + timedelta(minutes=40)):%H:%M}"
    care = await open_care(sim, care_settings(settings, sim, care_quiet_hours=quiet), sessions,
                           elders, tmp_path)
    try:
        care.person(ELDER_PHONE, ring=5, dtmf="1", dtmf_after=3)
        async with care.sessions.begin() as session:
            plan = CarePlan(code="W-Q", elder_id=care.elders.wang[1], kind="wellbeing",
                            repeat="daily", at_time=_hhmm(care, 10))
            session.add(plan)
        await layout_day(care.sessions, care.settings, local_day(care.settings, care.now()),
                         plan_ids=[plan.id])
        async with care.sessions() as session:
            task = (await session.execute(select(CareTask))).scalar_one()
        quiet_end = (now + timedelta(minutes=40)).replace(second=0, microsecond=0)
        assert task.due_at == quiet_end.astimezone(ZoneInfo("UTC"))
        try:
            await care.call_now()
        except QuietHours as err:
            assert "quiet hours" in err.message
        else:
            raise AssertionError("a call placed by hand in the quiet hours is refused")
        await care.advance(30 * 60, step=60)
        assert care.originated(ELDER_PHONE) == [], "nobody is called in the quiet hours"
        await care.until(lambda: care.done(task.id), limit=1200, step=20)
        answered = (await care.calls_of(task.id))[0].started_at
        assert answered >= quiet_end.astimezone(ZoneInfo("UTC"))
        assert sim.clock.now() - start >= 40 * 60 - 60
    finally:
        await close_care(care)


async def test_the_elders_own_hours_move_the_call(care: CareHarness) -> None:
    zone = ZoneInfo(care.settings.time_zone)
    own_start = (care.now() + timedelta(hours=2)).astimezone(zone).replace(second=0,
                                                                          microsecond=0)
    async with care.sessions.begin() as session:
        session.add(CareHours(elder_id=care.elders.wang[1], start=f"{own_start:%H:%M}",
                              end=f"{own_start + timedelta(hours=1):%H:%M}"))
        plan = CarePlan(code="W-O", elder_id=care.elders.wang[1], kind="wellbeing",
                        repeat="daily", at_time=_hhmm(care, 5))
        session.add(plan)
    await layout_day(care.sessions, care.settings, local_day(care.settings, care.now()),
                     plan_ids=[plan.id])
    async with care.sessions() as session:
        task = (await session.execute(select(CareTask))).scalar_one()
    assert task.due_at == own_start.astimezone(ZoneInfo("UTC"))


async def test_pacing_holds_calls_to_the_trunk_limit_and_pauses_under_an_sos_surge(
    sim: PbxSimulator, settings: Settings, sessions: SessionFactory, elders: Elders,
    tmp_path: Path,
) -> None:
    care = await open_care(sim, care_settings(settings, sim, care_max_per_trunk=2,
                                              care_calls_per_second=1.0), sessions, elders,
                           tmp_path)
    try:
        numbers = [ELDER_PHONE, *(f"1390000200{n}" for n in range(6))]
        for number in numbers:
            care.person(number, ring=20, dtmf="1", dtmf_after=5)
        tasks = await _plan_all(care, 1)
        most = 0
        surge_at: int | None = None
        for second in range(400):
            await care.advance(1)
            most = max(most, len(care.app.dialler.active))
            if second == 70 and surge_at is None:
                surge_at = len(care.dialled)
                await care.bus.publish(BusMessage("sos.started", {"id": "inc1"}))
                await care.advance(1)
                held = len(care.dialled)
                await care.advance(120, step=5)
                assert len(care.dialled) == held, "nothing new is dialled during an SOS"
                assert care.app.dialler.surge == "sos:1"
                await care.bus.publish(BusMessage("sos.ended", {"id": "inc1"}))
            if all([await care.done(t) for t in tasks]):
                break
        assert most == 2, "at most two care calls at once on the trunk"
        assert surge_at is not None and 0 < surge_at < len(numbers)
        for task in tasks:
            assert (await care.task(task)).result == "answered_well"
        for number in numbers:
            assert len(care.originated(number)) == 1
    finally:
        await close_care(care)


async def test_a_restart_mid_campaign_calls_nobody_twice_and_forgets_nobody(
    sim: PbxSimulator, settings: Settings, sessions: SessionFactory, elders: Elders,
    tmp_path: Path,
) -> None:
    second, tasks = await restarted_mid_way(sim, settings, sessions, elders, tmp_path,
                                             lambda first: _plan_all(first, 1))
    try:
        for task in tasks:
            await second.until(lambda t=task: second.done(t), limit=900, step=5)
        for task in tasks:
            found = await second.task(task)
            assert found.result == "answered_well", (task, found.result, found.reason)
        for task in tasks:
            calls = await second.calls_of(task)
            assert len(calls) == 1, [(c.id, c.disposition, c.details) for c in calls]
        for number in ALL_PHONES:
            assert len(second.originated(number)) == 1, number
    finally:
        await close_care(second)


async def test_the_watch_on_a_call_another_running_process_holds_moves_on_in_the_store(
    care: CareHarness,
) -> None:
    # Right after a restart the stopped process's heartbeats are still fresh. Its watch
    # moves on through the scheduler's writer, which on SQLite needs the write lock: a
    # watch that waited for it inside its own read (BEGIN IMMEDIATE holds that lock) kept
    # every writer out until the 30 s busy timeout, then the move went to the journal.
    task_id = await care.call_now()
    now = care.now()
    async with care.sessions.begin() as session:
        await session.execute(update(CareTask).where(CareTask.id == task_id).values(
            state=TaskState.QUEUED.value, owner="elsewhere:1:running", heartbeat_at=now))
    key = f"{task_id}:1"

    await care.app.timers.on_watch(Timer(WATCH_KIND, key, now, {}, 1, now))

    assert care.journal.backlog() == 0, "the watch's move went to the journal, not the store"
    async with care.sessions() as session:
        moved = (await session.execute(select(ScheduledTimer).where(
            ScheduledTimer.kind == WATCH_KIND, ScheduledTimer.key == key))).scalar_one()
    assert moved.due_at == now + timedelta(seconds=care.settings.care_watch_seconds)
    assert (moved.state, moved.claimed_by) == ("pending", None)
    assert not care.app.dialler.holds(task_id, 1), "the running process's call, not ours"


async def test_elders_living_alone_or_disabled_get_a_default_daily_wellbeing_call(
    care: CareHarness,
) -> None:
    day = local_day(care.settings, care.now())
    await layout_day(care.sessions, care.settings, day)
    async with care.sessions() as session:
        plans = list((await session.execute(select(CarePlan))).scalars())
        tasks = list((await session.execute(select(CareTask))).scalars())
    assert len(plans) == 7  # 王秀英 lives alone, the six others are disabled
    assert {(p.kind, p.repeat, p.at_time, p.source) for p in plans} == {
        ("wellbeing", "daily", care.settings.care_default_time, "default")}
    assert {t.id for t in tasks} == {f"p{p.id}-{day:%Y%m%d}" for p in plans}
    await layout_day(care.sessions, care.settings, day)  # a second run changes nothing
    async with care.sessions() as session:
        assert len(list((await session.execute(select(CareTask))).scalars())) == 7


async def _calling(care: CareHarness, task_id: str) -> bool:
    return (await care.task(task_id)).state == TaskState.CALLING.value


async def test_an_attempt_its_process_wrote_but_never_dialled_is_dialled_as_that_attempt(
    sim: PbxSimulator, settings: Settings, sessions: SessionFactory, elders: Elders,
    tmp_path: Path,
) -> None:
    # The process stops between writing the attempt and Asterisk taking its originate
    # (here the request never gets through). Counted as a call "lost with the process",
    # the attempt was used up: a failed call that never rang, and the elder was called on
    # the next attempt, after the retry delay.
    tuned = care_settings(settings, sim)
    first = await open_care(sim, tuned, sessions, elders, tmp_path)
    first.person(ELDER_PHONE, ring=3, dtmf="1", dtmf_after=2)
    never = asyncio.Event()

    async def stuck(*_args: object, **_kw: object) -> None:
        await never.wait()

    first.client.channels.originate = stuck  # type: ignore[method-assign]
    task_id = await first.call_now()
    await first.until(lambda: _calling(first, task_id), limit=60)  # its calls row written
    await close_care(first)
    second = await open_care(sim, tuned, sessions, elders, tmp_path)
    try:
        await second.until(lambda: second.done(task_id), limit=300)
        found = await second.task(task_id)
        assert (found.result, found.attempts) == ("answered_well", 1)
        calls = await second.calls_of(task_id)
        assert [(c.id, c.disposition) for c in calls] == [(f"care-{task_id}-1", "answered_well")]
        assert second.originated(ELDER_PHONE) == [f"care-{task_id}-1"]
        assert "call.not_dialled" in await second.timeline(elders.wang[1])
    finally:
        await close_care(second)


async def test_a_dialled_attempt_that_vanished_with_its_process_counts_as_failed(
    sim: PbxSimulator, settings: Settings, sessions: SessionFactory, elders: Elders,
    tmp_path: Path,
) -> None:
    # Asterisk took the originate; the call was gone (here hung up) by the time a second
    # process looked. Whether it rang or was answered is unknown: that attempt failed, and
    # the next one follows after the retry delay.
    tuned = care_settings(settings, sim, care_retry_delays=[60.0])
    first = await open_care(sim, tuned, sessions, elders, tmp_path)
    first.person(ELDER_PHONE, ring=100)
    task_id = await first.call_now()
    ident = f"care-{task_id}-1"

    async def dialled() -> bool:
        async with sessions() as session:
            row = await session.get(Call, ident)
            return row is not None and row.dialled_at is not None

    # The store writes on real time: waited for in small simulated steps, well inside
    # the 60 s ring (30 one-second steps ran out before the write under a busy machine).
    async with asyncio.timeout(30):
        while not await dialled():
            await first.advance(0.1, step=0.1)
            await asyncio.sleep(0.01)
    await close_care(first)
    sim.calls.hangup(sim.model.channels[ident], 16)
    first.person(ELDER_PHONE, ring=3, dtmf="1", dtmf_after=2)
    second = await open_care(sim, tuned, sessions, elders, tmp_path)
    try:
        await second.until(lambda: second.done(task_id), limit=300)
        calls = await second.calls_of(task_id)
        assert [(c.id, c.disposition) for c in calls] == [
            (ident, "failed"), (f"care-{task_id}-2", "answered_well")]
        assert calls[0].details["reason"] == "the call was lost with the process that placed it"
    finally:
        await close_care(second)
