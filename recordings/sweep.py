"""The retention sweep: expired audio removed (a tombstone stays), expired call records
anonymised or purged, nothing held touched, orphan and missing files reconciled.

Crash-safe: a batch of recordings is marked ``deleting`` (committed) before any of its
files goes, and marked ``deleted`` after; a run that dies in between (or finds the store
gone) leaves ``deleting`` rows that the next run finishes first. A file is removed only
when no other live recording has the same content. It streams: batches by key, so memory
stays flat whatever the store holds.
"""

from __future__ import annotations

import asyncio
import time as wall
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.calls.models import Call
from callcenter.logs import get_logger
from callcenter.store.engine import SessionFactory
from callcenter.store.models import utcnow
from recordings.holds import call_held, covering, recording_held
from recordings.models import CallTombstone, Recording, RecordingHold, RecordingState, SweepRun
from recordings.policy import RetentionPolicy
from recordings.store import RecordingStore

log = get_logger(__name__)
BATCH = 500
ORPHAN_GRACE = timedelta(days=1)
EXPIRING = (RecordingState.STORED.value, RecordingState.CORRUPT.value,
            RecordingState.MISSING.value)
HAS_FILE = (RecordingState.STORED.value, RecordingState.CORRUPT.value,
            RecordingState.DELETING.value)
Progress = Callable[[int], None]


