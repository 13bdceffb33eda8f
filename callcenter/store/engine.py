"""The async engine and session factory for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SessionFactory = async_sessionmaker[AsyncSession]


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
    # Sized so that a few product processes stay well inside PostgreSQL's default
    # max_connections (100): more connections than cores only queue inside PostgreSQL.
    kwargs.setdefault("pool_size", 3 if read_only else 15)
    kwargs.setdefault("max_overflow", 3 if read_only else 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


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


def dialect_insert(dialect: str) -> Callable[..., Any]:
    """The dialect's INSERT construct: both PostgreSQL's and SQLite's know ON CONFLICT."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
