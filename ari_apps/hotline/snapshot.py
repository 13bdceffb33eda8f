"""The routing snapshot: what the classic-AGI fallback routes by when FastAGI does not answer.

A JSON file the product rewrites every ``HOTLINE_SNAPSHOT_SECONDS`` (atomically: a reader
never sees half a file): the queues, the opening hours, and per known number its caller
kind, elder and priority (open SOS, high-risk). Asterisk's own fallback script
(``fallback_agi.py``, written beside the configuration by ``callcenter dialplan render``)
reads it; the repeat-caller rule needs the call records and is FastAGI's alone.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVarTuple

import orjson
from sqlalchemy import Row, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from ari_apps.hotline.models import HighRiskFlag
from ari_apps.hotline.rules import PRIORITIES
from ari_apps.sos.models import Incident, IncidentStatus
from callcenter.logs import get_logger
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from callcenter.store.models import Contact, ElderPhone, Provider, ProviderStaff

log = get_logger(__name__)
SNAPSHOT_VERSION = 1
_Ts = TypeVarTuple("_Ts")


#: Rows handled between two chances for other work to run (a directory is read whole
#: every HOTLINE_SNAPSHOT_SECONDS: 3 000 elders read at once held the loop 13 ms).
CHUNK = 500


async def each_row(db: AsyncSession, statement: Select[*_Ts],
                   chunk: int = CHUNK) -> AsyncIterator[Row[*_Ts]]:
    """The rows of ``statement``, fetched ``chunk`` at a time (a cursor, not one list)."""
    result = await db.stream(statement)
    async for part in result.partitions(chunk):
        for row in part:
            yield row


async def build_snapshot(sessions: SessionFactory, settings: Settings,
                         now: datetime, *, chunk: int = CHUNK) -> dict[str, Any]:
    """The snapshot's content from the store, read ``chunk`` rows at a time."""
    numbers: dict[str, dict[str, Any]] = {}
    async with sessions() as db:
        sos = {row[0] async for row in each_row(db, select(Incident.elder_id).where(
            Incident.status == IncidentStatus.ACTIVE.value, Incident.elder_id.is_not(None)),
            chunk)}
        risky = {row[0] async for row in each_row(db, select(HighRiskFlag.elder_id), chunk)}
        for statement in (select(Provider.phone), select(ProviderStaff.phone)):
            async for (provider_phone,) in each_row(db, statement, chunk):
                if provider_phone:
                    numbers[provider_phone] = {"kind": "provider", "elder_id": None,
                                               "priority": 0, "reason": ""}
        contacts = select(Contact.phone, Contact.elder_id).order_by(Contact.priority.desc())
        async for phone, elder_id in each_row(db, contacts, chunk):
            numbers[phone] = {"kind": "kin", "elder_id": elder_id, "priority": 0, "reason": ""}
        phones = select(ElderPhone.number, ElderPhone.elder_id)
        async for phone, elder_id in each_row(db, phones, chunk):
            reason = "sos" if elder_id in sos else "high_risk" if elder_id in risky else ""
            numbers[phone] = {"kind": "elder", "elder_id": elder_id,
                              "priority": PRIORITIES[reason], "reason": reason}
    return {
        "version": SNAPSHOT_VERSION,
        "generated_at": now.isoformat(),
        "default_queue": settings.hotline_default_queue,
        "after_hours_queue": settings.hotline_after_hours_queue or "",
        "hours": settings.hotline_hours,
        "time_zone": settings.time_zone,
        "numbers": numbers,
    }


def write_snapshot(path: Path, content: dict[str, Any]) -> None:
    """Replace the file atomically (write beside it, fsync, rename), readable by Asterisk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            # orjson: json.dump's pure-Python encoder held the GIL ~30 ms for 10 000 numbers
            # in this worker thread, stalling the event loop (a ringing agent's pop) by turns.
            handle.write(orjson.dumps(content))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class SnapshotWriter:
    """Keeps the snapshot fresh: at start, then every interval (an owned task)."""

    def __init__(self, sessions: SessionFactory, settings: Settings,
                 clock: Callable[[], datetime]) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        assert settings.hotline_snapshot_path is not None
        self.path: Path = settings.hotline_snapshot_path
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> int:
        """Write the snapshot now; the count of numbers in it."""
        content = await build_snapshot(self.sessions, self.settings, self.clock())
        await asyncio.to_thread(write_snapshot, self.path, content)
        return len(content["numbers"])

    def start(self) -> None:
        """Refresh now and every ``hotline_snapshot_seconds``."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="hotline-snapshot")

    async def _run(self) -> None:
        while True:
            try:
                count = await self.refresh()
                log.debug("hotline routing snapshot written", path=str(self.path), numbers=count)
            except Exception:  # noqa: BLE001 - task boundary: the old snapshot stays usable
                log.exception("hotline routing snapshot not written", path=str(self.path))
            await asyncio.sleep(self.settings.hotline_snapshot_seconds)

    async def close(self) -> None:
        """Stop refreshing."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
