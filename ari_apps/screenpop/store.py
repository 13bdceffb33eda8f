"""The pops showing now, kept in ``screen_pops`` so a reload (in any console process) shows
them again; every change is idempotent, so each console process may apply every message."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ari_apps.screenpop.models import ScreenPop
from callcenter.calls.models import Call
from callcenter.store.engine import dialect_insert

_POPS = cast("Table", ScreenPop.__table__)


class PopStore:
    """Upserts and deletes of pop rows, and the pops an agent should see now.

    Every change is one or two Core statements on the table (``DELETE … RETURNING`` says
    whose pops went): each call changes these rows three times in every console process,
    so they stay off the ORM's unit of work."""

    def __init__(self, engine: AsyncEngine, ring_seconds: int) -> None:
        self._engine = engine
        self._insert = dialect_insert(engine.dialect.name)
        self._ring = timedelta(seconds=ring_seconds)

    async def ringing(self, agent: str, call_id: str, message: dict[str, Any], at: datetime) -> None:
        await self.ringing_many([(agent, call_id, message, at)])

    async def ringing_many(self, rows: list[tuple[str, str, dict[str, Any], datetime]]) -> None:
        """Upsert ringing pops in one statement (the last one wins for a repeated pop)."""
        latest = {(call_id, agent): (message, at) for agent, call_id, message, at in rows}
        if not latest:
            return
        statement = self._insert(_POPS).values([
            {"call_id": call_id, "agent": agent, "state": "ringing", "ringing": message,
             "rung_at": at} for (call_id, agent), (message, at) in latest.items()])
        async with self._engine.begin() as conn:
            await conn.execute(statement.on_conflict_do_update(
                index_elements=["call_id", "agent"],
                set_={"ringing": statement.excluded.ringing, "rung_at": statement.excluded.rung_at,
                      "state": "ringing"}))

    async def answered(self, call_id: str, agent: str | None) -> list[str]:
        """The answering agent's pop stays (as answered); the others go. Returns them."""
        async with self._engine.begin() as conn:
            others = list((await conn.execute(
                delete(_POPS).where(_POPS.c.call_id == call_id, _POPS.c.agent != (agent or ""))
                .returning(_POPS.c.agent))).scalars())
            if agent:
                await conn.execute(update(_POPS).where(_POPS.c.call_id == call_id,
                                                       _POPS.c.agent == agent)
                                   .values(state="answered"))
        return others

    async def gone(self, call_id: str, agent: str | None = None) -> list[str]:
        """Remove the call's pop at ``agent`` (every agent when None); returns whose went."""
        where = [_POPS.c.call_id == call_id]
        if agent:
            where.append(_POPS.c.agent == agent)
        async with self._engine.begin() as conn:
            return list((await conn.execute(
                delete(_POPS).where(*where).returning(_POPS.c.agent))).scalars())

    async def has(self, call_id: str, agent: str) -> bool:
        async with self._engine.connect() as conn:
            found = await conn.execute(select(_POPS.c.agent).where(
                _POPS.c.call_id == call_id, _POPS.c.agent == agent))
            return found.first() is not None

    async def showing(self, conn: AsyncConnection, agent: str, now: datetime) -> list[tuple[str, dict[str, Any]]]:
        """The agent's pops, oldest first, as ``(state, ringing message)``: not older than
        the ring limit, and not of a call the stored record says has ended (a lost
        ``ended`` message leaves no pop behind)."""
        rows = await conn.execute(
            select(ScreenPop.state, ScreenPop.ringing)
            .outerjoin(Call, Call.id == ScreenPop.call_id)
            .where(ScreenPop.agent == agent, ScreenPop.rung_at >= now - self._ring,
                   or_(Call.id.is_(None), Call.ended_at.is_(None)),
                   or_(Call.id.is_(None), Call.agent.is_(None), Call.agent == agent,
                       and_(Call.answered_at.is_(None))))
            .order_by(ScreenPop.rung_at)
        )
        return [(state, dict(message)) for state, message in rows]
