"""Direct reads (the SOS identification's connections): the same rows on either store, and
a connection the server dropped while it sat idle is replaced, not a failed read."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import bindparam, select, text

from ari_apps.sos.directory import warm_identify
from callcenter.store import create_engine
from callcenter.store.direct import DirectStatements, Reader, touching
from callcenter.store.engine import Prebuilt
from callcenter.store.models import Area

_AREA = Prebuilt(select(Area.code, Area.name).where(Area.code == bindparam("code")))


async def _seed(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(Area.__table__.insert().values(
                code="120104", name="南开区", level="district", path="/120104/"))
    finally:
        await engine.dispose()


async def _area(reads: DirectStatements) -> list[tuple[Any, ...]]:
    async def read(db: Reader) -> list[tuple[Any, ...]]:
        return [tuple(row.values()) for row in await db.fetch(_AREA, {"code": "120104"})]

    return await reads.run(read)


async def test_direct_reads_return_the_rows_on_either_store(database_url: str) -> None:
    await _seed(database_url)
    engine = create_engine(database_url, read_only=True)
    reads = DirectStatements(engine)
    try:
        await reads.warm()
        assert await _area(reads) == [("120104", "南开区")]
        assert reads.direct is (engine.dialect.name == "postgresql")
    finally:
        await reads.close()
        await engine.dispose()


async def test_a_connection_dropped_while_idle_is_replaced_for_the_next_read(
    database_url: str,
) -> None:
    engine = create_engine(database_url, read_only=True)
    if engine.dialect.name != "postgresql":
        await engine.dispose()
        return  # SQLite: the engine's own connections (ReadLease), tested with it
    await _seed(database_url)
    reads = DirectStatements(engine, size=1)
    try:
        assert await _area(reads) == [("120104", "南开区")]
        held = await reads.run(lambda db: db._conn.fetchval("SELECT pg_backend_pid()"))  # type: ignore[attr-defined]  # noqa: SLF001
        async with engine.connect() as admin:  # the server ends the idle connection
            await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": held})
        assert await _area(reads) == [("120104", "南开区")]
    finally:
        await reads.close()
        await engine.dispose()


async def test_warming_with_reads_prepares_them_on_every_connection_of_the_pool(
    database_url: str,
) -> None:
    """A start's warm-up: the first calls' reads find their statements prepared on whichever
    connection they get (the first hotline call after a start popped in 20-45 ms)."""
    engine = create_engine(database_url, read_only=True)
    if engine.dialect.name != "postgresql":
        await engine.dispose()
        return  # SQLite: no pool of the driver's own, nothing prepared ahead
    reads = DirectStatements(engine, size=2)
    sql = _AREA.driver_query(engine.dialect, {"code": ""})[0]
    both_held = asyncio.Barrier(2)

    async def prepared_here(db: Reader) -> tuple[int, int]:
        conn = db._conn  # type: ignore[attr-defined]  # noqa: SLF001 - the driver's own
        found = await conn.fetchval(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", sql)
        async with asyncio.timeout(5):
            await both_held.wait()  # two reads at once: two connections
        return await conn.fetchval("SELECT pg_backend_pid()"), found

    try:
        await reads.warm(lambda db: db.fetch(_AREA, {"code": "none"}))
        seen = await asyncio.gather(reads.run(prepared_here), reads.run(prepared_here))
        assert len({pid for pid, _ in seen}) == 2
        assert [found for _, found in seen] == [1, 1]
    finally:
        await reads.close()
        await engine.dispose()


async def test_the_sos_identifications_warm_up_runs_on_either_store(database_url: str) -> None:
    """A warm-up that fails is only logged at a start: a broken one would go unseen."""
    engine = create_engine(database_url, read_only=True)
    reads = DirectStatements(engine)
    try:
        await reads.run(warm_identify)
    finally:
        await reads.close()
        await engine.dispose()


async def test_a_tables_warm_up_read_finds_nothing_on_either_store(database_url: str) -> None:
    await _seed(database_url)
    engine = create_engine(database_url, read_only=True)
    reads = DirectStatements(engine)
    try:
        assert not await reads.run(touching(Area.__table__))
    finally:
        await reads.close()
        await engine.dispose()


def test_a_read_whose_connection_ended_mid_read_counts_as_dropped_even_once_released() -> None:
    """Seen in CI: the server ended the connection during the read, and asyncpg had already
    given the proxy back to its pool, whose ``is_closed()`` then raises; the read is still
    one to retry on a fresh connection, not an error of its own."""
    import asyncpg

    from callcenter.store.direct import _dropped

    class Released:
        def is_closed(self) -> bool:
            raise asyncpg.InterfaceError("cannot call Connection.is_closed(): connection has "
                                         "been released back to the pool")

    class Open:
        def is_closed(self) -> bool:
            return False

    ended = asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the "
                                                           "middle of operation")
    assert _dropped(ended, Released()) and _dropped(ended, Open())
    assert _dropped(RuntimeError("boom"), Released())  # released: its connection is gone
    assert not _dropped(asyncpg.exceptions.UndefinedTableError("no such table"), Open())
