"""The composition root: builds every shared object once and hands it on explicitly."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.bus import Bus, make_bus
from callcenter.crypto import FieldCipher
from callcenter.passwords import Passwords
from callcenter.settings import Settings
from callcenter.store import SessionFactory, create_engine, session_factory

#: Generation-1 collections between two full ones (CPython's default is 10). With the start's
#: heap frozen, what a full collection walks is what a day's work keeps alive (consoles,
#: calls, caches): 64 000 objects and 46-135 ms in a calls-and-consoles process at 50 calls
#: a second, which ran one every 10 s by default, each a pause every pop and SOS waits
#: behind. One a 100 is once every few minutes; cyclic garbage waits that long to be freed.
FULL_COLLECTION_EVERY = 100


def freeze_heap() -> int:
    """Take what is alive once a process has started (modules, mappers, compiled
    statements, templates, schemas: most of its heap) out of the cyclic collector's reach,
    and return how many objects that is.

    A full (generation 2) collection walks every tracked object: measured during 50 calls
    a second, it paused a console process's loop for 0.39 s and the calls process's for
    0.13-0.15 s, with everything waiting behind it (a ringing agent's pop, an SOS's
    originates). After ``gc.freeze()`` it walks only what was made since. Nothing frozen is
    ever freed: a process calls this once it has started, not per request. Full
    collections of what is made after are made rarer (``FULL_COLLECTION_EVERY``)."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)
    return gc.get_freeze_count()


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
