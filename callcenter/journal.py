"""The write journal: writes that must survive a database outage (DESIGN invariants 1, 2).

When the store cannot be reached, a write that must not be lost (an outbox enqueue,
an SOS timeline event) is appended to ``<data_dir>/journal/active.jsonl``: one JSON
record per line, ``fsync``'d before :meth:`Journal.write` returns. The replayer seals
the active file into a segment (an atomic rename under ``flock``, so writers in other
processes reopen a fresh file) and applies each record through the handler registered
for its kind, in its own transaction. Handlers are idempotent by the record's key, so
a segment replayed twice, or half-replayed before a crash and replayed again, gives
the same store. A segment is deleted only once every record in it is applied; a record
its handler rejects as invalid is moved to ``rejected.jsonl`` for an operator, never
dropped silently.
"""

from __future__ import annotations

import asyncio
import enum
import fcntl
import os
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.logs import get_logger
from callcenter.store.engine import SessionFactory
from callcenter.store.models import utcnow

log = get_logger(__name__)

#: Applies one journaled write inside the given transaction; must be idempotent by key.
Handler = Callable[[AsyncSession, dict[str, Any], str], Awaitable[object]]

ACTIVE = "active.jsonl"
REJECTED = "rejected.jsonl"
_SEGMENT_GLOB = "segment-*.jsonl"


class JournalError(Exception):
    """The journal could not take or replay a record."""

    error_id = "journal-error"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class UnknownJournalKind(JournalError):
    """A record whose kind has no registered handler (registered too late, or a typo)."""

    error_id = "journal-unknown-kind"


#: SQLSTATEs a restart of the database or of the pool cures: connection exceptions (08),
#: insufficient resources (53: too many connections, out of memory, disk full), the server
#: shutting down, starting up or closing idle sessions (57P01-57P03, 57P05), and a
#: transaction rolled back for a conflict (40001, 40P01) that a replay simply redoes.
_TRANSIENT_CLASSES = ("08", "53")
_TRANSIENT_STATES = {"57P01", "57P02", "57P03", "57P05", "40001", "40P01"}
_CHAIN_DEPTH = 8


def _causes(err: BaseException) -> list[BaseException]:
    """``err`` and what it wraps: SQLAlchemy's ``orig``, else the ``raise … from`` cause."""
    seen: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in seen and len(seen) < _CHAIN_DEPTH:
        seen.append(current)
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return seen


def _transient_state(err: BaseException) -> bool:
    # asyncpg and psycopg both name the server's error code ``sqlstate``.
    state = getattr(err, "sqlstate", None)
    return isinstance(state, str) and (
        state[:2] in _TRANSIENT_CLASSES or state in _TRANSIENT_STATES
    )


