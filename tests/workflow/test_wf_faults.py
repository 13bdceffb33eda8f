"""Deadlines that survive a restart and fire exactly when due; two people at once; the
database going away in the middle of a move."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from callcenter import audit
from callcenter.bus import MemoryBus
from callcenter.journal import Journal
from callcenter.scheduler import ScheduledTimer, Scheduler
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from callcenter.store.models import AuditEntry
from tests.support.tcp_proxy import proxied_store
from tests.workflow.conftest import Clock, Directory
from workflow import services
from workflow.casebook import Casebook
from workflow.deadlines import DeadlineTimers
from workflow.exceptions import VersionConflict
from workflow.kinds import COMPLAINTS, CONSULTS, WORKORDERS
from workflow.machines import Actor
from workflow.models import CaseEvent, Supervision, WorkOrder
from workflow.schemas import CaseCreate


@pytest.fixture
async def restarted(sessions: SessionFactory, clock: Clock, tmp_path: Path
                    ) -> AsyncIterator[tuple[Scheduler, MemoryBus]]:
    """A process started after the cases were opened: its own scheduler runs their timers."""
    bus = MemoryBus()
    scheduler = Scheduler(sessions, Journal(tmp_path / "journal", sessions), bus, clock=clock)
    DeadlineTimers(sessions, bus, clock).register(scheduler)
    yield scheduler, bus
    await scheduler.close()


async def _pass(scheduler: Scheduler) -> None:
    await scheduler.run_due()
    await scheduler.drain()


async def _supervisions(sessions: SessionFactory) -> list[tuple[str, str]]:
    async with sessions() as db:
        rows = await db.execute(select(Supervision.case_number, Supervision.reason).order_by(Supervision.id))
        return [(n, r) for n, r in rows]


async def test_deadline_timers_survive_a_restart_and_escalate_exactly_at_expiry(
    casebook: Casebook, directory: Directory, agent: Actor, clock: Clock,
    sessions: SessionFactory, restarted: tuple[Scheduler, MemoryBus],
) -> None:
    order = await casebook.create(WORKORDERS, CaseCreate(title="助浴", elder_id=directory.elder_id), agent)
    waiting = await casebook.create(WORKORDERS, CaseCreate(title="维修", elder_id=directory.elder_id), agent)
    await casebook.move(WORKORDERS, waiting.id, "reject_review", 1, {"reason": "地址不全"}, agent)
    assert order.due_at is not None
    scheduler, bus = restarted
    subscription = await bus.subscribe("workflow.*")

    clock.now = order.due_at - timedelta(hours=25)  # before the warning
    await _pass(scheduler)
    assert await _supervisions(sessions) == []
    clock.now = order.due_at - timedelta(hours=24)  # the warning, 24 h before
    await _pass(scheduler)
    async with asyncio.timeout(5):
        warned = await anext(aiter(subscription))
    assert warned.topic == "workflow.deadline_warning" and warned.payload["number"] == order.number
    assert warned.audience["area_path"] == directory.path_c1
    clock.now = order.due_at - timedelta(microseconds=1)
    await _pass(scheduler)
    assert await _supervisions(sessions) == []  # not a moment early
    clock.now = order.due_at
    await _pass(scheduler)
    assert await _supervisions(sessions) == [(order.number, "overdue")]  # the waiting one: not
    async with asyncio.timeout(5):
        overdue = await anext(aiter(subscription))
    assert overdue.topic == "workflow.overdue"
    clock.now += timedelta(days=3)
    await _pass(scheduler)
    assert await _supervisions(sessions) == [(order.number, "overdue")]  # once
    view = await casebook.view(WORKORDERS, order.id, agent)
    assert [e.action for e in view.timeline] == ["create", "deadline.warning", "deadline.escalated", "supervision"]
    await subscription.close()


async def test_a_closed_case_escalates_nothing(
    casebook: Casebook, directory: Directory, agent: Actor, supervisor: Actor, clock: Clock,
    sessions: SessionFactory, restarted: tuple[Scheduler, MemoryBus],
) -> None:
    complaint = await casebook.create(COMPLAINTS, CaseCreate(title="投诉", elder_id=directory.elder_id), agent)
    await casebook.move(COMPLAINTS, complaint.id, "answer_now", 1, {"reply": "已解释"}, agent)
    await casebook.move(COMPLAINTS, complaint.id, "close", 2, {"valid": "yes"}, supervisor)
    assert complaint.due_at is not None
    clock.now = complaint.due_at + timedelta(days=1)
    await _pass(restarted[0])
    assert await _supervisions(sessions) == []


async def _waiting_on_a_lock(sessions: SessionFactory, pid: int) -> None:
    """Until the backend ``pid`` waits for a lock another transaction holds."""
    async with asyncio.timeout(10), sessions() as db:
        while not (await db.execute(text(  # noqa: ASYNC110 - PostgreSQL's locks send no event
                "SELECT count(*) FROM pg_locks WHERE pid = :pid AND NOT granted"),
                {"pid": pid})).scalar_one():
            await asyncio.sleep(0.01)


async def test_two_people_at_once_one_wins_the_other_gets_a_conflict(
    database_url: str, casebook: Casebook, directory: Directory, agent: Actor, clock: Clock,
    settings: Settings,
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks under concurrent transactions: PostgreSQL")
    order = await casebook.create(WORKORDERS, CaseCreate(title="助餐", elder_id=directory.elder_id), agent)
    ctx = services.Context(settings, await casebook.calendar(), casebook.zone, clock.now)
    sessions = casebook.sessions
    async with sessions() as first, sessions() as second:
        await first.begin()
        await second.begin()
        rival_pid = (await second.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        # Both read version 1; the first moves it and holds the row until it commits.
        await services.transition(first, WORKORDERS, order.id, "review", 1,
                                  {"service_type": "meals"}, agent, ctx)
        rival = asyncio.create_task(services.transition(
            second, WORKORDERS, order.id, "reject_review", 1, {"reason": "描述不清"}, agent, ctx))
        await _waiting_on_a_lock(sessions, rival_pid)  # the rival waits on the row
        assert not rival.done()
        await first.commit()
        with pytest.raises(VersionConflict):
            async with asyncio.timeout(10):
                await rival
        await second.rollback()
    async with sessions() as db:
        row = await db.get(WorkOrder, order.id)
        assert row is not None and (row.status, row.version) == ("reviewed", 2)
        events = (await db.execute(select(CaseEvent.action).where(CaseEvent.case_id == order.id))).scalars().all()
        assert events == ["create", "review"]


async def test_many_concurrent_moves_on_one_case_have_exactly_one_winner(
    casebook: Casebook, directory: Directory, agent: Actor,
) -> None:
    order = await casebook.create(WORKORDERS, CaseCreate(title="助餐", elder_id=directory.elder_id), agent)
    results = await asyncio.gather(*[
        casebook.move(WORKORDERS, order.id, "review", 1, {"service_type": "meals"}, agent)
        for _ in range(6)], return_exceptions=True)
    winners = [r for r in results if isinstance(r, WorkOrder)]
    assert len(winners) == 1
    assert all(isinstance(r, VersionConflict) for r in results if r not in winners)


async def test_the_database_going_away_mid_move_leaves_nothing_half_done(
    database_url: str, casebook: Casebook, directory: Directory, agent: Actor,
    sessions: SessionFactory, settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("a network cut to the server: PostgreSQL")
    order = await casebook.create(WORKORDERS, CaseCreate(title="助浴", elder_id=directory.elder_id), agent)
    async with proxied_store(database_url) as store:
        proxy = store.proxy
        cut_book = Casebook(store.sessions, settings, MemoryBus(), None, casebook.clock)
        record = audit.record

        async def cut_then_record(*args: object, **kwargs: object) -> object:
            await proxy.cut()  # the UPDATE is sent; the connection dies before the audit row
            return await record(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(services.audit, "record", cut_then_record)
        try:
            with pytest.raises(Exception) as failed:
                await cut_book.move(WORKORDERS, order.id, "review", 1, {"service_type": "meals"}, agent)
            assert not isinstance(failed.value, VersionConflict)
        finally:
            monkeypatch.setattr(services.audit, "record", record)
            await proxy.restore()
    async with sessions() as db:
        row = await db.get(WorkOrder, order.id)
        assert row is not None and (row.status, row.version) == ("accepted", 1)
        assert (await db.execute(select(func.count()).select_from(CaseEvent)
                                 .where(CaseEvent.action == "review"))).scalar_one() == 0
        assert (await db.execute(select(func.count()).select_from(AuditEntry)
                                 .where(AuditEntry.action == "work_order.review"))).scalar_one() == 0
        timers = (await db.execute(select(ScheduledTimer.state).where(
            ScheduledTimer.key.startswith(f"workorder:{order.id}:")))).scalars().all()
        assert set(timers) == {"pending"}
    # Once it is back, the same move goes through.
    moved = await casebook.move(WORKORDERS, order.id, "review", 1, {"service_type": "meals"}, agent)
    assert moved.version == 2


async def test_an_answered_consult_stops_its_clock(
    casebook: Casebook, agent: Actor, clock: Clock, sessions: SessionFactory,
    restarted: tuple[Scheduler, MemoryBus],
) -> None:
    consult = await casebook.create(CONSULTS, CaseCreate(title="补贴怎么申请"), agent)
    await casebook.move(CONSULTS, consult.id, "answer", 1, {"answer": "到社区服务站申请"}, agent)
    assert consult.due_at is not None
    clock.now = consult.due_at + timedelta(hours=1)  # answered, never closed: not overdue
    await _pass(restarted[0])
    assert await _supervisions(sessions) == []
