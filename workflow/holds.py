"""Complaint holds on call recordings: a complaint links its calls, and while it is open
their recordings are held (the recordings feature must not delete or expire a held one).

The recordings feature asks through :data:`workflow.keys.RECORDING_HOLDS` (a
:class:`RecordingHolds`), or calls :func:`is_recording_held` in its own session.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.store.engine import SessionFactory, dialect_insert
from workflow.models import Complaint, ComplaintCall
from workflow.schemas import LinkedCall

CLOSED = "closed"


async def link_calls(session: AsyncSession, complaint_id: int, calls: Sequence[LinkedCall], *,
                     actor: str, at: datetime) -> None:
    """Link calls (and their recordings) to the complaint; a call linked twice stays once."""
    insert = dialect_insert(session.get_bind().dialect.name)
    for call in calls:
        await session.execute(insert(ComplaintCall).values(
            complaint_id=complaint_id, call_id=call.call_id, recording_name=call.recording_name,
            linked_by=actor, linked_at=at).on_conflict_do_nothing())


async def is_recording_held(session: AsyncSession, recording_name: str) -> bool:
    """Whether an open complaint holds this recording."""
    held = select(ComplaintCall.id).join(Complaint, Complaint.id == ComplaintCall.complaint_id).where(
        ComplaintCall.recording_name == recording_name, Complaint.status != CLOSED)
    return bool((await session.execute(select(exists(held)))).scalar())


async def held_recordings(session: AsyncSession) -> set[str]:
    """Every recording an open complaint holds."""
    rows = await session.execute(
        select(ComplaintCall.recording_name).join(Complaint, Complaint.id == ComplaintCall.complaint_id)
        .where(Complaint.status != CLOSED, ComplaintCall.recording_name.is_not(None)))
    return {name for (name,) in rows if name}


async def linked_calls(session: AsyncSession, complaint_id: int) -> list[LinkedCall]:
    rows = await session.execute(select(ComplaintCall.call_id, ComplaintCall.recording_name)
                                 .where(ComplaintCall.complaint_id == complaint_id)
                                 .order_by(ComplaintCall.id))
    return [LinkedCall(call_id=c, recording_name=r) for c, r in rows]


class RecordingHolds:
    """What the recordings feature asks: is this recording held by an open complaint?"""

    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    async def is_held(self, recording_name: str) -> bool:
        async with self.sessions() as session:
            return await is_recording_held(session, recording_name)

    async def held(self) -> set[str]:
        async with self.sessions() as session:
            return await held_recordings(session)
