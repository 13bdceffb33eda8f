"""The console's hot path: one pooled connection per request, no pings, dropped connections
survived, and answers in exactly the documented shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from callcenter.directory.schemas import ElderProfile, ElderSearchResult
from callcenter.runtime import Runtime
from callcenter.store.engine import POOL_SIZE, Prebuilt, ReadLease
from tests.webui.conftest import FakeClock, Login, World


@pytest.fixture
def checkouts(runtime: Runtime) -> Iterator[list[str]]:
    """The pool checkouts of the console's engine (a second connection per request would show)."""
    seen: list[str] = []

    def on_checkout(*_args: Any) -> None:
        seen.append("checkout")

    event.listen(runtime.engine.sync_engine, "checkout", on_checkout)
    yield seen
    event.remove(runtime.engine.sync_engine, "checkout", on_checkout)


def _postgres_only(runtime: Runtime) -> str:
    url = runtime.engine.url
    if url.get_backend_name() != "postgresql":
        pytest.skip("connections are dropped over TCP only on PostgreSQL")
    return url.render_as_string(hide_password=False)


async def _drop_every_connection(url: str) -> int:
    """Terminate every server backend of the test database, as a store restart would."""
    parsed = make_url(url)
    admin = await asyncpg.connect(host=parsed.host, port=parsed.port, user=parsed.username,
                                  password=parsed.password, database=parsed.database)
    try:
        dropped: int = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    finally:
        await admin.close()
    return dropped


async def test_a_search_on_a_session_cache_miss_takes_one_connection(
    login: Login, world: World, clock: FakeClock, checkouts: list[str]
) -> None:
    http = await login("agent_street")
    clock.advance(60)  # past the session cache: the lookup goes to the store
    checkouts.clear()
    async with http.get("/api/elders", params={"q": "张"}) as response:
        assert response.status == 200
    async with http.get(f"/api/elders/{world.elder_c1}") as response:  # now from the cache
        assert response.status == 200
    assert checkouts == ["checkout", "checkout"]


async def test_answers_have_exactly_the_documented_shape(login: Login, world: World) -> None:
    http = await login("super_d1")
    async with http.get("/api/elders", params={"q": "张"}) as response:
        found = ElderSearchResult.model_validate(await response.json())  # extra fields: refused
    assert {item.name for item in found.items} == {"张秀英", "张国强"}
    assert found.items[0].phones
    async with http.get(f"/api/elders/{world.elder_c1}") as response:
        elder = ElderProfile.model_validate(await response.json())
    assert elder.id_number_masked == "120104***********4"
    assert [a.code for a in elder.areas] == ["D1", "S1", "C1"]
    assert elder.provider is not None and elder.provider.code == "P1"
    assert [d.device_id for d in elder.devices] == ["SOS-0001"]
    assert [(c.role, c.priority) for c in elder.contacts][:2] == [("doctor", 1), ("kin", 1)]


async def test_the_console_answers_after_the_store_dropped_every_connection(
    runtime: Runtime, login: Login, world: World, clock: FakeClock
) -> None:
    url = _postgres_only(runtime)
    http = await login("agent_street")
    async with http.get(f"/api/elders/{world.elder_c1}") as response:
        assert response.status == 200  # the pool now holds live connections
    assert await _drop_every_connection(url) > 0
    clock.advance(60)  # the session lookup goes to the store too
    async with http.get(f"/api/elders/{world.elder_c1}") as response:
        assert response.status == 200, await response.text()
    async with http.get("/api/elders", params={"q": "张"}) as response:
        assert response.status == 200


_BACKEND_PID = Prebuilt(select(func.pg_backend_pid().label("pid")))


@pytest.mark.parametrize("via", ["core", "prebuilt"])
async def test_a_read_on_a_connection_dropped_unnoticed_is_retried_on_a_fresh_one(
    runtime: Runtime, via: str
) -> None:
    url = _postgres_only(runtime)
    calls: list[int] = []

    async def read(conn: AsyncConnection) -> int:
        calls.append(id(conn))
        if via == "core":
            return int((await conn.execute(_BACKEND_PID.statement)).scalar_one())
        return int((await _BACKEND_PID.fetch(conn, {}))[0]["pid"])

    async with ReadLease(runtime.engine) as lease:
        first = await lease.run(read)
        await _drop_every_connection(url)  # the lease still holds the dead connection
        second = await lease.run(read)
    assert second != first
    assert len(calls) == 3  # the dead connection's try, then one on a fresh connection


def test_the_postgresql_pool_has_no_overflow_and_no_pre_ping(runtime: Runtime) -> None:
    _postgres_only(runtime)
    pool: Any = runtime.engine.pool
    assert (pool.size(), pool._max_overflow, pool._pre_ping) == (POOL_SIZE, 0, False)
