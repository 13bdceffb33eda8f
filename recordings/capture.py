"""Capture: every recording the product causes is taken into the store, checked and linked.

Two sources, each taken only once the file is complete:

- **ARI** (SOS bridges, care calls, kin calls): ``GET /recordings/stored/{name}/file``
  after the bus event ``recording.ready`` (published once the recording has finished);
- **the spool** (the dialplan's ``[record-call]``: queue calls, calls out, transfers;
  MixMonitor writes ``<linkedid>.wav`` into ``RECORDINGS_SPOOL``, a folder shared with
  Asterisk): on the ``Hangup`` of the call's first channel (announced by the AMI ``VarSet``
  of ``MIXMONITOR_FILENAME``, so a file that never comes is flagged), on the AMI
  ``MixMonitorStop`` event, or on ``recording.ready`` with ``source: "spool"``.

Each is checksummed (SHA-256), given a serial number and linked to its call record,
incident and case. A recording that never arrives, or arrives empty or truncated, gets a
row that says so (``state``/``problem``) instead of being silently missing. Evidence is
never refused: a recording for a call nobody knows is kept, flagged ``unknown-call``, and
only auditors with the whole service in scope see it. A full store keeps nothing half
written and leaves the file where it was (the spool or Asterisk) for the next attempt.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import re
import stat
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select

from callcenter.asterisk import AriClient, AriError, AriNotFound
from callcenter.bus import BusMessage
from callcenter.logs import get_logger
from callcenter.store.engine import SessionFactory
from callcenter.store.models import utcnow
from recordings import audio, holds
from recordings.exceptions import InvalidAudio, RecordingNotComplete, StoreFull
from recordings.linking import CallContext, context_for
from recordings.models import HoldKind, Recording, RecordingSource, RecordingState
from recordings.policy import RetentionPolicy
from recordings.store import RecordingStore, StoredObject

log = get_logger(__name__)

#: A recording's or spool file's name: no folders, no hidden files, nothing odd.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
DOWNLOAD_TIMEOUT = 120.0
#: A spool file changed this recently that reads empty or cut short is still being written.
SPOOL_QUIET_SECONDS = 60.0
#: Published once a recording is taken (or found missing): supervisors and auditors.
STORED_TOPIC = "recording.stored"


@dataclass(frozen=True)
class CaptureRequest:
    """What the bus event ``recording.ready`` (or an AMI event) says about a recording."""

    name: str
    source: RecordingSource = RecordingSource.ARI
    node: str = "default"
    call_id: str | None = None
    incident_id: str | None = None
    case_ref: str | None = None

    @classmethod
    def from_event(cls, payload: dict[str, Any]) -> CaptureRequest:
        """``{name, source?, node?, call_id?, incident?|incident_id?, case?}``; ValueError if bad."""
        name = payload.get("name")
        if not isinstance(name, str) or not valid_name(name):
            raise ValueError(f"recording.ready with a bad name: {name!r}")
        source = RecordingSource(str(payload.get("source") or "ari"))
        incident = payload.get("incident_id") or payload.get("incident")
        return cls(name=name, source=source, node=str(payload.get("node") or "default"),
                   call_id=_opt(payload.get("call_id")), incident_id=_opt(incident),
                   case_ref=_opt(payload.get("case")))


def _opt(value: object) -> str | None:
    return str(value)[:64] if value not in (None, "") else None


def valid_name(name: str) -> bool:
    return bool(NAME.match(name)) and ".." not in name


def serial_for(source: str, node: str, name: str, started_at: datetime,
               policy: RetentionPolicy) -> str:
    """``R<local date>-<10 hex>``: stable for one recording, so a repeat finds the same row."""
    digest = hashlib.sha256(f"{source}\0{node}\0{name}".encode()).hexdigest()[:10].upper()
    return f"R{policy.local_date(started_at):%Y%m%d}-{digest}"


class Capture:
    """Takes recordings into the store; every entry point is idempotent by origin."""

    def __init__(self, sessions: SessionFactory, store: RecordingStore, policy: RetentionPolicy,
                 *, spool: Path | None = None,
                 ari: Callable[[str], AriClient | None] = lambda node: None,
                 clock: Callable[[], datetime] = utcnow,
                 publish: Callable[[BusMessage], Awaitable[None]] | None = None) -> None:
        self.sessions = sessions
        self._publish = publish
        self.store = store
        self.policy = policy
        self.spool = spool
        self._ari = ari
        self._clock = clock
        self._lock = asyncio.Lock()  # one capture at a time per process: the disk is the limit

    async def take(self, request: CaptureRequest) -> Recording:
        """Capture one recording; returns its row (the existing one for a repeat)."""
        if not valid_name(request.name):
            raise ValueError(f"bad recording name {request.name!r}")
        async with self._lock:
            existing = await self._existing(request)
            if existing is not None and existing.state != RecordingState.MISSING:
                return existing
            async with self.sessions() as session:
                context = await context_for(session, request.call_id, request.incident_id,
                                            request.name)
            opened = await self._open(request)
            if opened is None:
                row = await self._save(request, context, None, "never-arrived", existing)
            else:
                source, size = opened
                fresh = (request.source is RecordingSource.SPOOL and time.time()
                         - os.fstat(source.fileno()).st_mtime < SPOOL_QUIET_SECONDS)
                try:
                    stored, problem, info = await asyncio.to_thread(self._store, source, size,
                                                                    fresh)
                except StoreFull:
                    log.error("recordings store full: the recording stays where it is",
                              name=request.name, source=request.source.value)
                    raise
                finally:
                    source.close()
                row = await self._save(request, context, (stored, info), problem, existing)
        if row.state == RecordingState.STORED:
            await self._release_source(request)
        if existing is not None and (existing.state, existing.problem) == (row.state, row.problem):
            return row  # looked for again, still missing: said once
        if self._publish is not None:
            await self._publish(BusMessage(STORED_TOPIC, {
                "serial": row.serial, "call_id": row.call_id, "incident_id": row.incident_id,
                "state": row.state, "problem": row.problem}, {"roles": ["supervisor", "auditor"],
                                                            **({"area_path": row.area_path}
                                                               if row.area_path else {})}))
        return row

    async def _existing(self, request: CaptureRequest) -> Recording | None:
        async with self.sessions() as session:
            return (await session.execute(select(Recording).where(
                Recording.source == request.source.value, Recording.node == request.node,
                Recording.name == request.name))).scalar_one_or_none()

    async def _open(self, request: CaptureRequest) -> tuple[BinaryIO, int] | None:
        if request.source is RecordingSource.SPOOL:
            return await asyncio.to_thread(self._open_spool, request.name)
        client = self._ari(request.node)
        if client is None:
            log.warning("no ARI client for the recording's node", node=request.node)
            return None
        try:
            async with asyncio.timeout(DOWNLOAD_TIMEOUT):
                data = await client.recordings.download(request.name)
        except AriNotFound:
            return None
        return io.BytesIO(data), len(data)

    def spool_name(self, file: str) -> str | None:
        """The spool file's name when ``file`` (MixMonitor's ``MIXMONITOR_FILENAME``) is in
        the spool; None for a file elsewhere or an odd name."""
        path = Path(file)
        if self.spool is None or path.parent != self.spool or not valid_name(path.name):
            return None
        return path.name

    def spool_path(self, name: str) -> Path | None:
        if self.spool is None or not valid_name(name):
            return None
        return self.spool / (name if name.endswith(".wav") else f"{name}.wav")

    def _open_spool(self, name: str) -> tuple[BinaryIO, int] | None:
        path = self.spool_path(name)
        if path is None:
            return None
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except (FileNotFoundError, OSError) as err:
            if not isinstance(err, FileNotFoundError):
                log.warning("spool file refused", name=name, error=str(err))
            return None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            log.warning("spool entry is not a regular file", name=name)
            return None
        return os.fdopen(fd, "rb"), info.st_size

    def _store(self, source: BinaryIO, size: int, fresh: bool = False
               ) -> tuple[StoredObject | None, str | None, audio.AudioInfo | None]:
        problem: str | None = None
        info: audio.AudioInfo | None = None
        try:
            info = audio.inspect_stream(source, size)
        except InvalidAudio as err:
            problem = str(err.details.get("problem", "not-wav"))
        if info is not None and info.data_size == 0:
            problem = "empty"  # a bare header: nothing was heard (or nothing written yet)
        if fresh and problem in ("empty", "truncated"):
            # MixMonitor closes its file after the channel's Hangup: still being written.
            raise RecordingNotComplete("the spool file is still being written",
                                       {"problem": problem})
        if problem == "empty":
            return None, problem, None
        source.seek(0)
        return self.store.put(source), problem, info

    async def _save(self, request: CaptureRequest, context: CallContext,
                    stored: tuple[StoredObject | None, audio.AudioInfo | None] | None,
                    problem: str | None, existing: Recording | None) -> Recording:
        obj, info = stored if stored is not None else (None, None)
        if not context.known and problem is None:
            problem = "unknown-call"
        started = context.started_at or self._clock()
        async with self.sessions.begin() as session:
            row = (await session.get(Recording, existing.id)) if existing is not None else None
            if row is None:
                row = Recording(serial=serial_for(request.source.value, request.node,
                                                  request.name, started, self.policy),
                                source=request.source.value, node=request.node,
                                name=request.name)
                session.add(row)
            row.call_id = context.call_id or request.call_id
            row.incident_id = context.incident_id or request.incident_id
            row.case_ref = request.case_ref or row.case_ref
            row.elder_id, row.agent, row.area_path = context.elder_id, context.agent, context.area
            row.started_at = started
            if existing is None or obj is not None:  # a retry of a missing one keeps its first
                row.captured_at = self._clock()
            row.problem = problem
            if obj is None:
                row.state = RecordingState.MISSING.value
            else:
                row.state = RecordingState.STORED.value
                row.sha256, row.size, row.encrypted = obj.sha256, obj.size, obj.encrypted
            if info is not None:
                row.duration_ms, row.sample_rate = info.duration_ms, info.sample_rate
                row.shape = info.shape()
            await session.flush()
            if row.incident_id:
                await holds.place(session, kind=HoldKind.INCIDENT, placed_by="system",
                                  reason="SOS incident", incident_id=row.incident_id,
                                  expires_at=self.policy.incident_hold_until(started),
                                  now=self._clock())
        log.info("recording captured", serial=row.serial, state=row.state, problem=problem,
                 call_id=row.call_id, incident=row.incident_id)
        return row

    async def _release_source(self, request: CaptureRequest) -> None:
        """The store has it: the hand-over copy goes (the spool file, Asterisk's stored one)."""
        if request.source is RecordingSource.SPOOL:
            path = self.spool_path(request.name)
            if path is not None:
                await asyncio.to_thread(path.unlink, True)
            return
        client = self._ari(request.node)
        if client is None:
            return
        try:
            async with asyncio.timeout(10):
                await client.recordings.delete_stored(request.name)
        except (AriError, TimeoutError) as err:
            log.warning("stored recording not removed from Asterisk", name=request.name,
                        error=str(err))
