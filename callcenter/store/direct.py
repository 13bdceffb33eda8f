"""Prebuilt statements for a call's critical path, on connections held for it between calls.

An SOS's identification is on the elder's time (the roles are rung once it answers): on
PostgreSQL it runs on a small pool of the driver's own (asyncpg) connections to the
engine's database, kept open however long they sit idle, with no SQLAlchemy checkout,
greenlet switch and return per read (about a millisecond of the event loop per SOS) and
no reset round trip (only prebuilt reads run on them: no session state to undo). Other
dialects (SQLite, embedded) read through the engine's own connections. The same
connections serve the few idempotent writes of that path (a call's row, a pop's row), each
one statement committed on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import FromClause, exc, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callcenter.logs import get_logger
from callcenter.store.engine import Prebuilt, ReadLease

log = get_logger(__name__)
T = TypeVar("T")
#: Connections of a direct pool: a read holds one for well under a millisecond, so two
#: serve hundreds of presses a second; fewer connections left for the rest of the product.
DIRECT_POOL_SIZE = 2


class Reader(Protocol):
    """What a prebuilt read runs on: a connection that returns rows as mappings."""

    async def fetch(self, prebuilt: Prebuilt, params: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
        """The rows of ``prebuilt`` for ``params``."""
        ...


class EngineReader:
    """A :class:`Reader` on a connection of the engine (a lease's, a request's)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def fetch(self, prebuilt: Prebuilt, params: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
        return await prebuilt.fetch(self._conn, params)


class _DriverReader:
    def __init__(self, conn: Any, dialect: Dialect) -> None:
        self._conn = conn
        self._dialect = dialect

    async def fetch(self, prebuilt: Prebuilt, params: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
        sql, values = prebuilt.driver_query(self._dialect, params)
        rows: Sequence[Mapping[str, Any]] = await self._conn.fetch(sql, *values)
        return rows


async def _nothing_to_reset(_conn: object) -> None:
    """Only prebuilt reads, and writes of one statement each, run on these connections:
    no transaction or session state is ever left to undo."""


def _dropped(err: Exception, conn: Any) -> bool:
    """Whether a read failed because its connection went away (not because of the read)."""
    import asyncpg  # PostgreSQL only, as the pool

    if isinstance(err, asyncpg.PostgresConnectionError | asyncpg.exceptions.AdminShutdownError
                  | OSError):
        return True
    if conn is None:  # the connection is gone with its pool's checkout: what the error says
        return isinstance(err, asyncpg.InterfaceError) and "closed" in str(err)
    try:
        return bool(conn.is_closed())
    except asyncpg.InterfaceError:
        return True  # released already: the pool saw its connection end


class DirectStatements:
    """Prebuilt reads and idempotent one-statement writes on connections of their own
    (PostgreSQL), else on the engine's."""

    def __init__(self, engine: AsyncEngine, size: int = DIRECT_POOL_SIZE) -> None:
        self._engine = engine
        self._size = size
        self._pool: Any = None
        self._opening: asyncio.Lock | None = None

    @property
    def direct(self) -> bool:
        """True when reads bypass SQLAlchemy (PostgreSQL)."""
        return self._engine.dialect.name == "postgresql"

    @property
    def dialect(self) -> Dialect:
        return self._engine.dialect

    async def run(self, read: Callable[[Reader], Awaitable[T]]) -> T:
        """``read`` (idempotent) on a connection; once more on a fresh one if it was dropped
        (the store restarted, the network cut it while it sat idle)."""
        if not self.direct:
            async with ReadLease(self._engine) as lease:
                return await lease.run(lambda conn: read(EngineReader(conn)))
        return await self._on_driver(lambda conn: read(_DriverReader(conn, self.dialect)))

    async def execute(self, sql: str, values: Sequence[Any]) -> str:
        """One idempotent statement (a write, committed on its own) on a direct connection
        (PostgreSQL only); its status (``UPDATE 1``). A connection dropped twice over is
        raised as a disconnection: the store is away."""
        status: str = await self._driver_call(lambda conn: conn.execute(sql, *values))
        return status

    async def fetch(self, sql: str, values: Sequence[Any]) -> Sequence[Mapping[str, Any]]:
        """The rows of one idempotent statement (a write with ``RETURNING``, committed on
        its own) on a direct connection (PostgreSQL only); dropped twice over: as
        :meth:`execute`."""
        return await self._driver_call(lambda conn: conn.fetch(sql, *values))

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """One idempotent statement for each of ``rows``, pipelined, all or none (PostgreSQL
        only); dropped twice over: as :meth:`execute`."""
        await self._driver_call(lambda conn: conn.executemany(sql, rows))

    async def _driver_call(self, act: Callable[[Any], Awaitable[T]]) -> T:
        try:
            return await self._on_driver(act)
        except Exception as err:
            if _dropped(err, None):
                raise exc.DisconnectionError(f"direct connection lost: {err!r}") from err
            raise

    async def _on_driver(self, act: Callable[[Any], Awaitable[T]]) -> T:
        pool = await self._open()
        async with pool.acquire() as conn:
            try:
                return await act(conn)
            except Exception as err:
                if not _dropped(err, conn):
                    raise
        # The dead connection went back (the pool replaces a closed one on its next use).
        async with pool.acquire() as conn:
            return await act(conn)

    async def warm(self, *reads: Callable[[Reader], Awaitable[object]]) -> None:
        """Open every connection of the pool now, before the first calls need them, and run
        ``reads`` once on each: their statements compiled and prepared on each connection,
        and the server's caches of the tables they read filled, before a caller's read
        needs them (the first hotline call after a start popped in 20-45 ms instead of
        under one; a connection opened under load forks a server process then). Failures
        are only logged: the first read tries again."""
        async def each(reader: Reader) -> None:
            await _touch(reader)
            for read in reads:
                await read(reader)

        # Concurrent runs: each holds a connection of its own while the others run.
        runs = self._size if self.direct else 1
        for outcome in await asyncio.gather(*(self.run(each) for _ in range(runs)),
                                            return_exceptions=True):
            if isinstance(outcome, Exception):
                log.warning("direct read connection not opened", error=repr(outcome))

    async def close(self) -> None:
        """Close the pool's connections (those in use once they are given back)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                async with asyncio.timeout(5):
                    await pool.close()
            except TimeoutError:
                pool.terminate()

    async def _open(self) -> Any:
        if self._pool is not None:
            return self._pool
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._pool is None:
                import asyncpg  # PostgreSQL only: SQLite installs never import it

                url = self._engine.url
                # One connection is opened here and kept (min_size 1), so that the first
                # call's read does not wait for a connection of its own (seen taking over
                # the identification's 2 s once in CI). A store that is down fails this
                # open, and so the read that needed it, as any read; the next one tries again.
                self._pool = await asyncpg.create_pool(
                    host=url.host, port=url.port, user=url.username, password=url.password,
                    database=url.database, min_size=1, max_size=self._size,
                    max_inactive_connection_lifetime=0, reset=_nothing_to_reset,
                )
        return self._pool


def touching(table: FromClause) -> Callable[[Reader], Awaitable[object]]:
    """A warm-up read of ``table`` that returns nothing, for :meth:`DirectStatements.warm`
    of connections that write it: the server learns the table and its indexes on each."""
    read = Prebuilt(select(*table.primary_key).limit(0))
    return lambda reader: reader.fetch(read, {})


async def _touch(reader: Reader) -> None:
    if isinstance(reader, _DriverReader):
        await reader._conn.fetchval("SELECT 1")  # noqa: SLF001 - this module's own reader
