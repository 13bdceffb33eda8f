"""Migrations run identically on SQLite and PostgreSQL, up and down."""

from __future__ import annotations

import asyncio

from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from callcenter import audit
from callcenter.crypto import FieldCipher
from callcenter.passwords import Passwords
from callcenter.store import create_engine, migrate, session_factory
from callcenter.store.models import Base, ContactRole
from tests.factories import ContactSpec, make_area, make_elder, make_provider, make_user


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


def _fill(url: str, cipher: FieldCipher, passwords: Passwords) -> None:
    """A small directory: an area tree, an elder with phone, contact and device, a user,
    and an audit entry (the append-only log)."""

    async def fill() -> None:
        engine = create_engine(url)
        try:
            async with session_factory(engine).begin() as db:
                district = await make_area(db, "D1", "南开区")
                street = await make_area(db, "S1", "长虹街道", district)
                community = await make_area(db, "C1", "长江里社区", street)
                provider = await make_provider(db, "P1", "乐康居家养老服务中心", "02287654321")
                elder = await make_elder(
                    db, cipher, community, "张秀英",
                    id_number="120104194005171234", phones=["13800138001"],
                    contacts=[ContactSpec(ContactRole.KIN, "张伟", "13911110001", 1, "儿子")],
                    devices=["SOS-0001"], provider=provider,
                )
                await make_user(db, passwords, "agent1", "agent", area=street)
                await audit.record(db, actor="test", action="elder.create", entity="elder",
                                   entity_id=elder.id, after={"name": elder.name})
        finally:
            await engine.dispose()

    asyncio.run(fill())


def test_migrations_down_to_base_with_data_present(
    database_url: str, cipher: FieldCipher, passwords: Passwords
) -> None:
    """A downgrade to base drops the rows with the tables, whatever references what."""
    _fill(database_url, cipher, passwords)

    migrate.downgrade(database_url, "base")
    assert migrate.current(database_url) is None
    assert _tables(database_url) == {"alembic_version"}

    migrate.upgrade(database_url)
    assert migrate.current(database_url) == _head(database_url)


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
