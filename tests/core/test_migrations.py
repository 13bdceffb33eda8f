"""Migrations run identically on SQLite and PostgreSQL, up and down."""

from __future__ import annotations

import asyncio

from sqlalchemy import inspect

from callcenter.store import create_engine, migrate
from callcenter.store.models import Base


def _tables(url: str) -> set[str]:
    async def read() -> set[str]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_migrations_down_to_base_and_up_again(database_url: str) -> None:
    # The fixture's store is already at head; migrations run synchronously (their own loop).
    assert migrate.current(database_url) == "0001"
    assert set(Base.metadata.tables) <= _tables(database_url)

    migrate.downgrade(database_url, "base")
    assert migrate.current(database_url) is None
    assert _tables(database_url) == {"alembic_version"}

    migrate.upgrade(database_url)
    assert migrate.current(database_url) == "0001"
    assert set(Base.metadata.tables) <= _tables(database_url)
