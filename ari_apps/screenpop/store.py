"""The pops showing now, kept in ``screen_pops`` so a reload (in any console process) shows
them again; every change is idempotent, so each console process may apply every message."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

import orjson
from sqlalchemy import ClauseElement, String, Table, and_, bindparam, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ari_apps.screenpop.models import ScreenPop
from callcenter.calls.models import Call
from callcenter.store.direct import DirectStatements, touching
from callcenter.store.engine import DriverStatement, dialect_insert

_POPS = cast("Table", ScreenPop.__table__)


class PopStore:
    """Upserts and deletes of pop rows, and the pops an agent should see now.

    Each call changes these rows three times in every console process, so they stay off
    the ORM's unit of work: on PostgreSQL each change is one statement compiled once and
    sent straight to the driver on connections of its own (``direct``; SQLAlchemy's
    checkout, transaction and result work took a millisecond of the event loop per change,
    in front of the next pop), elsewhere one or two Core statements (``DELETE … RETURNING``
    says whose pops went)."""

    def __init__(self, engine: AsyncEngine, ring_seconds: int,
                 direct: DirectStatements | None = None) -> None:
        self._engine = engine
        self._insert = dialect_insert(engine.dialect.name)
        self._ring = timedelta(seconds=ring_seconds)
        self._direct = direct if direct is not None and direct.direct else None
        if self._direct is not None:
            self._compiled = _compile_direct(self._direct.dialect)

    async def warm(self) -> None:
        """The pop rows' connections opened, each knowing the table, before the first ring."""
        if self._direct is not None:
            await self._direct.warm(touching(_POPS))

    async def ringing(self, agent: str, call_id: str, message: dict[str, Any], at: datetime) -> None:
        await self.ringing_many([(agent, call_id, message, at)])

    async def ringing_many(self, rows: list[tuple[str, str, dict[str, Any], datetime]]) -> None:
        """Upsert ringing pops in one go (the last one wins for a repeated pop)."""
        latest = {(call_id, agent): (message, at) for agent, call_id, message, at in rows}
        if not latest:
            return
        if self._direct is not None:
            upsert = self._compiled["ringing"]
            await self._direct.execute_many(upsert.text, [upsert.values({
                "call_id": call_id, "agent": agent, "ringing": orjson.dumps(message).decode(),
                "rung_at": at}) for (call_id, agent), (message, at) in latest.items()])
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
        if self._direct is not None:
            return await self._direct_agents("answered", {"call_id": call_id, "agent": agent or ""})
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
        if self._direct is not None:
            if agent:
                return await self._direct_agents("gone_at", {"call_id": call_id, "agent": agent})
            return await self._direct_agents("gone", {"call_id": call_id})
        where = [_POPS.c.call_id == call_id]
        if agent:
            where.append(_POPS.c.agent == agent)
        async with self._engine.begin() as conn:
            return list((await conn.execute(
                delete(_POPS).where(*where).returning(_POPS.c.agent))).scalars())

    async def close(self) -> None:
        """Close the direct connections (PostgreSQL)."""
        if self._direct is not None:
            await self._direct.close()

    async def _direct_agents(self, name: str, params: dict[str, Any]) -> list[str]:
        assert self._direct is not None
        statement = self._compiled[name]
        return [row["agent"] for row in
                await self._direct.fetch(statement.text, statement.values(params))]

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


def _compile_direct(dialect: Dialect) -> dict[str, DriverStatement]:
    """PostgreSQL's statements for :class:`PopStore`'s changes, each one round trip."""
    call, agent = bindparam("call_id", type_=String), bindparam("agent", type_=String)
    insert = pg_insert(_POPS).values(call_id=call, agent=agent, state="ringing",
                                     ringing=bindparam("ringing", type_=_POPS.c.ringing.type),
                                     rung_at=bindparam("rung_at", type_=_POPS.c.rung_at.type))
    ringing = insert.on_conflict_do_update(
        index_elements=[_POPS.c.call_id, _POPS.c.agent],
        set_={"ringing": insert.excluded.ringing, "rung_at": insert.excluded.rung_at,
              "state": "ringing"})
    # The answering agent's row is kept (as answered) and the others' deleted, in one
    # statement: data-modifying WITH parts all run, in one snapshot.
    others = (delete(_POPS).where(_POPS.c.call_id == call, _POPS.c.agent != agent)
              .returning(_POPS.c.agent).cte("others"))
    kept = (update(_POPS).where(_POPS.c.call_id == call, _POPS.c.agent == agent)
            .values(state="answered").returning(_POPS.c.agent).cte("kept"))
    answered = select(others.c.agent).add_cte(kept)
    statements: dict[str, ClauseElement] = {
        "ringing": ringing, "answered": answered,
        "gone": delete(_POPS).where(_POPS.c.call_id == call).returning(_POPS.c.agent),
        "gone_at": delete(_POPS).where(_POPS.c.call_id == call, _POPS.c.agent == agent)
        .returning(_POPS.c.agent),
    }
    return {name: DriverStatement.compile(statement, dialect) for name, statement in statements.items()}
