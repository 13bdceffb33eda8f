"""A second scheduler process for the exactly-once test: runs timers until told to stop.

Usage: python -m tests.core.scheduler_worker DATABASE_URL JOURNAL_DIR
Each run inserts (key, owner) into ``scheduler_test_runs``. It prints "ready" once its
loop runs, and stops (printing how many timers it ran) when stdin closes.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sqlalchemy import text

from callcenter.bus import MemoryBus
from callcenter.journal import Journal
from callcenter.scheduler import Scheduler, Timer
from callcenter.store import create_engine, session_factory

KIND = "test.exactly-once"


def side_effect(sessions_owner: tuple[object, str]) -> object:
    """The handler: one row per run, in its own transaction."""
    sessions, owner = sessions_owner

    async def run(timer: Timer) -> None:
        await asyncio.sleep(0)  # let the other process's claims interleave
        async with sessions.begin() as db:  # type: ignore[attr-defined]
            await db.execute(text("INSERT INTO scheduler_test_runs (key, owner) VALUES (:k, :o)"),
                             {"k": timer.key, "o": owner})

    return run


async def main(url: str, journal_dir: str) -> None:
    engine = create_engine(url)
    sessions = session_factory(engine)
    scheduler = Scheduler(sessions, Journal(Path(journal_dir), sessions), MemoryBus(),
                          poll_seconds=0.01, batch_size=3)
    runs = 0
    handler = side_effect((sessions, scheduler.owner))

    async def counted(timer: Timer) -> None:
        nonlocal runs
        await handler(timer)  # type: ignore[operator]
        runs += 1

    scheduler.register(KIND, counted)
    scheduler.start()
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.read)  # until the test closes our stdin
    await scheduler.close()
    await engine.dispose()
    print(runs, flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
