"""The async engine and session factory for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import event, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql import ClauseElement, CompoundSelect, Select
from sqlalchemy.sql.compiler import SQLCompiler

SessionFactory = async_sessionmaker[AsyncSession]
T = TypeVar("T")
#: Connections per PostgreSQL pool, never more: an overflow connection is opened and closed
#: again under every burst (a backend fork each), and more connections than cores only
#: queue inside PostgreSQL. A few product processes stay well inside max_connections (100).
POOL_SIZE = 12
READ_POOL_SIZE = 4


def create_engine(url: str, *, read_only: bool = False, **kwargs: Any) -> AsyncEngine:
    """An engine for ``url`` tuned for this product's load.

    ``read_only`` engines serve look-ups that must not queue behind writes: on SQLite
    their transactions take no write lock; on PostgreSQL they have a pool of their own.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        _tune_sqlite(engine, "DEFERRED" if read_only else "IMMEDIATE")
        return engine
    kwargs.setdefault("pool_size", READ_POOL_SIZE if read_only else POOL_SIZE)
    kwargs.setdefault("max_overflow", 0)
    engine = create_async_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _drop_closed_on_checkout(engine)
    return engine


def _drop_closed_on_checkout(engine: AsyncEngine) -> None:
    # Instead of pool_pre_ping (BEGIN; ';'; ROLLBACK: three round trips per checkout), a
    # local look at the socket: a connection the server or the network closed while it sat
    # in the pool is replaced before anyone uses it. A drop not yet noticed surfaces as a
    # disconnect error, which invalidates the whole pool; ReadLease.run retries it once.
    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        is_closed = getattr(driver, "is_closed", None)
        if is_closed is not None and is_closed():
            raise exc.DisconnectionError("the pooled connection was closed")


def is_dropped(err: BaseException) -> bool:
    """True for the error of a connection that was dropped (the pool has discarded it)."""
    return isinstance(err, exc.DBAPIError) and err.connection_invalidated


