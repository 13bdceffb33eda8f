"""Call records reconciled with Asterisk's own CDRs, so a call the product missed still counts.

Two ways in, both idempotent by Asterisk's ``linkedid`` (the ``calls`` row's id for an
inbound call), never overwriting a row the hotline or the SOS wrote:

- live AMI ``Cdr`` events (``cdr_manager``, with ``linkedid => LinkedID`` in its
  ``[mappings]``, as ``dialplan render`` writes it): each written to ``cdr_events`` the
  moment it arrives, applied after a grace period (so the feature that handled the call
  writes its own, richer row first) and removed in the same transaction; a process killed
  in between leaves them in the table, and the next start applies them all;
- Asterisk's ``cdr_custom`` CSV (``CDR_CSV``; its line format is in the README), read at
  start and daily from where the last read stopped: the calls that ended while no product
  process was connected.

Only the call's first channel (``UniqueID == LinkedID``) makes a row; its CDR goes into
``details.cdr`` and ``details.source`` is ``"cdr"``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from callcenter.asterisk import AriClient
from callcenter.calls.models import Call, CallDirection, CallKind, CallOutcome
from callcenter.logs import get_logger
from callcenter.store.engine import SessionFactory
from callcenter.store.models import utcnow
from recordings.models import CdrEvent

log = get_logger(__name__)

#: The columns of the ``cdr_custom`` line (README): names as in AMI ``Cdr`` events.
CSV_COLUMNS = ("LinkedID", "UniqueID", "Source", "Destination", "DestinationContext",
               "LastApplication", "LastData", "StartTime", "AnswerTime", "EndTime",
               "BillableSeconds", "Disposition")
GRACE = timedelta(minutes=2)
#: CDR events applied per query.
APPLY_BATCH = 500
#: A live CDR event's row: the statement built once (SQLAlchemy's cache then serves it).
_ADD_EVENT = insert(CdrEvent)
_OUTCOMES = {"ANSWERED": CallOutcome.ANSWERED, "NO ANSWER": CallOutcome.NO_ANSWER,
             "BUSY": CallOutcome.BUSY, "FAILED": CallOutcome.FAILED,
             "CONGESTION": CallOutcome.FAILED}


def utc_offset(stamp: object) -> timedelta | None:
    """The UTC offset an ARI timestamp carries (``2026-12-01T17:31:48.107+0800``): Asterisk
    writes it, and every CDR time, in its host's zone (``/etc/localtime``; TZ is not read)."""
    if not isinstance(stamp, str) or len(stamp) < 5:
        return None
    sign, hours, minutes = stamp[-5], stamp[-4:-2], stamp[-2:]
    if sign not in "+-" or not (hours + minutes).isdigit() or int(hours) > 14:
        return None
    offset = timedelta(hours=int(hours), minutes=int(minutes))
    return -offset if sign == "-" else offset


def _time(value: str, zone: tzinfo) -> datetime | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone)
    except ValueError:
        return None


def _first_channel(cdr: Mapping[str, str], zone: tzinfo) -> tuple[str, datetime] | None:
    """The call id and start of a CDR of a call's first channel (None: a later channel,
    or unreadable)."""
    key = (cdr.get("LinkedID") or cdr.get("UniqueID") or "").strip()
    if not key or cdr.get("UniqueID", key).strip() != key or len(key) > 64:
        return None
    started = _time(cdr.get("StartTime", ""), zone)
    return None if started is None else (key, started)


