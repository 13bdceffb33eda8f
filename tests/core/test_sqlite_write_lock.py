"""SQLite's write lock: a transaction cut off by a cancellation (a timeout, a shutdown)
never keeps it from the writers that come after."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select, text
from sqlalchemy.sql import column, table

from callcenter.store import create_engine, session_factory

_MARKS = table("marks", column("id"))


async def test_a_transaction_cancelled_in_a_read_leaves_the_write_lock_free(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    sessions = session_factory(engine)

    async def write(mark: int) -> None:
        async with sessions.begin() as session:  # BEGIN IMMEDIATE: the write lock
            await session.execute(_MARKS.insert().values(id=mark))

    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE marks (id INTEGER PRIMARY KEY)"))
        await write(1)
        reading = asyncio.Event()

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _read_sent(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if statement.startswith("SELECT"):
                reading.set()

        async def read_then_write() -> None:
            async with sessions.begin() as session:
                await session.execute(select(_MARKS.c.id))
                await session.execute(_MARKS.insert().values(id=3))

        cut_off = asyncio.get_running_loop().create_task(read_then_write())
        await reading.wait()  # its SELECT is in the driver's thread
        cut_off.cancel()
        await asyncio.gather(cut_off, return_exceptions=True)
        # The cancelled task (kept, as a caller or a log record keeps it) holds the
        # cursor of its SELECT, its rows never fetched, until the garbage collector runs.

        await write(2)  # with the lock kept: busy_timeout waited out, "database is locked"

        async with sessions() as session:
            assert await session.scalar(select(func.count()).select_from(_MARKS)) == 2
        assert cut_off.cancelled()
    finally:
        await engine.dispose()
