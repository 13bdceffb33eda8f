"""The routing snapshot: what the classic-AGI fallback routes by when FastAGI does not answer.

A JSON file the product rewrites every ``HOTLINE_SNAPSHOT_SECONDS`` (atomically: a reader
never sees half a file): the queues, the opening hours, and per known number its caller
kind, elder and priority (open SOS, high-risk). Asterisk's own fallback script
(``fallback_agi.py``, written beside the configuration by ``callcenter dialplan render``)
reads it; the repeat-caller rule needs the call records and is FastAGI's alone.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ari_apps.hotline.models import HighRiskFlag
from ari_apps.hotline.rules import PRIORITIES
from ari_apps.sos.models import Incident, IncidentStatus
from callcenter.logs import get_logger
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from callcenter.store.models import Contact, ElderPhone, Provider, ProviderStaff

log = get_logger(__name__)
SNAPSHOT_VERSION = 1


async def build_snapshot(sessions: SessionFactory, settings: Settings,
                         now: datetime) -> dict[str, Any]:
    """The snapshot's content from the store."""
    numbers: dict[str, dict[str, Any]] = {}
    async with sessions() as db:
        sos = set((await db.execute(select(Incident.elder_id).where(
            Incident.status == IncidentStatus.ACTIVE.value, Incident.elder_id.is_not(None))
        )).scalars())
        risky = set((await db.execute(select(HighRiskFlag.elder_id))).scalars())
        for provider_phone in (await db.execute(select(Provider.phone))).scalars():
            if provider_phone:
                numbers[provider_phone] = {"kind": "provider", "elder_id": None, "priority": 0,
                                           "reason": ""}
        for staff_phone in (await db.execute(select(ProviderStaff.phone))).scalars():
            if staff_phone:
                numbers[staff_phone] = {"kind": "provider", "elder_id": None, "priority": 0,
                                        "reason": ""}
        contacts = await db.execute(
            select(Contact.phone, Contact.elder_id).order_by(Contact.priority.desc()))
        for phone, elder_id in contacts:
            numbers[phone] = {"kind": "kin", "elder_id": elder_id, "priority": 0, "reason": ""}
        for phone, elder_id in await db.execute(select(ElderPhone.number, ElderPhone.elder_id)):
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
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(content, handle, ensure_ascii=False, separators=(",", ":"))
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
