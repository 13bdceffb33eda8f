"""Daily jobs on the durable scheduler, and the nightly prune of finished timers."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from callcenter.scheduler import ScheduledTimer, Scheduler, TimerState
from callcenter.scheduler.recurring import DailyJob, every_day
from callcenter.store.engine import SessionFactory
from tests.core.conftest import Clock, MakeScheduler, run_pass

SHANGHAI = ZoneInfo("Asia/Shanghai")
JOB = DailyJob("retention.sweep", time(3, 30), SHANGHAI)
# 03:00 on 1 December 2026 in Shanghai: half an hour before the day's run.
BEFORE_RUN = datetime(2026, 11, 30, 19, 0, tzinfo=UTC)
RUN = datetime(2026, 11, 30, 19, 30, tzinfo=UTC)


class DailyRuns:
    """Records the due time of each run; ``failing`` makes a run raise."""

    def __init__(self, failing: bool = False) -> None:
        self.due: list[datetime] = []
        self.failing = failing

    async def __call__(self, due_at: datetime) -> None:
        self.due.append(due_at)
        if self.failing:
            raise RuntimeError("the sweep broke")


async def _rows(sessions: SessionFactory, kind: str) -> dict[str, str]:
    async with sessions() as db:
        rows = (await db.execute(select(ScheduledTimer).where(ScheduledTimer.kind == kind)))
        return {row.key: row.state for row in rows.scalars()}


def _daily(make: MakeScheduler, at: datetime, runs: DailyRuns,
           **kwargs: object) -> tuple[Scheduler, Clock]:
    clock = Clock()
    clock.now = at
    scheduler = make(clock=clock, **kwargs)
    every_day(scheduler, JOB, runs, clock=clock)
    return scheduler, clock


def test_the_next_run_is_the_local_time_strictly_after_the_moment() -> None:
    assert JOB.next_after(BEFORE_RUN) == RUN
    assert JOB.next_after(RUN) == RUN + timedelta(days=1)
    assert JOB.next_after(RUN - timedelta(microseconds=1)) == RUN
    assert JOB.key(RUN) == "2026-12-01"  # the local date, not the UTC one (30 November)


async def test_a_daily_job_runs_once_a_day_and_arms_the_next_day_first(
    make_scheduler: MakeScheduler, sessions: SessionFactory
) -> None:
    runs = DailyRuns()
    scheduler, clock = _daily(make_scheduler, BEFORE_RUN, runs)
    await run_pass(scheduler)
    assert runs.due == []
    assert await _rows(sessions, JOB.kind) == {"2026-12-01": TimerState.PENDING.value}

    clock.now = RUN + timedelta(minutes=1)
    await run_pass(scheduler)
    assert runs.due == [RUN]
    assert await _rows(sessions, JOB.kind) == {
        "2026-12-01": TimerState.DONE.value, "2026-12-02": TimerState.PENDING.value}


async def test_a_restart_after_the_days_run_neither_repeats_it_nor_loses_tomorrow(
    make_scheduler: MakeScheduler, sessions: SessionFactory
) -> None:
    first = DailyRuns()
    before, clock = _daily(make_scheduler, BEFORE_RUN, first)
    await run_pass(before)
    clock.now = RUN + timedelta(minutes=1)
    await run_pass(before)
    await before.close()

    again = DailyRuns()
    after, clock = _daily(make_scheduler, RUN + timedelta(minutes=2), again)
    await run_pass(after)
    assert (first.due, again.due) == ([RUN], [])
    assert await _rows(sessions, JOB.kind) == {
        "2026-12-01": TimerState.DONE.value, "2026-12-02": TimerState.PENDING.value}


async def test_a_day_missed_while_nothing_ran_runs_once_late(
    make_scheduler: MakeScheduler, sessions: SessionFactory
) -> None:
    armed, clock = _daily(make_scheduler, BEFORE_RUN, DailyRuns())
    await run_pass(armed)
    await armed.close()  # down from 03:00 until the next afternoon

    runs = DailyRuns()
    late, clock = _daily(make_scheduler, RUN + timedelta(hours=12), runs)
    await run_pass(late)
    assert runs.due == [RUN]
    assert await _rows(sessions, JOB.kind) == {
        "2026-12-01": TimerState.DONE.value, "2026-12-02": TimerState.PENDING.value}


async def test_a_failing_run_still_leaves_the_next_day_armed(
    make_scheduler: MakeScheduler, sessions: SessionFactory
) -> None:
    runs = DailyRuns(failing=True)
    scheduler, clock = _daily(make_scheduler, BEFORE_RUN, runs, max_attempts=1)
    await run_pass(scheduler)
    clock.now = RUN + timedelta(minutes=1)
    await run_pass(scheduler)
    assert runs.due == [RUN]
    assert await _rows(sessions, JOB.kind) == {
        "2026-12-01": TimerState.FAILED.value, "2026-12-02": TimerState.PENDING.value}


async def test_prune_deletes_only_timers_that_finished_before_the_cutoff(
    make_scheduler: MakeScheduler, sessions: SessionFactory
) -> None:
    cutoff = datetime(2026, 11, 1, tzinfo=UTC)
    old, recent = cutoff - timedelta(days=1), cutoff + timedelta(days=1)
    async with sessions.begin() as db:
        for key, state, updated in [
            ("done-old", TimerState.DONE, old), ("failed-old", TimerState.FAILED, old),
            ("cancelled-old", TimerState.CANCELLED, old), ("done-recent", TimerState.DONE, recent),
            ("pending-old", TimerState.PENDING, old), ("running-old", TimerState.RUNNING, old),
        ]:
            db.add(ScheduledTimer(kind="care.call", key=key, due_at=old, payload={},
                                  state=state.value, requested_at=old, created_at=old,
                                  updated_at=updated))
    assert await make_scheduler().prune(cutoff) == 3
    assert await _rows(sessions, "care.call") == {
        "done-recent": "done", "pending-old": "pending", "running-old": "running"}
