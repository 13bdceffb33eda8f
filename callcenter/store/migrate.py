"""Alembic driven from code, so ``callcenter db upgrade`` needs no alembic.ini."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at the packaged ``migrations`` scripts."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("migrations")))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate the store at ``database_url`` up to ``revision``."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    """Migrate the store at ``database_url`` down to ``revision``."""
    command.downgrade(alembic_config(database_url), revision)


def current(database_url: str) -> str | None:
    """The revision the store is at, or None when it is empty."""
    import asyncio

    from sqlalchemy import text

    from callcenter.store.engine import create_engine

    async def read() -> str | None:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                has_table = await conn.run_sync(
                    lambda sync: sync.dialect.has_table(sync, "alembic_version")
                )
                if not has_table:
                    return None
                row = (await conn.execute(text("SELECT version_num FROM alembic_version"))).first()
                return row[0] if row else None
        finally:
            await engine.dispose()

    return asyncio.run(read())
