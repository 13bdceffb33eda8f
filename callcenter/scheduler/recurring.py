"""Jobs that run once a day at a local time: the retention sweep, care plans, housekeeping.

Each day's run is a durable timer keyed by its local date, so a restart neither repeats a
day nor loses one: a run missed while no process was up is claimed late, once. A run arms
the next day's timer before it does its work, so a run that fails (and ends ``failed``
after its retries) does not break the chain.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from callcenter.scheduler.records import Timer
from callcenter.scheduler.service import Clock, Scheduler
from callcenter.settings import Settings
from callcenter.store.models import utcnow

DailyRun = Callable[[datetime], Awaitable[None]]
PRUNE_KIND = "scheduler.prune"
PRUNE_AT = time(3, 30)  # local time, when the night is quiet


@dataclass(frozen=True)
class DailyJob:
    """A timer kind run every day at ``at``, local time in ``zone``."""

    kind: str
    at: time
    zone: ZoneInfo

    def next_after(self, moment: datetime) -> datetime:
        """The first run strictly after ``moment`` (aware, in UTC)."""
        day = moment.astimezone(self.zone).date()
        while True:
            run = datetime.combine(day, self.at, tzinfo=self.zone)
            if run > moment:
                return run.astimezone(ZoneInfo("UTC"))
            day += timedelta(days=1)

    def key(self, run: datetime) -> str:
        """A run's timer key: its local date."""
        return run.astimezone(self.zone).date().isoformat()


def every_day(scheduler: Scheduler, job: DailyJob, run: DailyRun, *,
              clock: Clock = utcnow) -> None:
    """Run ``run(due_at)`` every day in this process's scheduler (one process per day wins)."""

    async def handler(timer: Timer) -> None:
        upcoming = job.next_after(max(timer.due_at, clock()))
        await scheduler.schedule(job.kind, job.key(upcoming), upcoming)
        await run(timer.due_at)

    scheduler.register(job.kind, handler)
    upcoming = job.next_after(clock())
    scheduler.ensure_nowait(job.kind, job.key(upcoming), upcoming)


def prune_every_day(scheduler: Scheduler, settings: Settings, *, clock: Clock = utcnow) -> None:
    """Delete finished timers older than ``SCHEDULER_KEEP_DAYS``, once a day."""
    keep = timedelta(days=settings.scheduler_keep_days)

    async def prune(due_at: datetime) -> None:
        await scheduler.prune(due_at - keep)

    every_day(scheduler, DailyJob(PRUNE_KIND, PRUNE_AT, ZoneInfo(settings.time_zone)), prune,
              clock=clock)
