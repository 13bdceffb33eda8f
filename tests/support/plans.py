"""PostgreSQL's plan for a prebuilt read: what the tests of "found by index" look at."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.store.engine import Prebuilt


async def index_plan(engine: AsyncEngine, read: Prebuilt, params: Mapping[str, Any]) -> str:
    """The plan of ``read`` with sequential scans turned off: a "Seq Scan" left in it is a
    table no index serves (PostgreSQL falls back to one only then)."""
    sql, values = read.driver_query(engine.dialect, params)
    async with engine.connect() as conn:
        driver: Any = (await conn.get_raw_connection()).driver_connection
        async with driver.transaction():
            await driver.execute("SET LOCAL enable_seqscan = off")
            return "\n".join(r[0] for r in await driver.fetch(f"EXPLAIN {sql}", *values))
