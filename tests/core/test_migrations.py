"""Migrations run identically on SQLite and PostgreSQL, up and down."""

from __future__ import annotations

import asyncio

from alembic.script import ScriptDirectory
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


def _head(url: str) -> str:
    head = ScriptDirectory.from_config(migrate.alembic_config(url)).get_current_head()
    assert head is not None
    return head


def test_migrations_down_to_base_and_up_again(database_url: str) -> None:
    # The fixture's store is already at head; migrations run synchronously (their own loop).
    head = _head(database_url)
    assert migrate.current(database_url) == head
    assert set(Base.metadata.tables) <= _tables(database_url)

    migrate.downgrade(database_url, "base")
    assert migrate.current(database_url) is None
    assert _tables(database_url) == {"alembic_version"}

    migrate.upgrade(database_url)
    assert migrate.current(database_url) == head
    assert set(Base.metadata.tables) <= _tables(database_url)


def test_models_and_migrations_agree(database_url: str) -> None:
    """Autogenerate finds nothing to add: every model change came with its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import migrations.env_models  # noqa: F401  (every feature's tables on Base.metadata)

    async def diff() -> list[object]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
                )
        finally:
            await engine.dispose()

    assert asyncio.run(diff()) == []
