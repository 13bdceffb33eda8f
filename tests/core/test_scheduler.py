"""The durable scheduler on SQLite and PostgreSQL: late timers, retries, moves, outages."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from callcenter.bus import BusMessage, MemoryBus
from callcenter.scheduler import (
    FAILED_TOPIC,
    InvalidTimer,
    ScheduledTimer,
    Scheduler,
    Timer,
    TimerState,
)
from callcenter.store.engine import SessionFactory
from tests.core.conftest import T0, Clock, MakeScheduler, run_pass
from tests.support.tcp_proxy import TcpProxy, proxied_store


class Runs:
    """A handler that records each run; ``failing`` makes it raise."""

    def __init__(self, failing: bool = False) -> None:
        self.timers: list[Timer] = []
        self.failing = failing
        self.ran = asyncio.Event()

    async def __call__(self, timer: Timer) -> None:
        self.timers.append(timer)
        self.ran.set()
        if self.failing:
            raise RuntimeError(f"handler broke on {timer.key}")

    @property
    def keys(self) -> list[str]:
        return [t.key for t in self.timers]


async def _row(sessions: SessionFactory, kind: str, key: str) -> ScheduledTimer | None:
    async with sessions() as db:
        return (await db.execute(select(ScheduledTimer).where(
            ScheduledTimer.kind == kind, ScheduledTimer.key == key))).scalar_one_or_none()


async def test_a_timer_due_while_no_process_ran_fires_once_after_start(
    make_scheduler: MakeScheduler, sessions: SessionFactory
) -> None:
    before = make_scheduler()
    await before.schedule("care.call", "elder-7", T0 - timedelta(hours=3), {"elder_id": 7})
    await before.close()  # that process ended before the timer was due

    runs = Runs()
    after = make_scheduler(poll_seconds=0.05)
    after.register("care.call", runs)
    after.start()
    async with asyncio.timeout(10):
        await runs.ran.wait()
    await after.drain()
    await run_pass(after)  # later passes do not run it again
    assert runs.keys == ["elder-7"]
    assert runs.timers[0].payload == {"elder_id": 7} and runs.timers[0].attempt == 1
    row = await _row(sessions, "care.call", "elder-7")
    assert row is not None and row.state == TimerState.DONE and row.claimed_by is None


async def test_a_failing_timer_is_retried_then_marked_failed_and_reported(
    make_scheduler: MakeScheduler, sessions: SessionFactory
) -> None:
    bus = MemoryBus()
    failures = await bus.subscribe("scheduler.*")
    runs = Runs(failing=True)
    scheduler = make_scheduler(bus=bus, max_attempts=3, retry_seconds=0)
    scheduler.register("sla.check", runs)
    await scheduler.schedule("sla.check", "case-1", T0)

    await run_pass(scheduler)
    row = await _row(sessions, "sla.check", "case-1")
    assert row is not None and row.state == TimerState.PENDING and row.attempts == 1
    assert row.last_error == "RuntimeError: handler broke on case-1"
    await run_pass(scheduler)
    await run_pass(scheduler)
    await run_pass(scheduler)  # no fourth attempt
    assert [t.attempt for t in runs.timers] == [1, 2, 3]
    row = await _row(sessions, "sla.check", "case-1")
    assert row is not None and row.state == TimerState.FAILED and row.attempts == 3
    async with asyncio.timeout(5):
        message = await anext(aiter(failures))
    assert message == BusMessage(FAILED_TOPIC, {
        "kind": "sla.check", "key": "case-1", "attempts": 3, "due_at": T0.isoformat(),
        "error": "RuntimeError: handler broke on case-1"}, {"roles": ["admin"]})


async def test_the_retry_waits_for_its_backoff(
    make_scheduler: MakeScheduler, sessions: SessionFactory
) -> None:
    clock = Clock()
    runs = Runs(failing=True)
    scheduler = make_scheduler(clock=clock, retry_seconds=30)
    scheduler.register("sla.check", runs)
    await scheduler.schedule("sla.check", "case-2", T0)
    await run_pass(scheduler)
    await run_pass(scheduler)
    assert len(runs.timers) == 1
    row = await _row(sessions, "sla.check", "case-2")
    assert row is not None and row.due_at == T0 + timedelta(seconds=30)
    clock.now += timedelta(seconds=30)
    await run_pass(scheduler)
    assert [t.attempt for t in runs.timers] == [1, 2]


async def test_scheduling_the_same_kind_and_key_again_moves_the_one_timer(
    make_scheduler: MakeScheduler, sessions: SessionFactory
) -> None:
    clock = Clock()
    runs = Runs()
    scheduler = make_scheduler(clock=clock)
    scheduler.register("sos.escalate", runs)
    await scheduler.schedule("sos.escalate", "inc-1", T0 + timedelta(seconds=20), {"step": 1})
    await scheduler.schedule("sos.escalate", "inc-1", T0 + timedelta(seconds=40), {"step": 2})
    async with sessions() as db:
        rows = (await db.execute(select(ScheduledTimer))).scalars().all()
    assert [(r.key, r.due_at, r.payload) for r in rows] == [
        ("inc-1", T0 + timedelta(seconds=40), {"step": 2})]
    clock.now = T0 + timedelta(seconds=20)
    await run_pass(scheduler)
    assert runs.timers == []
    clock.now = T0 + timedelta(seconds=40)
    await run_pass(scheduler)
    await run_pass(scheduler)
    assert [(t.key, t.payload) for t in runs.timers] == [("inc-1", {"step": 2})]


async def test_a_cancelled_timer_never_fires(
    make_scheduler: MakeScheduler, sessions: SessionFactory
) -> None:
    runs = Runs()
    scheduler = make_scheduler()
    scheduler.register("sos.escalate", runs)
    await scheduler.schedule("sos.escalate", "inc-2", T0 - timedelta(seconds=1))
    await scheduler.cancel("sos.escalate", "inc-2")
    await scheduler.cancel("sos.escalate", "never-scheduled")
    await run_pass(scheduler)
    assert runs.timers == []
    row = await _row(sessions, "sos.escalate", "inc-2")
    assert row is not None and row.state == TimerState.CANCELLED


async def test_bad_requests_are_refused_and_change_nothing(
    make_scheduler: MakeScheduler, sessions: SessionFactory
) -> None:
    scheduler = make_scheduler()
    with pytest.raises(InvalidTimer):
        await scheduler.schedule("k", "key", datetime(2025, 3, 3, 8, 0))  # naive
    with pytest.raises(InvalidTimer):
        await scheduler.schedule("", "key", T0)
    with pytest.raises(InvalidTimer):
        await scheduler.schedule("k", "x" * 201, T0)
    with pytest.raises(InvalidTimer):
        await scheduler.schedule("k", "key", T0, {"at": T0})  # not JSON
    assert await scheduler.timers() == []


async def test_an_earlier_timer_wakes_the_sleeping_loop(make_scheduler: MakeScheduler) -> None:
    runs = Runs()
    # A poll longer than the test's timeout: only the wake-up can make the timer run.
    scheduler = make_scheduler(clock=lambda: datetime.now(UTC), poll_seconds=60)
    scheduler.register("care.call", runs)
    scheduler.start()
    await scheduler.schedule("care.call", "later", datetime.now(UTC) + timedelta(hours=1))
    await scheduler.schedule("care.call", "now", datetime.now(UTC))
    async with asyncio.timeout(10):
        await runs.ran.wait()
    assert runs.keys == ["now"]


async def test_an_expired_lease_is_claimed_again(
    make_scheduler: MakeScheduler, sessions: SessionFactory
) -> None:
    clock = Clock()
    dead = make_scheduler(clock=clock, lease_seconds=60)
    dead.register("care.call", Runs())
    await dead.schedule("care.call", "elder-9", T0)
    async with sessions.begin() as db:  # a process claimed it, then died mid-run
        from callcenter.scheduler.records import claim_due

        await claim_due(db, kinds=["care.call"], owner="dead", now=T0,
                        lease=timedelta(seconds=60), limit=10, max_attempts=5)
    runs = Runs()
    alive = make_scheduler(clock=clock)
    alive.register("care.call", runs)
    await run_pass(alive)
    assert runs.timers == []  # the claim still holds
    clock.now += timedelta(seconds=60)
    await run_pass(alive)
    assert [(t.key, t.attempt) for t in runs.timers] == [("elder-9", 2)]
    row = await _row(sessions, "care.call", "elder-9")
    assert row is not None and row.state == TimerState.DONE


@pytest.fixture
async def proxied_sessions(database_url: str) -> AsyncIterator[tuple[TcpProxy, SessionFactory]]:
    """The store reached through a TCP proxy the test can cut (PostgreSQL only)."""
    async with proxied_store(database_url, pool_pre_ping=False) as store:
        yield store.proxy, store.sessions


@dataclass
class Outage:
    """A scheduler whose store the test can cut, with its clock and handler."""

    proxy: TcpProxy
    scheduler: Scheduler
    clock: Clock
    runs: Runs


@pytest.fixture
def outage(make_scheduler: MakeScheduler,
           proxied_sessions: tuple[TcpProxy, SessionFactory]) -> Outage:
    proxy, through_proxy = proxied_sessions
    clock = Clock()
    runs = Runs()
    scheduler = make_scheduler(through_proxy, clock=clock, db_timeout=2)
    scheduler.register("sos.escalate", runs)
    return Outage(proxy, scheduler, clock, runs)


async def test_a_timer_scheduled_while_the_store_is_down_is_written_later_and_fires(
    outage: Outage, sessions: SessionFactory
) -> None:
    proxy, scheduler, clock, runs = outage.proxy, outage.scheduler, outage.clock, outage.runs
    await proxy.cut()
    await scheduler.schedule("sos.escalate", "inc-3", T0 + timedelta(seconds=20))
    scheduler.schedule_nowait("sos.escalate", "inc-4", T0 + timedelta(seconds=20))
    scheduler.cancel_nowait("sos.escalate", "inc-4")
    await scheduler.drain()  # journaled
    await proxy.restore()
    await run_pass(scheduler)  # replays the journal before claiming
    row = await _row(sessions, "sos.escalate", "inc-3")
    assert row is not None and row.state == TimerState.PENDING
    assert runs.timers == []
    clock.now = T0 + timedelta(seconds=20)
    await run_pass(scheduler)
    await run_pass(scheduler)
    assert runs.keys == ["inc-3"]
    row = await _row(sessions, "sos.escalate", "inc-3")
    assert row is not None and row.state == TimerState.DONE
    row = await _row(sessions, "sos.escalate", "inc-4")
    assert row is not None and row.state == TimerState.CANCELLED


async def test_a_timer_due_while_the_store_is_down_fires_from_memory_once(
    outage: Outage, sessions: SessionFactory
) -> None:
    proxy, scheduler, clock, runs = outage.proxy, outage.scheduler, outage.clock, outage.runs
    await scheduler.schedule("sos.escalate", "inc-5", T0 + timedelta(seconds=20))  # stored
    await proxy.cut()
    clock.now = T0 + timedelta(seconds=20)
    await run_pass(scheduler)  # the store is down: it fires from memory
    assert runs.keys == ["inc-5"]
    await proxy.restore()
    await run_pass(scheduler)
    await run_pass(scheduler)
    assert runs.keys == ["inc-5"]  # not again from the store
    row = await _row(sessions, "sos.escalate", "inc-5")
    assert row is not None and row.state == TimerState.DONE and row.attempts == 1


async def test_two_processes_never_run_the_same_timer_twice(
    database_url: str, make_scheduler: MakeScheduler, sessions: SessionFactory, tmp_path: Path
) -> None:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("several processes share the store on PostgreSQL only")
    from tests.core.scheduler_worker import KIND, side_effect

    async with sessions.begin() as db:
        await db.execute(text("CREATE TABLE IF NOT EXISTS scheduler_test_runs "
                              "(key text NOT NULL, owner text NOT NULL)"))
    count = 300
    here = make_scheduler(clock=lambda: datetime.now(UTC), batch_size=3)
    here.register(KIND, side_effect((sessions, here.owner)))  # type: ignore[arg-type]
    for n in range(count):
        here.schedule_nowait(KIND, f"t{n:03d}", T0)  # all due: both processes race for them
    await here.drain()

    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.core.scheduler_worker", database_url,
        str(tmp_path / "worker-journal"),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert worker.stdin is not None and worker.stdout is not None
    try:
        async with asyncio.timeout(60):
            assert (await worker.stdout.readline()).strip() == b"ready"
            while await _runs_total(sessions) < count:
                await run_pass(here)  # this process claims too, while the worker does
    finally:
        worker.stdin.close()
        async with asyncio.timeout(30):
            output, _ = await worker.communicate()
    async with sessions() as db:
        per_key = dict((await db.execute(text(
            "SELECT key, count(*) FROM scheduler_test_runs GROUP BY key"))).all())
        states = (await db.execute(text("SELECT DISTINCT state FROM timers"))).scalars().all()
    assert len(per_key) == count and set(per_key.values()) == {1}
    assert states == ["done"]
    worker_runs = int(output.split()[-1])
    assert 0 < worker_runs < count, "both processes should have run some timers"


async def _runs_total(sessions: SessionFactory) -> int:
    async with sessions() as db:
        return int((await db.execute(text("SELECT count(*) FROM scheduler_test_runs"))).scalar_one())
