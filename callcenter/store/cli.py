"""``callcenter db …``: migrate the store, and the store helpers the other commands share."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import click
from alembic.util import CommandError
from sqlalchemy.exc import DBAPIError

from callcenter.clitools import settings_or_exit
from callcenter.settings import Settings
from callcenter.store import migrate
from callcenter.store.engine import SessionFactory, create_engine, session_factory


@asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[SessionFactory]:
    """Sessions over the configured store for one command; the engine is closed after."""
    engine = create_engine(settings.database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


def store_failure(err: BaseException) -> str:
    """A one-line explanation of a database error for an operator."""
    cause = getattr(err, "orig", None) or err
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    if "no such table" in text or "does not exist" in text:
        return f"the store is not set up ({text}); run `callcenter db upgrade` first"
    return f"database error: {text}"


def _settings() -> Settings:

    return settings_or_exit()


@click.group("db")
def db() -> None:
    """Migrate the store (Alembic, no alembic.ini needed)."""


@db.command("upgrade")
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Migrate the store up to REVISION (default: the newest)."""
    settings = _settings()
    try:
        migrate.upgrade(settings.database_url, revision)
    except (CommandError, DBAPIError, OSError) as err:
        click.echo(f"callcenter: upgrade failed: {store_failure(err)}", err=True)
        sys.exit(1)
    click.echo(f"store at {migrate.current(settings.database_url) or 'empty'}")


@db.command("downgrade")
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Migrate the store down to REVISION ('base' empties it)."""
    settings = _settings()
    try:
        migrate.downgrade(settings.database_url, revision)
    except (CommandError, DBAPIError, OSError) as err:
        click.echo(f"callcenter: downgrade failed: {store_failure(err)}", err=True)
        sys.exit(1)
    click.echo(f"store at {migrate.current(settings.database_url) or 'base (empty)'}")


@db.command("current")
def current() -> None:
    """Print the revision the store is at ('none' when it was never migrated)."""
    settings = _settings()
    try:
        click.echo(migrate.current(settings.database_url) or "none")
    except (DBAPIError, OSError) as err:
        click.echo(f"callcenter: {store_failure(err)}", err=True)
        sys.exit(1)
