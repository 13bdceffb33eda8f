"""The recordings feature's objects, built once from the settings (by ``load`` and the CLI),
and the daily job: capture reconciled, CDRs imported, then the retention sweep."""

from __future__ import annotations

import time as wall
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, select, update

from callcenter.asterisk import AriClient
from callcenter.bus import BusMessage
from callcenter.calls.models import Call
from callcenter.logs import get_logger
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from callcenter.store.models import utcnow
from recordings.capture import Capture, CaptureRequest, valid_name
from recordings.cdr import CdrReconciler
from recordings.exceptions import RecordingNotComplete, StoreFull
from recordings.holds import HoldService
from recordings.models import Recording, RecordingSource, RecordingState
from recordings.policy import RetentionPolicy
from recordings.store import RecordingStore, derive_key
from recordings.sweep import Sweeper, SweepReport

log = get_logger(__name__)
SWEEP_KIND = "retention.sweep"
SWEEP_KEY = "daily"
#: A call's recording counts as never arrived this long after the call ended.
ARRIVAL_GRACE = timedelta(minutes=15)
#: A spool file untouched this long is complete even if no event said so.
SPOOL_SETTLED = timedelta(minutes=10)
RECONCILE_BATCH = 200
#: A recording announced but not found is looked for again this long.
RETRY_FOR = timedelta(days=2)
#: ... and first, a few seconds after the announcement (Asterisk may still be closing it).
RETRY_DELAYS = (2.0, 5.0, 15.0)


@dataclass
class Recordings:
    """Everything the feature runs on, from one place."""

    settings: Settings
    sessions: SessionFactory
    policy: RetentionPolicy
    store: RecordingStore
    capture: Capture
    sweeper: Sweeper
    holds: HoldService
    cdr: CdrReconciler
    clock: Callable[[], datetime]

    @classmethod
    def build(cls, settings: Settings, sessions: SessionFactory, *,
              ari: Callable[[str], AriClient | None] = lambda node: None,
              clock: Callable[[], datetime] = utcnow,
              store: RecordingStore | None = None,
              publish: Callable[[BusMessage], Awaitable[None]] | None = None) -> Recordings:
        policy = RetentionPolicy.from_settings(settings)
        assert settings.recordings_dir is not None
        key = derive_key(settings.secret_key_bytes()) if settings.recordings_encrypt else None
        store = store or RecordingStore(settings.recordings_dir, key)
        store.create()
        capture = Capture(sessions, store, policy, spool=settings.recordings_spool, ari=ari,
                          clock=clock, publish=publish)
        cdr = CdrReconciler(sessions, settings.time_zone, csv_path=settings.cdr_csv,
                            offset_file=settings.data_dir / "cdr.offset", clock=clock,
                            ari=lambda: ari("default"))
        return cls(settings, sessions, policy, store, capture,
                   Sweeper(sessions, store, policy, clock=clock),
                   HoldService(sessions, clock), cdr, clock)

    def next_sweep(self, after: datetime) -> datetime:
        """The next ``RETENTION_SWEEP_AT`` (local time) after ``after``."""
        zone = ZoneInfo(self.settings.time_zone)
        hour, minute = (int(p) for p in self.settings.retention_sweep_at.split(":"))
        local = after.astimezone(zone)
        due = datetime.combine(local.date(), time(hour, minute), zone)
        if due <= local:
            due = datetime.combine(local.date() + timedelta(days=1), time(hour, minute), zone)
        return due.astimezone(after.tzinfo)

    async def reconcile_capture(self) -> dict[str, int]:
        """Calls whose recording never arrived get a row that says so; settled spool files
        nobody announced are taken; recordings that failed to arrive are tried again."""
        counts = {"taken": 0, "never_arrived": 0}
        now = self.clock()
        async with self.sessions() as session:
            waiting = (await session.execute(
                select(Call.id, Call.recording_name, Call.incident_id).where(
                    Call.recording_name.is_not(None), Call.ended_at < now - ARRIVAL_GRACE,
                    ~exists(select(Recording.id).where(and_(
                        Recording.call_id == Call.id,
                        Recording.state != RecordingState.MISSING.value))))
                .limit(RECONCILE_BATCH))).all()
        for call_id, name, incident_id in waiting:
            if name is None or not valid_name(name):
                continue
            in_spool = self.capture.spool_path(name)
            # A name with ".wav" is a spool file the dialplan announced (ARI names have none).
            source = (RecordingSource.SPOOL if in_spool is not None
                      and (in_spool.exists() or name.endswith(".wav")) else RecordingSource.ARI)
            row = await self.take_logged(CaptureRequest(name, source, call_id=call_id,
                                                  incident_id=incident_id))
            if row is not None:
                counts["taken" if row.state != RecordingState.MISSING else "never_arrived"] += 1
        async with self.sessions() as session:
            absent = (await session.execute(select(Recording).where(
                Recording.state == RecordingState.MISSING.value,
                Recording.problem == "never-arrived",
                Recording.captured_at > now - RETRY_FOR).limit(RECONCILE_BATCH))).scalars().all()
        for row in absent:  # announced, not there yet (SOS, care calls): tried again for a while
            again = await self.take_logged(CaptureRequest(
                row.name, RecordingSource(row.source), row.node, call_id=row.call_id,
                incident_id=row.incident_id, case_ref=row.case_ref))
            counts["taken"] += again is not None and again.state == RecordingState.STORED
        if self.settings.recordings_spool is not None:
            counts["taken"] += await self._settled_spool(now)
        return counts

    async def _settled_spool(self, now: datetime) -> int:
        spool = self.settings.recordings_spool
        assert spool is not None
        settled = (now - SPOOL_SETTLED).timestamp()
        taken = 0
        try:
            entries = [p for p in spool.iterdir() if p.suffix == ".wav" and valid_name(p.name)
                       and p.is_file() and p.stat().st_mtime < settled][:RECONCILE_BATCH]
        except FileNotFoundError:
            log.error("recordings spool is not there", spool=str(spool))
            return 0
        for path in entries:
            row = await self.take_logged(CaptureRequest(path.name, RecordingSource.SPOOL,
                                                  call_id=path.stem))
            taken += row is not None and row.state == RecordingState.STORED
        return taken

    async def expect(self, call_id: str, name: str) -> None:
        """The dialplan records ``call_id`` into the spool as ``name``: its call row says so,
        so a file that never comes is flagged (the daily pass) instead of silently missing."""
        async with self.sessions.begin() as session:
            await session.execute(update(Call).where(
                Call.id == call_id, Call.recording_name.is_(None)).values(recording_name=name))

    async def take_logged(self, request: CaptureRequest) -> Recording | None:
        """Capture, logging instead of raising (a full store: the file waits for a later pass)."""
        try:
            return await self.capture.take(request)
        except (StoreFull, RecordingNotComplete):
            return None  # logged / still being written: a later pass takes it
        except Exception:  # noqa: BLE001 - one bad recording must not stop the pass
            log.exception("recording capture failed", name=request.name)
            return None

    async def daily(self, *, budget_seconds: float | None = None,
                    as_of: date | None = None) -> SweepReport:
        """The scheduled job: capture reconciled, CDRs imported, then the sweep."""
        deadline = wall.monotonic() + budget_seconds if budget_seconds else None
        await self.reconcile_capture()
        await self.cdr.import_csv()
        await self.cdr.flush()
        return await self.sweeper.run(as_of, deadline=deadline)
