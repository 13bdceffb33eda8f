"""A process start lays out only the gap since today's last layout, and a missed day."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, func, select

from ari_apps.care.models import CareLayout, CarePlan, CareTask
from ari_apps.care.services import CALL_KIND, layout_day, local_day
from callcenter.pbxsim.server import PbxSimulator
from callcenter.scheduler.models import ScheduledTimer
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from tests.care.conftest import (
    ELDER_PHONE,
    CareHarness,
    Elders,
    care_settings,
    close_care,
    open_care,
)
from tests.care.test_campaigns import _hhmm, _plan_all


async def _counts(care: CareHarness) -> tuple[int, int]:
    async with care.sessions() as session:
        tasks = (await session.execute(select(func.count()).select_from(CareTask))).scalar_one()
        timers = (await session.execute(select(func.count()).select_from(ScheduledTimer)
                                        .where(ScheduledTimer.kind == CALL_KIND))).scalar_one()
    return tasks, timers


async def test_a_restart_after_the_days_layout_reads_only_plans_changed_since(
    sim: PbxSimulator, settings: Settings, sessions: SessionFactory, elders: Elders,
    tmp_path: Path,
) -> None:
    tuned = care_settings(settings, sim)
    first = await open_care(sim, tuned, sessions, elders, tmp_path)
    tasks = await _plan_all(first, 30)  # the day's layout (the daily job's): marked
    await close_care(first)
    assert len(tasks) == 7
    probe = tasks[0]
    async with sessions.begin() as session:  # a full re-layout would bring it back
        await session.execute(delete(ScheduledTimer).where(ScheduledTimer.key == f"{probe}:1"))
        await session.execute(delete(CareTask).where(CareTask.id == probe))

    second = await open_care(sim, tuned, sessions, elders, tmp_path)
    try:
        started = await second.app.catch_up_today()
        assert started is not None and not started.full, "the fast path: only the gap"
        assert started.calls == 0
        assert await _counts(second) == (6, 6), "nothing laid out again"
        async with sessions.begin() as session:  # a plan stored while no process ran
            plan = CarePlan(code="W-late", elder_id=second.elders.wang[1], kind="medication",
                            medicine="降压药", repeat="daily", at_time=_hhmm(second, 40))
            session.add(plan)
    finally:
        await close_care(second)

    third = await open_care(sim, tuned, sessions, elders, tmp_path)
    try:
        started = await third.app.catch_up_today()
        assert started is not None and not started.full and started.calls == 1
        assert await _counts(third) == (7, 7)
        assert (await third.task(f"p{plan.id}-{local_day(tuned, third.now()):%Y%m%d}")
                ).kind == "medication"
        third.person(ELDER_PHONE, ring=2, dtmf="1", dtmf_after=2)
        for n in range(6):
            third.person(f"1390000200{n}", ring=2, dtmf="1", dtmf_after=2)
        remaining = [t for t in tasks if t != probe]
        for task in remaining:
            await third.until(lambda t=task: third.done(t), limit=3600, step=30)
        for task in remaining:
            assert len(await third.calls_of(task)) == 1, "nobody called twice"
    finally:
        await close_care(third)


async def test_a_day_missed_while_no_process_ran_is_laid_out_at_start(
    care: CareHarness,
) -> None:
    at = _hhmm(care, 30)
    async with care.sessions.begin() as session:
        for n, elder_id in enumerate([care.elders.wang[1], *care.elders.ids.values()]):
            session.add(CarePlan(code=f"W-{n}", elder_id=elder_id, kind="wellbeing",
                                 repeat="daily", at_time=at))
    today = local_day(care.settings, care.now())
    yesterday = today - timedelta(days=1)
    await layout_day(care.sessions, care.settings, yesterday)  # the last day laid out

    started = await care.app.catch_up_today()

    assert started is not None and started.full and started.calls == 7
    async with care.sessions() as session:
        days = dict((await session.execute(
            select(CareTask.local_date, func.count()).group_by(CareTask.local_date))).all())
        marks = set((await session.execute(select(CareLayout.local_date))).scalars())
    assert days == {yesterday: 7, today: 7}
    assert marks == {yesterday, today}
    again = await care.app.catch_up_today()
    assert again is not None and not again.full and again.calls == 0
