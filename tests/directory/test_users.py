"""Console users made in the store: the slow password hash never holds a transaction."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from callcenter.directory.users import add_user
from callcenter.passwords import Passwords
from callcenter.store.engine import SessionFactory
from callcenter.store.models import Area, User

STRONG = "Correct-Horse-2024!"


class HeldHash(Passwords):
    """Hashes once the test lets it: the test writes meanwhile."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8192)
        self.hashing = asyncio.Event()
        self.release = asyncio.Event()

    async def hash(self, password: str) -> str:
        self.hashing.set()
        await self.release.wait()
        return await super().hash(password)


async def test_another_writer_is_not_held_while_a_new_users_password_is_hashed(
        sessions: SessionFactory, database_url: str) -> None:
    if make_url(database_url).get_backend_name() != "sqlite":
        pytest.skip("the store's one write lock: SQLite")
    passwords = HeldHash()

    async def add() -> None:
        async with sessions.begin() as db:
            await add_user(db, passwords, username="li.ming", password=STRONG, role="agent",
                           actor="admin")

    adding = asyncio.create_task(add())
    try:
        async with asyncio.timeout(5):
            await passwords.hashing.wait()
        async with asyncio.timeout(2), sessions.begin() as db:  # SQLite's busy wait is 30 s
            db.add(Area(code="120104", name="南开区", level="district", path="120104"))
    finally:
        passwords.release.set()
        await adding
    async with sessions() as db:
        assert await db.scalar(select(func.count()).select_from(User)) == 1
        assert await db.scalar(select(func.count()).select_from(Area)) == 1
