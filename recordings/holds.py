"""Holds: nothing a live hold covers is deleted, audio or call record.

- ``complaint``: the complaint workflow places one on the call(s) of an open case and
  releases it when the case closes (:class:`HoldService`, offered as ``recordings.holds``);
- ``incident``: placed by this feature when an SOS recording arrives, for
  ``RETENTION_INCIDENT_MONTHS`` from the incident's start;
- ``legal``: placed by an auditor with a reason, a case reference and an expiry.

A hold is live while it is not released and its expiry (if any) is in the future. Placing
and releasing are audited.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import audit
from callcenter.store.engine import SessionFactory
from callcenter.store.models import utcnow
from recordings.exceptions import HoldNotFound, InvalidHold
from recordings.models import HoldKind, Recording, RecordingHold


def live(now: datetime) -> ColumnElement[bool]:
    """Holds in force at ``now``."""
    return and_(RecordingHold.released_at.is_(None),
                or_(RecordingHold.expires_at.is_(None), RecordingHold.expires_at > now))


def _held_by(column: Any, value: Any, now: datetime) -> ColumnElement[bool]:
    # One EXISTS per way of covering, each on its own index (an OR inside one EXISTS is not).
    return exists(select(RecordingHold.id).where(column == value, live(now)))


def recording_held(now: datetime) -> ColumnElement[bool]:
    """A recording some live hold covers (its call, its incident, or itself)."""
    return or_(_held_by(RecordingHold.recording_id, Recording.id, now),
               _held_by(RecordingHold.call_id, Recording.call_id, now),
               _held_by(RecordingHold.incident_id, Recording.incident_id, now))


def call_held(now: datetime, call_id: Any, incident_id: Any) -> ColumnElement[bool]:
    """A call record some live hold covers (the call, its incident, or one of its recordings)."""
    held_recording = exists(select(RecordingHold.id).join(
        Recording, Recording.id == RecordingHold.recording_id).where(
        Recording.call_id == call_id, live(now)))
    return or_(_held_by(RecordingHold.call_id, call_id, now),
               _held_by(RecordingHold.incident_id, incident_id, now), held_recording)


def covering(now: datetime, *where: Any) -> Any:
    """(recording id, hold) pairs of live holds over the recordings ``where`` selects, as a
    union of the three ways a hold covers (each joins on an index)."""
    ways = (RecordingHold.recording_id == Recording.id, RecordingHold.call_id == Recording.call_id,
            RecordingHold.incident_id == Recording.incident_id)
    return union_all(*(select(Recording.id.label("recording_id"),
                              RecordingHold.id.label("hold_id")).join(RecordingHold, way)
                       .where(live(now), *where) for way in ways)).subquery()


def _hold_view(hold: RecordingHold) -> dict[str, Any]:
    return {"id": hold.id, "kind": hold.kind, "call_id": hold.call_id,
            "incident_id": hold.incident_id, "recording_id": hold.recording_id,
            "case_ref": hold.case_ref, "reason": hold.reason, "placed_by": hold.placed_by,
            "expires_at": hold.expires_at}


async def place(
    session: AsyncSession, *, kind: HoldKind, placed_by: str, reason: str,
    call_id: str | None = None, incident_id: str | None = None,
    recording_id: int | None = None, case_ref: str | None = None,
    expires_at: datetime | None = None, now: datetime | None = None,
) -> RecordingHold:
    """Place a hold in the caller's transaction (audited). An identical live hold is reused."""
    now = now or utcnow()
    if call_id is None and incident_id is None and recording_id is None:
        raise InvalidHold("a hold needs a call, an incident or a recording")
    if kind is HoldKind.LEGAL and (not reason.strip() or not (case_ref or "").strip()
                                   or expires_at is None):
        raise InvalidHold("a legal hold needs a reason, a case reference and an expiry")
    if kind is HoldKind.COMPLAINT and not (case_ref or "").strip():
        raise InvalidHold("a complaint hold needs the case reference")
    if expires_at is not None and expires_at <= now:
        raise InvalidHold("the hold's expiry is in the past", {"expires_at": str(expires_at)})
    same = (await session.execute(select(RecordingHold).where(
        live(now), RecordingHold.kind == kind.value, RecordingHold.call_id.is_(call_id)
        if call_id is None else RecordingHold.call_id == call_id,
        RecordingHold.incident_id.is_(None) if incident_id is None
        else RecordingHold.incident_id == incident_id,
        RecordingHold.recording_id.is_(None) if recording_id is None
        else RecordingHold.recording_id == recording_id,
        RecordingHold.case_ref.is_(None) if case_ref is None else RecordingHold.case_ref == case_ref,
    ).limit(1))).scalar_one_or_none()
    if same is not None:
        if expires_at is None or (same.expires_at is not None and same.expires_at < expires_at):
            same.expires_at = expires_at  # a later expiry (or none) lengthens it
        return same
    hold = RecordingHold(kind=kind.value, call_id=call_id, incident_id=incident_id,
                         recording_id=recording_id, case_ref=case_ref, reason=reason,
                         placed_by=placed_by, placed_at=now, expires_at=expires_at)
    session.add(hold)
    await session.flush()
    await audit.record(session, actor=placed_by, action="recording.hold.place",
                       entity="recording_hold", entity_id=hold.id, after=_hold_view(hold),
                       reason=reason)
    return hold


async def release(session: AsyncSession, hold_id: int, *, released_by: str, reason: str,
                  now: datetime | None = None) -> RecordingHold:
    """Release an open hold (audited); :class:`HoldNotFound` when there is none."""
    now = now or utcnow()
    hold = await session.get(RecordingHold, hold_id, with_for_update=True)
    if hold is None or hold.released_at is not None:
        raise HoldNotFound("no such open hold", {"hold": hold_id})
    hold.released_at, hold.released_by = now, released_by
    await audit.record(session, actor=released_by, action="recording.hold.release",
                       entity="recording_hold", entity_id=hold.id, before=_hold_view(hold),
                       reason=reason)
    return hold


class HoldService:
    """What other features call (the complaint workflow): place and release holds."""

    def __init__(self, sessions: SessionFactory, clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._clock = clock

    async def place_hold(
        self, *, kind: HoldKind | str, placed_by: str, reason: str,
        call_id: str | None = None, incident_id: str | None = None,
        recording_id: int | None = None, case_ref: str | None = None,
        expires_at: datetime | None = None,
    ) -> int:
        """Place a hold; returns its id (to release it later)."""
        async with self._sessions.begin() as session:
            hold = await place(session, kind=HoldKind(kind), placed_by=placed_by, reason=reason,
                               call_id=call_id, incident_id=incident_id,
                               recording_id=recording_id, case_ref=case_ref,
                               expires_at=expires_at, now=self._clock())
            return hold.id

    async def release_hold(self, hold_id: int, *, released_by: str, reason: str) -> None:
        """Release a hold (a closed complaint); :class:`HoldNotFound` when not open."""
        async with self._sessions.begin() as session:
            await release(session, hold_id, released_by=released_by, reason=reason,
                          now=self._clock())

    async def release_case(self, case_ref: str, *, released_by: str, reason: str) -> int:
        """Release every open hold of a case; how many were released."""
        async with self._sessions.begin() as session:
            ids = (await session.execute(select(RecordingHold.id).where(
                RecordingHold.case_ref == case_ref, RecordingHold.released_at.is_(None)
            ))).scalars().all()
            for hold_id in ids:
                await release(session, hold_id, released_by=released_by, reason=reason,
                              now=self._clock())
            return len(ids)
