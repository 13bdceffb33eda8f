"""The composition root: builds every shared object once and hands it on explicitly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.bus import Bus, make_bus
from callcenter.crypto import FieldCipher
from callcenter.passwords import Passwords
from callcenter.settings import Settings
from callcenter.store import SessionFactory, create_engine, session_factory


@dataclass
class Runtime:
    """What every feature needs: settings, the store, the bus, the ciphers."""

    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    #: Look-ups on a pool of their own (SOS identification, console reads): never queued
    #: behind writes.
    read_sessions: SessionFactory
    bus: Bus
    cipher: FieldCipher
    passwords: Passwords


@asynccontextmanager
async def open_runtime(settings: Settings, bus: Bus | None = None) -> AsyncIterator[Runtime]:
    """Open the store and the bus; close them on exit, whatever happens."""
    engine = create_engine(settings.database_url)
    read_engine = create_engine(settings.database_url, read_only=True)
    bus = bus or make_bus(settings.redis_url)
    await bus.start()
    try:
        yield Runtime(
            settings=settings,
            engine=engine,
            sessions=session_factory(engine),
            read_sessions=session_factory(read_engine),
            bus=bus,
            cipher=FieldCipher(settings.secret_key_bytes()),
            passwords=Passwords(),
        )
    finally:
        await bus.close()
        await read_engine.dispose()
        await engine.dispose()