def call_from_cdr(cdr: Mapping[str, str], zone: tzinfo) -> Call | None:
    """The ``calls`` row a CDR stands for (None: not a call's first channel, or unreadable)."""
    first = _first_channel(cdr, zone)
    if first is None:
        return None
    key, started = first
    app = cdr.get("LastApplication", "")
    context = cdr.get("DestinationContext", "")
    source = (cdr.get("Source") or "")[:32]
    if app == "Stasis" and "sos" in cdr.get("LastData", ""):
        kind, direction = CallKind.SOS_LEG, CallDirection.INBOUND
    elif app == "Queue" or "queue" in context:
        kind, direction = CallKind.HOTLINE, CallDirection.INBOUND
    elif source.isdigit() and len(source) <= 6:
        kind, direction = CallKind.CLICK_TO_DIAL, CallDirection.OUTBOUND
    else:
        kind, direction = CallKind.HOTLINE, CallDirection.INBOUND
    answered = _time(cdr.get("AnswerTime", ""), zone)
    ended = _time(cdr.get("EndTime", ""), zone)
    billed = cdr.get("BillableSeconds", "0")
    outcome = _OUTCOMES.get(cdr.get("Disposition", "").upper())
    return Call(
        id=key, kind=kind.value, direction=direction.value, caller_number=source,
        caller_tail=source[::-1], called_number=(cdr.get("Destination") or "")[:32],
        started_at=started, answered_at=answered, ended_at=ended,
        talk_seconds=int(billed) if billed.isdigit() else 0,
        outcome=outcome.value if outcome else None,
        details={"source": "cdr", "cdr": {k: str(v)[:200] for k, v in cdr.items()}},
    )


