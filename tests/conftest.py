"""Shared fixtures: a migrated store on SQLite and on real PostgreSQL, Redis, settings."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from callcenter.crypto import FieldCipher
from callcenter.eventloop import CallFirstLoop
from callcenter.passwords import Passwords
from callcenter.settings import Settings, load_settings
from callcenter.store import create_engine, migrate, session_factory
from callcenter.store.engine import SessionFactory

POSTGRES_URL = os.environ.get(
    "CALLCENTER_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("CALLCENTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TEST_SECRET = "test-secret-key-0123456789abcdef0123456789"
T = TypeVar("T")


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, type]:
    """Every async test runs on the product's own event loop (Asterisk's reads first)."""
    return {"loop": CallFirstLoop}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's own CALLCENTER_* settings."""
    for name in list(os.environ):
        if name.startswith("CALLCENTER_") and not name.startswith("CALLCENTER_TEST_"):
            monkeypatch.delenv(name)


def run_in_thread(fn: Callable[[], T]) -> T:
    """Run blocking set-up (its own event loop inside) away from the test's loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


def _admin_url(url: str) -> str:
    return str(make_url(url).set(drivername="postgresql+asyncpg"))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    run_in_thread(lambda: migrate.upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session, dropped after."""
    name = f"cc_test_{uuid.uuid4().hex[:10]}"
    admin = _admin_url(POSTGRES_URL)

    async def run(sql: str) -> None:
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(sql))
        finally:
            await engine.dispose()

    run_in_thread(lambda: asyncio.run(run(f'CREATE DATABASE "{name}"')))
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    run_in_thread(lambda: migrate.upgrade(url))
    yield url
    run_in_thread(lambda: asyncio.run(run(f'DROP DATABASE "{name}" WITH (FORCE)')))


async def _truncate_postgres(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            tables = (
                await conn.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                        "AND tablename NOT IN ('alembic_version', 'audit_head')"
                    )
                )
            ).scalars().all()
            if tables:
                listed = ", ".join(f'"{t}"' for t in tables)
                await conn.execute(text(f"TRUNCATE {listed} RESTART IDENTITY CASCADE"))
            await conn.execute(text("UPDATE audit_head SET seq = 0, hash = :g"), {"g": "0" * 64})
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> str:
    """A migrated, empty store: each test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "callcenter.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_database")
    run_in_thread(lambda: asyncio.run(_truncate_postgres(url)))
    return url


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[SessionFactory]:
    """A session factory over the test store."""
    engine = create_engine(database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings over the test store, with a fixed secret key and a temp data dir."""
    return load_settings(
        data_dir=tmp_path / "data", database_url=database_url, secret_key=TEST_SECRET
    )


@pytest.fixture(scope="session")
def cipher() -> FieldCipher:
    return FieldCipher(TEST_SECRET.encode())


@pytest.fixture(scope="session")
def passwords() -> Passwords:
    # Cheap argon2 parameters keep the suite fast; production uses the defaults.
    return Passwords(time_cost=1, memory_cost=8192)