def is_store_unavailable(err: BaseException) -> bool:
    """True for errors that mean "the database is not reachable", not "the write is wrong".

    SQLAlchemy wraps driver errors it has no class for (asyncpg's TooManyConnectionsError,
    CannotConnectNowError …) in a bare ``DBAPIError``: the driver's error, and its SQLSTATE,
    are looked for down the chain.
    """
    for cause in _causes(err):
        if isinstance(cause, DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(
            cause, OperationalError | InterfaceError | DisconnectionError | OSError | TimeoutError
        ):
            return True
        if _transient_state(cause):
            return True
    return False


@dataclass(frozen=True, slots=True)
class JournalRecord:
    """One journaled write."""

    key: str
    kind: str
    payload: dict[str, Any]
    written_at: str

    def to_line(self) -> bytes:
        """The record as one JSON line."""
        data = {"key": self.key, "kind": self.kind, "at": self.written_at, "payload": self.payload}
        return orjson.dumps(data) + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> JournalRecord:
        """Parse one line; ValueError when it is not a whole record."""
        data = orjson.loads(line)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        key, kind, payload = data.get("key"), data.get("kind"), data.get("payload")
        if not isinstance(key, str) or not isinstance(kind, str) or not isinstance(payload, dict):
            raise ValueError("a record needs string key and kind and an object payload")
        return cls(key, kind, payload, str(data.get("at", "")))


@dataclass
class ReplayReport:
    """What one replay pass did."""

    applied: int = 0
    rejected: int = 0
    segments_done: int = 0
    blocked: str | None = None  # why replay stopped early (store down, unknown kind)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Registration:
    handler: Handler
    on_applied: Callable[[], None] | None


class Journal:
    """Append-only, fsync'd JSONL journal with per-kind replay handlers."""

    def __init__(
        self,
        directory: Path,
        sessions: SessionFactory,
        *,
        replay_interval: float = 30.0,
        db_timeout: float = 10.0,
    ) -> None:
        self.directory = directory
        self._sessions = sessions
        self._replay_interval = replay_interval
        self._db_timeout = db_timeout
        self._handlers: dict[str, _Registration] = {}
        self._replay_lock = asyncio.Lock()
        self._nudge = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- writing ---------------------------------------------------------------------

    def register(
        self, kind: str, handler: Handler, *, on_applied: Callable[[], None] | None = None
    ) -> None:
        """Route records of ``kind`` to ``handler``; ``on_applied`` runs after each commit."""
        if kind in self._handlers:
            raise JournalError(f"journal kind {kind!r} is already registered", {"kind": kind})
        self._handlers[kind] = _Registration(handler, on_applied)

    def registration(self, kind: str) -> tuple[Handler, Callable[[], None] | None]:
        """The handler (and after-commit hook) for ``kind``."""
        reg = self._handlers.get(kind)
        if reg is None:
            raise UnknownJournalKind(f"no journal handler for {kind!r}", {"kind": kind})
        return reg.handler, reg.on_applied

    async def write(
        self, kind: str, payload: Mapping[str, Any], key: str, *, quiet: bool = False
    ) -> None:
        """Append one record and fsync it; returns once it is on disk.

        ``quiet``: a write made on purpose while the store is up (a first mark that must
        survive a crash), not a fallback; it is not logged as an outage.
        """
        if not key:
            raise JournalError("a journal record needs an idempotency key", {"kind": kind})
        record = JournalRecord(key, kind, dict(payload), utcnow().isoformat())
        try:
            line = record.to_line()
            await asyncio.to_thread(self._append, line)
        except (OSError, TypeError) as err:
            raise JournalError(f"journal write failed: {err}", {"kind": kind, "key": key}) from err
        if not quiet:
            log.warning("store unreachable: write journaled", kind=kind, key=key)

    def _append(self, line: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / ACTIVE
        while True:
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                opened = os.fstat(fd)
                try:
                    current = os.stat(path)
                except FileNotFoundError:
                    continue  # sealed by a replayer between open and lock: reopen
                if (opened.st_dev, opened.st_ino) != (current.st_dev, current.st_ino):
                    continue
                if opened.st_size and os.pread(fd, 1, opened.st_size - 1) != b"\n":
                    # A crash mid-append left a torn line: end it so this record stays whole.
                    line = b"\n" + line
                _write_all(fd, line)
                os.fsync(fd)
                if not opened.st_size:
                    _fsync_dir(self.directory)
                return
            finally:
                os.close(fd)  # closing also releases the flock

    # -- replaying -------------------------------------------------------------------

    def backlog(self) -> int:
        """How many journal files wait for replay (0 when the store is caught up)."""
        if not self.directory.is_dir():
            return 0
        active = self.directory / ACTIVE
        sealed = len(list(self.directory.glob(_SEGMENT_GLOB)))
        return sealed + (1 if active.exists() and active.stat().st_size else 0)

    async def replay(self) -> ReplayReport:
        """Apply every journaled record to the store; delete what was applied."""
        report = ReplayReport()
        async with self._replay_lock:
            if not self.directory.is_dir():
                return report
            await asyncio.to_thread(self._seal)
            segments = sorted(self.directory.glob(_SEGMENT_GLOB))
            for segment in segments:
                if not await self._replay_segment(segment, report):
                    break
                await asyncio.to_thread(_remove, segment, self.directory)
                report.segments_done += 1
        if report.applied or report.rejected:
            log.info(
                "journal replayed",
                applied=report.applied,
                rejected=report.rejected,
                blocked=report.blocked,
            )
        return report

    def _seal(self) -> None:
        path = self.directory / ACTIVE
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_size == 0:
                return
            name = f"segment-{utcnow().strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}.jsonl"
            os.rename(path, self.directory / name)
            _fsync_dir(self.directory)
        finally:
            os.close(fd)

    async def _replay_segment(self, segment: Path, report: ReplayReport) -> bool:
        try:
            lines = (await asyncio.to_thread(segment.read_bytes)).splitlines()
        except FileNotFoundError:  # another process replayed it
            return True
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = JournalRecord.from_line(line)
            except ValueError as err:
                # Only an append cut by a crash can tear a line; its writer never returned.
                log.error(
                    "torn journal line skipped", segment=segment.name, line=number, error=str(err)
                )
                continue
            try:
                handler, on_applied = self.registration(record.kind)
            except UnknownJournalKind as err:
                report.blocked = err.message
                report.errors.append(err.message)
                log.error("journal replay blocked", error_id=err.error_id, kind=record.kind)
                return False
            try:
                async with asyncio.timeout(self._db_timeout), self._sessions.begin() as session:
                    await handler(session, record.payload, record.key)
            except Exception as err:  # noqa: BLE001 - sorted just below, never swallowed
                if is_store_unavailable(err):
                    report.blocked = f"store unavailable: {err.__class__.__name__}"
                    return False
                report.rejected += 1
                report.errors.append(f"{record.kind} {record.key}: {err}")
                log.error("journal record rejected", kind=record.kind, key=record.key, exc_info=err)
                await asyncio.to_thread(self._reject, record, str(err))
                continue
            report.applied += 1
            if on_applied is not None:
                on_applied()
        return True

    def _reject(self, record: JournalRecord, reason: str) -> None:
        data = orjson.loads(record.to_line())
        data["rejected"] = reason
        with open(self.directory / REJECTED, "ab") as fh:
            fh.write(orjson.dumps(data) + b"\n")
            fh.flush()
            os.fsync(fh.fileno())

    # -- the background replayer -----------------------------------------------------

    def nudge(self) -> None:
        """Replay soon (e.g. the store was seen to be back)."""
        self._nudge.set()

    def start(self) -> None:
        """Replay now, then every ``replay_interval`` seconds, until :meth:`close`."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="journal-replayer"
            )

    async def close(self) -> None:
        """Stop the background replayer."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self.replay()
            except Exception as err:  # noqa: BLE001 - task boundary: log and keep replaying
                log.error("journal replay failed", exc_info=err)
            self._nudge.clear()
            try:
                async with asyncio.timeout(self._replay_interval):
                    await self._nudge.wait()
            except TimeoutError:
                pass


class WriteOutcome(enum.StrEnum):
    """Where a resilient write went."""

    STORED = "stored"
    JOURNALED = "journaled"


class Resilient:
    """Apply a write to the store now, or journal it when the store is unreachable."""

    def __init__(self, journal: Journal, sessions: SessionFactory, *, timeout: float = 5.0) -> None:
        self.journal = journal
        self.sessions = sessions
        self._timeout = timeout

    async def write(self, kind: str, payload: Mapping[str, Any], key: str, *,
                    direct: Callable[[dict[str, Any]], Awaitable[object]] | None = None,
                    ) -> WriteOutcome:
        """Run the handler registered for ``kind`` (or ``direct``, the same write without a
        session: one statement of its own); journal the write if the store is down.

        Errors that are not about reaching the store (an integrity error, bad data)
        propagate: bad input changes nothing (invariant 6).
        """
        handler, on_applied = self.journal.registration(kind)
        data = dict(payload)
        try:
            async with asyncio.timeout(self._timeout):
                if direct is not None:
                    await direct(data)
                else:
                    async with self.sessions.begin() as session:
                        await handler(session, data, key)
        except Exception as err:
            if not is_store_unavailable(err):
                raise
            log.warning("store unreachable", kind=kind, key=key, error=err.__class__.__name__)
            await self.journal.write(kind, data, key)
            return WriteOutcome.JOURNALED
        if on_applied is not None:
            on_applied()
        return WriteOutcome.STORED


    async def write_many(
        self,
        kind: str,
        items: list[tuple[Mapping[str, Any], str]],
        *,
        apply_all: Callable[[AsyncSession], Awaitable[object]],
    ) -> WriteOutcome:
        """Apply several writes of one kind in one transaction (``apply_all``), or journal
        each of them (replayed one by one through the kind's handler) when the store is down.
        """
        self.journal.registration(kind)  # an unknown kind fails before anything is written
        try:
            async with asyncio.timeout(self._timeout), self.sessions.begin() as session:
                await apply_all(session)
        except Exception as err:
            if not is_store_unavailable(err):
                raise
            log.warning("store unreachable", kind=kind, writes=len(items),
                        error=err.__class__.__name__)
            for payload, key in items:
                await self.journal.write(kind, payload, key)
            return WriteOutcome.JOURNALED
        return WriteOutcome.STORED


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path, directory: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        return
    _fsync_dir(directory)