@dataclass
class SweepReport:
    """What a sweep did (or, dry, would do); the CLI prints it, the run row keeps it."""

    as_of: str
    dry_run: bool
    interrupted_finished: int = 0
    audio_deleted: int = 0
    bytes_freed: int = 0
    audio_held: dict[str, int] = field(default_factory=dict)
    held_examples: list[dict[str, Any]] = field(default_factory=list)
    records_anonymised: int = 0
    records_purged: int = 0
    records_held: int = 0
    orphans: int = 0
    orphan_bytes: int = 0
    missing: int = 0
    temporaries_removed: int = 0
    #: False when the run stopped at its deadline (the next run carries on).
    complete: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Sweeper:
    """One sweep at a time per process; several processes may run it (rows are claimed)."""

    def __init__(self, sessions: SessionFactory, store: RecordingStore, policy: RetentionPolicy,
                 *, clock: Callable[[], datetime] = utcnow, batch: int = BATCH) -> None:
        self.sessions = sessions
        self.store = store
        self.policy = policy
        self._clock = clock
        self._batch = batch
        self._deadline: float | None = None

    def today(self) -> date:
        return self.policy.local_date(self._clock())

    async def candidates(self, as_of: date) -> int:
        """How many recordings and call records a sweep as of ``as_of`` would go through."""
        now = self._hold_now(as_of)
        async with self.sessions() as session:
            audio = (await session.execute(select(func.count()).select_from(Recording).where(
                *self._audio_expired(as_of, now)))).scalar_one()
            records = (await session.execute(select(func.count()).select_from(Call).where(
                *self._records_expired(as_of, now)))).scalar_one()
        return int(audio) + int(records)

    def _hold_now(self, as_of: date) -> datetime:
        # A preview of a later day counts the holds that will have lapsed by then.
        return max(self._clock(), self.policy.midnight(as_of))

    def _audio_expired(self, as_of: date, now: datetime) -> tuple[Any, ...]:
        return (Recording.state.in_(EXPIRING),
                Recording.started_at < self.policy.audio_cutoff(as_of), ~recording_held(now))

    def _records_expired(self, as_of: date, now: datetime) -> tuple[Any, ...]:
        return (Call.started_at < self.policy.records_cutoff(as_of),
                ~exists(select(CallTombstone.call_id).where(CallTombstone.call_id == Call.id)),
                ~call_held(now, Call.id, Call.incident_id))

    async def run(self, as_of: date | None = None, *, dry_run: bool = False,
                  progress: Progress | None = None, deadline: float | None = None
                  ) -> SweepReport:
        """Sweep as of ``as_of`` (default today); a later date only as a dry run.

        ``deadline`` (``time.monotonic()``): stop between batches once it has passed, with
        ``complete`` false (a scheduled run's handler is cut off at half its lease)."""
        as_of = as_of or self.today()
        if as_of > self.today() and not dry_run:
            raise ValueError("a sweep as of a later date is only a preview: add --dry-run")
        self.store.check()
        report = SweepReport(as_of.isoformat(), dry_run)
        step = progress or (lambda n: None)
        now = self._hold_now(as_of)
        started = self._clock()
        self._deadline = deadline
        if not dry_run:
            await self._finish_interrupted(report)
        await self._expire_audio(as_of, now, report, step)
        await self._count_held(as_of, now, report)
        await self._expire_records(as_of, now, report, step)
        if report.complete:
            await self._reconcile_files(report)
        if not dry_run:
            async with self.sessions.begin() as session:
                session.add(SweepRun(started_at=started, finished_at=self._clock(),
                                     as_of=report.as_of, dry_run=False, report=report.to_dict()))
        log.info("retention sweep", **{k: v for k, v in report.to_dict().items()
                                       if k != "held_examples"})
        return report

    def _without_file(self, rows: list[Any]) -> list[int]:
        return [i for i, sha in rows if not sha or not self.store.exists(sha)]

    def _out_of_time(self, report: SweepReport) -> bool:
        if self._deadline is not None and wall.monotonic() > self._deadline:
            report.complete = False
        return not report.complete

    # -- audio -------------------------------------------------------------------------

    async def _finish_interrupted(self, report: SweepReport) -> None:
        while True:
            async with self.sessions() as session:
                rows = (await session.execute(select(Recording.id, Recording.sha256).where(
                    Recording.state == RecordingState.DELETING.value
                ).order_by(Recording.id).limit(self._batch))).all()
            if not rows:
                return
            report.bytes_freed += await self._remove_files([(i, s) for i, s in rows])
            await self._mark_deleted([i for i, _ in rows])
            report.interrupted_finished += len(rows)

    async def _expire_audio(self, as_of: date, now: datetime, report: SweepReport,
                            step: Progress) -> None:
        last = 0
        while True:
            async with self.sessions() as session:
                rows = (await session.execute(
                    select(Recording.id, Recording.sha256, Recording.size).where(
                        Recording.id > last, *self._audio_expired(as_of, now)
                    ).order_by(Recording.id).limit(self._batch))).all()
            if not rows or self._out_of_time(report):
                return
            last = rows[-1][0]
            ids = [r[0] for r in rows]
            if report.dry_run:
                report.audio_deleted += len(rows)
                report.bytes_freed += sum(r[2] for r in rows if r[1])
                step(len(rows))
                continue
            async with self.sessions.begin() as session:  # the mark goes before any file
                marked = (await session.execute(
                    update(Recording).where(Recording.id.in_(ids), *self._audio_expired(as_of, now))
                    .values(state=RecordingState.DELETING.value, deleted_at=self._clock(),
                            delete_reason="retention", delete_policy=self.policy.audio_name)
                    .returning(Recording.id, Recording.sha256))).all()
            report.bytes_freed += await self._remove_files([(i, s) for i, s in marked])
            await self._mark_deleted([i for i, _ in marked])
            report.audio_deleted += len(marked)
            step(len(rows))

    async def _remove_files(self, rows: list[tuple[int, str | None]]) -> int:
        """Remove the files of these rows that no other live recording shares; bytes freed."""
        shas = {sha for _, sha in rows if sha}
        if not shas:
            return 0
        ids = [i for i, _ in rows]
        async with self.sessions() as session:
            shared = set((await session.execute(select(Recording.sha256).where(
                Recording.sha256.in_(shas), Recording.id.not_in(ids),
                Recording.state.in_((RecordingState.STORED.value, RecordingState.CORRUPT.value)),
            ))).scalars())
        return await asyncio.to_thread(self._delete_files, sorted(shas - shared))

    def _delete_files(self, shas: list[str]) -> int:
        return sum(self.store.delete(sha) for sha in shas)

    async def _mark_deleted(self, ids: list[int]) -> None:
        if not ids:
            return
        async with self.sessions.begin() as session:
            await session.execute(update(Recording).where(
                Recording.id.in_(ids), Recording.state == RecordingState.DELETING.value
            ).values(state=RecordingState.DELETED.value))

    async def _count_held(self, as_of: date, now: datetime, report: SweepReport) -> None:
        """Expired audio kept because of a hold: counts by kind and a few examples."""
        cutoff = self.policy.audio_cutoff(as_of)
        pairs = covering(now, Recording.state.in_(EXPIRING), Recording.started_at < cutoff)
        async with self.sessions() as session:
            counts = await session.execute(
                select(RecordingHold.kind, func.count(func.distinct(pairs.c.recording_id)))
                .join(RecordingHold, RecordingHold.id == pairs.c.hold_id)
                .group_by(RecordingHold.kind))
            report.audio_held = {kind: int(n) for kind, n in counts}
            examples = await session.execute(
                select(Recording.serial, RecordingHold.kind, RecordingHold.case_ref,
                       RecordingHold.expires_at)
                .join(pairs, pairs.c.recording_id == Recording.id)
                .join(RecordingHold, RecordingHold.id == pairs.c.hold_id)
                .order_by(Recording.id).limit(20))
            report.held_examples = [
                {"serial": s, "hold": k, "case": c, "until": e.isoformat() if e else None}
                for s, k, c, e in examples]

    # -- call records ------------------------------------------------------------------

    async def _expire_records(self, as_of: date, now: datetime, report: SweepReport,
                              step: Progress) -> None:
        cutoff = self.policy.records_cutoff(as_of)
        async with self.sessions() as session:
            report.records_held = int((await session.execute(
                select(func.count()).select_from(Call).where(
                    Call.started_at < cutoff, call_held(now, Call.id, Call.incident_id)))
            ).scalar_one())
        after: tuple[datetime, str] | None = None
        while True:
            statement = select(Call.id, Call.started_at).where(
                *self._records_expired(as_of, now))
            if after is not None:
                statement = statement.where(or_(Call.started_at > after[0],
                                                and_(Call.started_at == after[0],
                                                     Call.id > after[1])))
            async with self.sessions() as session:
                rows = (await session.execute(
                    statement.order_by(Call.started_at, Call.id).limit(self._batch))).all()
            if not rows or self._out_of_time(report):
                return
            after = (rows[-1][1], rows[-1][0])
            if not report.dry_run:
                async with self.sessions.begin() as session:
                    await self._retire_calls(session, rows)
            if self.policy.records_action == "purge":
                report.records_purged += len(rows)
            else:
                report.records_anonymised += len(rows)
            step(len(rows))

    async def _retire_calls(self, session: AsyncSession, rows: Sequence[Any]) -> None:
        ids = [r[0] for r in rows]
        action = "purged" if self.policy.records_action == "purge" else "anonymised"
        if action == "purged":
            await session.execute(delete(Call).where(Call.id.in_(ids)))
        else:
            await session.execute(update(Call).where(Call.id.in_(ids)).values(
                caller_number="", caller_tail="", called_number="", elder_id=None, note="",
                details={}))
        await session.execute(update(Recording).where(Recording.call_id.in_(ids)).values(
            elder_id=None))
        await session.execute(insert(CallTombstone), [
            {"call_id": call_id, "action": action, "started_at": started, "at": self._clock(),
             "policy": self.policy.records_name} for call_id, started in rows])

    # -- files -------------------------------------------------------------------------

    async def _reconcile_files(self, report: SweepReport) -> None:
        """Files no row knows (orphans, removed after a day), rows whose file is gone."""
        grace = wall.time() - ORPHAN_GRACE.total_seconds()
        for folder in await asyncio.to_thread(self.store.folders):
            chunk = await asyncio.to_thread(self.store.objects_in, folder)
            async with self.sessions() as session:
                known = set((await session.execute(select(Recording.sha256).where(
                    Recording.sha256.in_([sha for sha, _, _ in chunk]),
                    Recording.state.in_(HAS_FILE)))).scalars())
            for sha, size, mtime in chunk:
                if sha in known or mtime > grace:
                    continue
                report.orphans += 1
                report.orphan_bytes += size
                if not report.dry_run:
                    await asyncio.to_thread(self.store.delete, sha)
                    log.warning("orphan recording file removed", sha256=sha, size=size)
        last = 0
        while True:
            async with self.sessions() as session:
                rows = (await session.execute(select(Recording.id, Recording.sha256).where(
                    Recording.id > last, Recording.state == RecordingState.STORED.value
                ).order_by(Recording.id).limit(self._batch))).all()
            if not rows:
                break
            last = rows[-1][0]
            gone = await asyncio.to_thread(self._without_file, list(rows))
            if not gone:
                continue
            self.store.check()  # the store itself gone is not "every file missing"
            report.missing += len(gone)
            if not report.dry_run:
                async with self.sessions.begin() as session:
                    await session.execute(update(Recording).where(Recording.id.in_(gone)).values(
                        state=RecordingState.MISSING.value, problem="vanished"))
        if not report.dry_run:
            for path in self.store.stale_temporaries(grace):
                path.unlink(missing_ok=True)
                report.temporaries_removed += 1
