"""Complaint holds on call recordings (B §6.5.4: the recording is the complaint's evidence).

A complaint links its calls; while it is open, a ``complaint`` hold of the recordings
feature covers each of them (the call record and its audio: the retention sweep deletes
nothing a live hold covers). Holds are placed and released in the complaint's own
transaction, so a complaint never exists without them, nor closes with them left on.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.store.engine import dialect_insert
from recordings import holds
from recordings.models import HoldKind, RecordingHold
from workflow.models import ComplaintCall
from workflow.schemas import LinkedCall


async def link_calls(session: AsyncSession, complaint_id: int, number: str,
                     calls: Sequence[LinkedCall], *, actor: str, at: datetime) -> None:
    """Link calls (and their recordings) to the complaint and hold them while it is open."""
    insert = dialect_insert(session.get_bind().dialect.name)
    for call in calls:
        await session.execute(insert(ComplaintCall).values(
            complaint_id=complaint_id, call_id=call.call_id, recording_name=call.recording_name,
            linked_by=actor, linked_at=at).on_conflict_do_nothing())
        await holds.place(session, kind=HoldKind.COMPLAINT, placed_by=actor, now=at,
                          reason=f"投诉 {number} 处理中", call_id=call.call_id, case_ref=number)


async def release_holds(session: AsyncSession, number: str, *, actor: str,
                        at: datetime) -> None:
    """The complaint closed: its holds go (other holds on the same calls stay)."""
    open_holds = (await session.execute(select(RecordingHold.id).where(
        RecordingHold.kind == HoldKind.COMPLAINT.value, RecordingHold.case_ref == number,
        RecordingHold.released_at.is_(None)))).scalars().all()
    for hold_id in open_holds:
        await holds.release(session, hold_id, released_by=actor, now=at,
                            reason=f"投诉 {number} 已结案")


async def linked_calls(session: AsyncSession, complaint_id: int) -> list[LinkedCall]:
    """The calls a complaint refers to, in the order they were linked."""
    rows = await session.execute(select(ComplaintCall.call_id, ComplaintCall.recording_name)
                                 .where(ComplaintCall.complaint_id == complaint_id)
                                 .order_by(ComplaintCall.id))
    return [LinkedCall(call_id=c, recording_name=r) for c, r in rows]