class ReadLease:
    """At most one pooled read connection for a unit of work (say a request), taken on first use.

    Reads run through :meth:`run`: a read that finds its connection dropped (the store
    restarted, the network cut it) is retried once on a fresh one, after the dead one went
    back, so that retries never wait on a pool their own dead connections fill.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None

    async def connection(self) -> AsyncConnection:
        """The lease's connection, checked out now if not yet.

        :class:`Prebuilt` reads run outside any transaction on PostgreSQL (each statement
        its own snapshot at READ COMMITTED, no BEGIN/ROLLBACK round trips); a Core statement
        on the lease opens a transaction that ends when the lease is released. SQLite keeps
        its transaction: the engine's BEGIN recipe needs the driver mode untouched.
        """
        if self._conn is None:
            conn = self._engine.connect()
            await conn.start()
            self._conn = conn
        return self._conn

    async def run(self, read: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """``read`` (idempotent) on the lease's connection; once more on a fresh one if dropped."""
        try:
            return await read(await self.connection())
        except exc.DBAPIError as err:
            if not is_dropped(err):
                raise
        await self.release()
        return await read(await self.connection())

    async def release(self) -> None:
        """Give the connection back to the pool (a no-op when none was taken)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def __aenter__(self) -> ReadLease:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.release()


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """A Core statement compiled once for the driver (asyncpg's positional ``$n``): its
    text, its parameters' names in order, and the statement's own constants."""

    text: str
    names: tuple[str, ...]
    constants: dict[str, Any]

    @classmethod
    def compile(cls, statement: ClauseElement, dialect: Dialect) -> DriverStatement:
        # Literal-execute values (a LIKE prefix a pattern index needs) go into the text.
        compiled = cast(SQLCompiler, statement.compile(
            dialect=dialect, compile_kwargs={"render_postcompile": True}))
        # The statement's own constants (a LIMIT, a compared value) are bound too.
        return cls(str(compiled), tuple(compiled.positiontup or ()), dict(compiled.params))

    def values(self, params: Mapping[str, Any]) -> list[Any]:
        """The positional values for ``params``."""
        merged = {**self.constants, **params}
        return [merged[name] for name in self.names]


class Prebuilt:
    """A Core read statement compiled once; run with bound values, its rows as mappings.

    On PostgreSQL the compiled text goes straight to asyncpg on the pooled connection:
    SQLAlchemy's per-execution work (cache key, execution context, result rows) costs
    several times the driver's own for the console's small reads (D §4.1.4 load). Other
    dialects run the statement through Core. Only for types the driver returns as they
    are (numbers, text, dates, booleans): no result processors run.
    """

    def __init__(self, statement: Select[*tuple[Any, ...]] | CompoundSelect[*tuple[Any, ...]]) -> None:
        self.statement = statement
        self._postgres: DriverStatement | None = None

    async def fetch(self, conn: AsyncConnection, params: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
        """The rows for ``params``; a dropped connection is invalidated and raised as such."""
        if conn.dialect.name != "postgresql":
            result = await conn.execute(self.statement, dict(params))
            return cast(Sequence[Mapping[str, Any]], result.mappings().all())
        sql, values = self.driver_query(conn.dialect, params)
        sync = conn.sync_connection
        if sync is not None and not sync.invalidated:
            # A live checked-out connection: reached without a greenlet switch.
            driver: Any = sync.connection.driver_connection
        else:
            driver = (await conn.get_raw_connection()).driver_connection
        try:
            rows: Sequence[Mapping[str, Any]] = await driver.fetch(sql, *values)
        except Exception as err:
            if not driver.is_closed():
                raise
            await conn.invalidate()
            raise exc.DBAPIError(sql, None, err, connection_invalidated=True) from err
        return rows

    def driver_query(self, dialect: Dialect, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The PostgreSQL text (compiled on first use) and its positional values."""
        if self._postgres is None:
            self._postgres = DriverStatement.compile(self.statement, dialect)
        return self._postgres.text, self._postgres.values(params)


def _tune_sqlite(engine: AsyncEngine, begin: str) -> None:
    # pysqlite's own BEGIN handling defers the write lock until the first write, so two
    # transactions may read the same audit head and then collide.  BEGIN IMMEDIATE takes
    # the write lock up front: writers queue instead of failing (SQLAlchemy's recipe for
    # aiosqlite).  WAL keeps readers outside transactions unblocked.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(f"BEGIN {begin}")

    # A task cancelled in a transaction (a timeout, a shutdown) has its connection closed
    # by SQLAlchemy without a ROLLBACK. sqlite3 closes with sqlite3_close_v2: while the
    # cursor of a cancelled statement whose rows were never fetched is still referenced
    # (the CancelledError's traceback holds it until the garbage collector runs), the
    # connection lives on with its transaction, and BEGIN IMMEDIATE's write lock: every
    # writer waits out busy_timeout (30 s) and fails. So the connection rolls back first,
    # on its own thread, after any statement still running there.
    @event.listens_for(engine.sync_engine.pool, "close")
    def _on_close(dbapi_connection: Any, _record: Any) -> None:
        _roll_back_before_close(dbapi_connection)

    @event.listens_for(engine.sync_engine.pool, "close_detached")
    def _on_close_detached(dbapi_connection: Any) -> None:
        _roll_back_before_close(dbapi_connection)


def _roll_back_before_close(dbapi_connection: Any) -> None:
    # aiosqlite runs what is queued for the connection's thread in order; the close (or
    # SQLAlchemy's forced close) is queued right after this, the way SQLAlchemy's own
    # aiosqlite adapter queues work that must not wait.
    driver: Any = getattr(dbapi_connection, "driver_connection", None)
    connection = getattr(driver, "_connection", None)
    if connection is not None:
        driver._tx.put_nowait((None, connection.rollback))


def dialect_insert(dialect: str) -> Callable[..., Any]:
    """The dialect's INSERT construct: both PostgreSQL's and SQLite's know ON CONFLICT."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
