"""The scheduler's reads and writes on the ``timers`` table, and its write-journal kinds.

Every write carries the time it was requested (``requested_at``): a schedule or cancel
applies only over an older request, so the journal may replay a request late, or twice,
and the newest one still wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.journal import Journal
from callcenter.scheduler.models import ScheduledTimer, TimerState
from callcenter.store.engine import dialect_insert
from callcenter.store.models import utcnow

SCHEDULE_KIND = "scheduler.schedule"
CANCEL_KIND = "scheduler.cancel"
SETTLE_KIND = "scheduler.settle"


@dataclass(frozen=True, slots=True)
class Timer:
    """A due timer, as its handler sees it."""

    kind: str
    key: str
    due_at: datetime
    payload: dict[str, Any]
    attempt: int  # 1 for the first run
    requested_at: datetime


#: The stamp of a request that must lose to any other (``Scheduler.ensure_nowait``).
NEVER = datetime(1970, 1, 1, tzinfo=UTC)
#: Timers in these states have run their course; housekeeping deletes them once old.
FINISHED = (TimerState.DONE.value, TimerState.FAILED.value, TimerState.CANCELLED.value)


def iso(moment: datetime) -> str:
    """A datetime as it travels in a journal record."""
    return moment.isoformat()


def _moment(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


async def apply_schedule(session: AsyncSession, data: dict[str, Any], _key: str) -> None:
    """Insert the timer, or move and re-arm it when this request is the newest."""
    now = utcnow()
    insert = dialect_insert(session.get_bind().dialect.name)
    stmt = insert(ScheduledTimer).values(
        kind=data["kind"], key=data["key"], due_at=_moment(data["due_at"]),
        payload=data["payload"], state=TimerState.PENDING.value, attempts=0, last_error=None,
        claimed_by=None, claimed_until=None, requested_at=_moment(data["requested_at"]),
        created_at=now, updated_at=now,
    )
    rearmed = ("due_at", "payload", "state", "attempts", "last_error", "claimed_by",
               "claimed_until", "requested_at", "updated_at")
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["kind", "key"],
        set_={name: stmt.excluded[name] for name in rearmed},
        where=ScheduledTimer.requested_at < stmt.excluded.requested_at,
    ))


async def apply_cancel(session: AsyncSession, data: dict[str, Any], _key: str) -> None:
    """Turn the timer into a tombstone when this request is the newest (even if absent)."""
    now = utcnow()
    requested_at = _moment(data["requested_at"])
    insert = dialect_insert(session.get_bind().dialect.name)
    stmt = insert(ScheduledTimer).values(
        kind=data["kind"], key=data["key"], due_at=requested_at, payload={},
        state=TimerState.CANCELLED.value, attempts=0, requested_at=requested_at,
        created_at=now, updated_at=now,
    )
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["kind", "key"],
        set_={"state": TimerState.CANCELLED.value, "claimed_by": None, "claimed_until": None,
              "requested_at": stmt.excluded.requested_at, "updated_at": now},
        where=ScheduledTimer.requested_at < stmt.excluded.requested_at,
    ))


async def apply_settle(session: AsyncSession, data: dict[str, Any], _key: str) -> None:
    """Record a run's outcome (done, retry at ``due_at``, failed), fenced on its claim.

    A run claimed from the store settles only while this process still holds the claim;
    a run fired from memory (the store was down) only while nobody has claimed the timer.
    """
    fence = [
        ScheduledTimer.kind == data["kind"],
        ScheduledTimer.key == data["key"],
        ScheduledTimer.requested_at == _moment(data["requested_at"]),
    ]
    if data.get("claimed_by"):
        fence += [ScheduledTimer.state == TimerState.RUNNING.value,
                  ScheduledTimer.claimed_by == data["claimed_by"],
                  ScheduledTimer.attempts == data["attempts"]]
    else:
        fence.append(ScheduledTimer.state == TimerState.PENDING.value)
    outcome = data["outcome"]
    values: dict[str, Any] = {
        "state": TimerState.PENDING.value if outcome == "retry" else outcome,
        "attempts": data["attempts"], "last_error": data.get("error"),
        "claimed_by": None, "claimed_until": None, "updated_at": utcnow(),
    }
    if outcome == "retry":
        values["due_at"] = _moment(data["due_at"])
    await session.execute(update(ScheduledTimer).where(*fence).values(**values))


def register_journal_kinds(journal: Journal) -> None:
    """Let ``journal`` replay the scheduler's writes (every process sharing it must)."""
    journal.register(SCHEDULE_KIND, apply_schedule)
    journal.register(CANCEL_KIND, apply_cancel)
    journal.register(SETTLE_KIND, apply_settle)