class CdrReconciler:
    """Adds the calls Asterisk saw and the store lacks."""

    def __init__(self, sessions: SessionFactory, time_zone: str, *,
                 csv_path: Path | None = None, offset_file: Path | None = None,
                 clock: Callable[[], datetime] = utcnow,
                 ari: Callable[[], AriClient | None] = lambda: None) -> None:
        self.sessions = sessions
        # A live event's row is one statement committed on its own: no BEGIN and COMMIT
        # round trips around it (three a call, at every hang-up, where one does).
        self._autocommit = sessions.kw["bind"].execution_options(isolation_level="AUTOCOMMIT")
        #: The zone CDR times are read in: TIME_ZONE until Asterisk tells its own.
        self.zone: tzinfo = ZoneInfo(time_zone)
        self._ari = ari
        self._zone_told = False
        self.csv_path = csv_path
        self.offset_file = offset_file
        self._clock = clock
        self._pending: list[tuple[datetime, dict[str, str]]] = []

    async def learn_zone(self) -> None:
        """Read CDR times in Asterisk's own zone: its host's, which ARI's timestamps carry.
        A host whose offset is not ``TIME_ZONE``'s (a UTC server for a centre in Beijing)
        wrote times 8 hours off from what they were read as (seen on a real Asterisk 22).
        Asked once; Asterisk away: ``TIME_ZONE`` meanwhile, asked again next time."""
        client = self._ari()
        if self._zone_told or client is None:
            return
        try:
            offset = utc_offset((await client.asterisk.ping()).get("timestamp"))
        except Exception as err:  # noqa: BLE001 - asked again at the next read
            log.info("Asterisk's zone not known yet", error=type(err).__name__)
            return
        if offset is None:
            return
        self._zone_told = True
        if datetime.now(self.zone).utcoffset() != offset:
            log.warning("Asterisk's host is not in TIME_ZONE: its CDR times are read in its "
                        "own offset", asterisk_utc_offset=str(offset), time_zone=str(self.zone))
            self.zone = timezone(offset)

    async def add(self, cdrs: Sequence[Mapping[str, str]]) -> int:
        """Insert the rows missing among these CDRs; how many were added."""
        await self.learn_zone()
        added = 0
        for cdr in cdrs:
            call = call_from_cdr(cdr, self.zone)
            if call is not None:
                added += await self._insert(call)
        if added:
            log.info("calls reconciled from Asterisk's CDRs", added=added)
        return added

    async def _insert(self, call: Call, event_id: int | None = None) -> int:
        """The call row unless one exists (1 if added); ``event_id``'s row goes with it."""
        try:
            async with self.sessions.begin() as session:
                if event_id is not None:
                    await session.execute(delete(CdrEvent).where(CdrEvent.id == event_id))
                if await session.get(Call, call.id) is not None:
                    return 0
                session.add(call)
            return 1
        except IntegrityError:  # written meanwhile by the feature that handled it
            if event_id is not None:
                async with self.sessions.begin() as session:
                    await session.execute(delete(CdrEvent).where(CdrEvent.id == event_id))
            return 0

    async def on_cdr(self, headers: Mapping[str, Any], node: str = "default") -> None:
        """A live AMI ``Cdr`` event: into ``cdr_events`` at once, applied after the grace period."""
        cdr = {k: str(v) for k, v in headers.items()}
        first = _first_channel(cdr, self.zone)
        if first is None:
            return  # a later channel of a call (an agent's leg): never a row of its own
        key = first[0]
        try:
            async with self._autocommit.begin() as conn:
                await conn.execute(_ADD_EVENT, {"received_at": self._clock(), "node": node[:64],
                                                "linkedid": key, "headers": cdr})
        except (SQLAlchemyError, OSError) as err:
            # The store is away: kept here meanwhile (Asterisk's CDR file, when configured,
            # covers a crash in that window).
            log.warning("CDR event not stored; kept in memory until the store is back",
                        linkedid=key, error=type(err).__name__)
            self._pending.append((self._clock(), cdr))

    async def flush(self, *, everything: bool = False) -> int:
        """Apply the CDR events older than the grace period (``everything``: all of them, as
        at a start: those a stopped or killed process received and never applied)."""
        cutoff = self._clock() - GRACE
        due = [cdr for at, cdr in self._pending if everything or at <= cutoff]
        self._pending = [(at, c) for at, c in self._pending if not (everything or at <= cutoff)]
        added = await self.add(due)  # the zone learnt there first, for the events below too
        last_id = 0
        while True:
            query = select(CdrEvent).where(CdrEvent.id > last_id).order_by(CdrEvent.id)
            if not everything:
                query = query.where(CdrEvent.received_at <= cutoff)
            async with self.sessions() as session:
                events = list((await session.execute(query.limit(APPLY_BATCH))).scalars())
            for event in events:
                call = call_from_cdr(event.headers, self.zone)
                if call is None:
                    async with self.sessions.begin() as session:
                        await session.execute(delete(CdrEvent).where(CdrEvent.id == event.id))
                    continue
                added += await self._insert(call, event.id)
                last_id = event.id
            if len(events) < APPLY_BATCH:
                break
            last_id = events[-1].id
        if added:
            log.info("calls made from live CDR events", added=added)
        return added

    async def import_csv(self) -> int:
        """Read the CDR file from where the last read stopped (from the start after a rotation)."""
        if self.csv_path is None:
            return 0
        lines, offset = await asyncio.to_thread(self._read_new)
        added = await self.add([dict(zip(CSV_COLUMNS, row, strict=False))
                                for row in csv.reader(io.StringIO(lines))
                                if len(row) >= len(CSV_COLUMNS)])
        await asyncio.to_thread(self._save_offset, offset)
        return added

    def _read_new(self) -> tuple[str, tuple[int, int]]:
        assert self.csv_path is not None
        try:
            info = os.stat(self.csv_path)
        except FileNotFoundError:
            return "", (0, 0)
        inode, offset = self._load_offset()
        start = offset if inode == info.st_ino and offset <= info.st_size else 0
        with open(self.csv_path, "rb") as fh:
            fh.seek(start)
            data = fh.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits
        return complete.decode("utf-8", "replace"), (info.st_ino, start + len(complete))

    def _load_offset(self) -> tuple[int, int]:
        if self.offset_file is None or not self.offset_file.is_file():
            return 0, 0
        try:
            inode, offset = self.offset_file.read_text().split()
            return int(inode), int(offset)
        except ValueError:
            return 0, 0

    def _save_offset(self, position: tuple[int, int]) -> None:
        if self.offset_file is None or position == (0, 0):
            return
        self.offset_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.offset_file.with_suffix(".tmp")
        tmp.write_text(f"{position[0]} {position[1]}")
        os.replace(tmp, self.offset_file)
