"""Shared pieces of the scheduler's tests: a hand-moved clock and schedulers over the store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callcenter.bus import MemoryBus
from callcenter.journal import Journal
from callcenter.scheduler import Scheduler
from callcenter.store.engine import SessionFactory

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


MakeScheduler = Callable[..., Scheduler]


@pytest.fixture
async def make_scheduler(
    sessions: SessionFactory, tmp_path: Path
) -> AsyncIterator[MakeScheduler]:
    """Schedulers over the test store, each with its own journal; closed after the test."""
    made: list[Scheduler] = []

    def make(session_factory: SessionFactory | None = None, **kwargs: object) -> Scheduler:
        journal = Journal(tmp_path / f"journal-{len(made)}", session_factory or sessions)
        kwargs.setdefault("clock", Clock())
        scheduler = Scheduler(session_factory or sessions, journal, kwargs.pop("bus", MemoryBus()),
                              **kwargs)  # type: ignore[arg-type]
        made.append(scheduler)
        return scheduler

    yield make
    for scheduler in made:
        await scheduler.close()


async def run_pass(scheduler: Scheduler) -> None:
    await scheduler.run_due()
    await scheduler.drain()