@dataclass
class Claimed:
    """What one claim found: timers to run now, and timers whose last lease ran out."""

    timers: list[Timer]
    exhausted: list[Timer]  # their process died on the last allowed attempt: now failed


async def claim_due(
    session: AsyncSession, *, kinds: Sequence[str], owner: str, now: datetime,
    lease: timedelta, limit: int, max_attempts: int,
) -> Claimed:
    """Claim due timers of ``kinds`` (and those whose lease expired) for ``owner``.

    ``FOR UPDATE SKIP LOCKED`` on PostgreSQL: two processes never claim the same row.
    SQLite takes its write lock at BEGIN (see the engine), which serialises claims.
    """
    claimed = Claimed([], [])
    if not kinds:
        return claimed
    rows = (await session.execute(
        select(ScheduledTimer)
        .where(
            ScheduledTimer.kind.in_(kinds),
            or_(
                and_(ScheduledTimer.state == TimerState.PENDING.value,
                     ScheduledTimer.due_at <= now),
                and_(ScheduledTimer.state == TimerState.RUNNING.value,
                     ScheduledTimer.claimed_until <= now),
            ),
        )
        .order_by(ScheduledTimer.due_at, ScheduledTimer.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )).scalars().all()
    for row in rows:
        if row.state == TimerState.RUNNING.value and row.attempts >= max_attempts:
            row.state = TimerState.FAILED.value
            row.last_error = f"lease expired on the last attempt ({row.claimed_by})"
            row.claimed_by = row.claimed_until = None
            row.updated_at = now
            claimed.exhausted.append(_timer(row))
            continue
        row.state = TimerState.RUNNING.value
        row.claimed_by = owner
        row.claimed_until = now + lease
        row.attempts += 1
        row.updated_at = now
        claimed.timers.append(_timer(row))
    return claimed


def _timer(row: ScheduledTimer) -> Timer:
    return Timer(row.kind, row.key, row.due_at, dict(row.payload), row.attempts, row.requested_at)


async def next_wake(session: AsyncSession, kinds: Sequence[str]) -> datetime | None:
    """The earliest due time, or lease end, among timers this process could claim."""
    if not kinds:
        return None
    due = (await session.execute(
        select(func.min(ScheduledTimer.due_at)).where(
            ScheduledTimer.kind.in_(kinds), ScheduledTimer.state == TimerState.PENDING.value)
    )).scalar()
    lease = (await session.execute(
        select(func.min(ScheduledTimer.claimed_until)).where(
            ScheduledTimer.kind.in_(kinds), ScheduledTimer.state == TimerState.RUNNING.value)
    )).scalar()
    moments = [m for m in (due, lease) if m is not None]
    return min(moments) if moments else None


async def requested_stamps(
    session: AsyncSession, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], datetime]:
    """The stored ``requested_at`` of each (kind, key) that has a row."""
    if not keys:
        return {}
    rows = (await session.execute(
        select(ScheduledTimer.kind, ScheduledTimer.key, ScheduledTimer.requested_at).where(
            or_(*(and_(ScheduledTimer.kind == k, ScheduledTimer.key == key) for k, key in keys))
        )
    )).all()
    return {(kind, key): stamp for kind, key, stamp in rows}


async def list_timers(
    session: AsyncSession, *, state: str | None = None, kind: str | None = None,
    limit: int = 200,
) -> list[ScheduledTimer]:
    """Timers for the admin page: the latest due first, optionally by state and kind."""
    stmt = select(ScheduledTimer).order_by(ScheduledTimer.due_at.desc(),
                                           ScheduledTimer.id.desc()).limit(limit)
    if state:
        stmt = stmt.where(ScheduledTimer.state == state)
    if kind:
        stmt = stmt.where(ScheduledTimer.kind == kind)
    return list((await session.execute(stmt)).scalars().all())


async def prune(session: AsyncSession, before: datetime) -> int:
    """Delete the timers that finished before ``before``; how many went.

    A cancelled row is a tombstone against late schedule requests replayed from a write
    journal: those are minutes or hours old, never the weeks a prune keeps.
    """
    result = await session.execute(delete(ScheduledTimer).where(
        ScheduledTimer.state.in_(FINISHED), ScheduledTimer.updated_at < before))
    return int(getattr(result, "rowcount", 0) or 0)
