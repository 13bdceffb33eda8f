"""The hotline's writes: call rows and agent events, straight to the store or via the journal.

Every write is idempotent by its key (a call row is merged field by field; an agent event
carries its own key), so a replay from the write journal after a store outage changes
nothing twice. Times travel as ISO-8601 strings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.calls.models import AgentEvent, Call
from callcenter.journal import Journal, Resilient, WriteOutcome
from callcenter.store.engine import SessionFactory

CALL_KIND = "hotline.call"
AGENT_EVENT_KIND = "hotline.agent_event"
_TIMES = ("started_at", "queued_at", "answered_at", "ended_at", "at")


def _decode(data: dict[str, Any]) -> dict[str, Any]:
    return {k: datetime.fromisoformat(v) if k in _TIMES and isinstance(v, str) else v
            for k, v in data.items()}


def encode(fields: dict[str, Any]) -> dict[str, Any]:
    """Datetimes as ISO strings, for the journal."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()}


async def _apply_call(session: AsyncSession, payload: dict[str, Any], _key: str) -> None:
    fields = _decode(payload)
    call_id = fields.pop("id")
    details = fields.pop("details", None)
    row = await session.get(Call, call_id)
    if row is None:
        number = str(fields.get("caller_number", ""))
        row = Call(id=call_id, caller_tail=number[::-1], details=details or {}, **fields)
        session.add(row)
        return
    for name, value in fields.items():
        setattr(row, name, value)
    if "caller_number" in fields:
        row.caller_tail = str(fields["caller_number"])[::-1]
    if details:
        row.details = {**(row.details or {}), **details}


async def _apply_agent_event(session: AsyncSession, payload: dict[str, Any], key: str) -> None:
    fields = _decode(payload)
    exists = (await session.execute(select(AgentEvent.id).where(
        AgentEvent.agent == fields["agent"], AgentEvent.at == fields["at"],
        AgentEvent.kind == fields["kind"], AgentEvent.queue.is_(None) if fields.get("queue")
        is None else AgentEvent.queue == fields["queue"], AgentEvent.reason == fields["reason"],
    ))).scalar_one_or_none()
    if exists is None:
        session.add(AgentEvent(**fields))


def register_journal_kinds(journal: Journal) -> None:
    """Call rows and agent events replay from the journal."""
    journal.register(CALL_KIND, _apply_call)
    journal.register(AGENT_EVENT_KIND, _apply_agent_event)


class HotlineStore:
    """Writes call rows and agent events; never loses one to a store outage."""

    def __init__(self, sessions: SessionFactory, journal: Journal) -> None:
        self.sessions = sessions
        self._writes = Resilient(journal, sessions)
        self._seq = 0
        # Calls with a write in the journal: their next writes follow it there, so that a
        # replay merges a call's writes in the order they were made (an answer merged
        # before the row's first write would make a row without a kind, and be refused).
        self._journaled: set[str] = set()

    async def save_call(self, call_id: str, **fields: Any) -> None:
        """Insert or merge the call row ``call_id``."""
        self._seq += 1
        payload = encode({"id": call_id, **fields})
        key = f"call:{call_id}:{self._seq}:{datetime.now().timestamp()}"
        if self._journaled and not self._writes.journal.backlog():
            self._journaled.clear()  # replayed: every call's writes go to the store again
        if call_id in self._journaled:
            await self._writes.journal.write(CALL_KIND, payload, key, quiet=True)
        elif await self._writes.write(CALL_KIND, payload, key=key) is WriteOutcome.JOURNALED:
            self._journaled.add(call_id)

    async def agent_event(self, agent: str, queue: str | None, kind: str, at: datetime,
                          reason: str = "", productive: bool = False) -> None:
        """Append one login/logout/pause/unpause."""
        await self._writes.write(AGENT_EVENT_KIND, encode({
            "agent": agent, "queue": queue, "kind": kind, "reason": reason,
            "productive": productive, "at": at}), key=f"agent:{agent}:{queue}:{kind}:{reason}:{at.isoformat()}")
