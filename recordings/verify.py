"""``callcenter recordings verify``: every stored recording's checksum checked again.

A file whose content no longer hashes to its name (bit rot, an edit, a sealed chunk that
no longer opens) is marked ``corrupt``; a file that is gone is marked ``missing``
(``vanished``). Both are reported by serial number. A store that is not there at all is
an error of its own, never "every recording missing".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from sqlalchemy import func, select, update

from callcenter.logs import get_logger
from callcenter.store.engine import SessionFactory
from recordings.models import Recording, RecordingState
from recordings.store import RecordingStore

log = get_logger(__name__)
BATCH = 200


@dataclass
class VerifyReport:
    checked: int = 0
    corrupted: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.corrupted and not self.missing


def _check(store: RecordingStore, sha256: str, encrypted: bool) -> str:
    """``ok``, ``missing`` or ``corrupt``."""
    try:
        return "ok" if store.rehash(sha256, encrypted) == sha256 else "corrupt"
    except FileNotFoundError:
        store.check()
        return "missing"
    except (InvalidTag, OSError, ValueError):
        return "corrupt"


async def to_verify(sessions: SessionFactory) -> int:
    """How many recordings :func:`verify` will check."""
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(Recording).where(
            Recording.sha256.is_not(None), Recording.state.in_(
                (RecordingState.STORED.value, RecordingState.CORRUPT.value))))).scalar_one())


async def verify(sessions: SessionFactory, store: RecordingStore,
                 progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Re-hash every stored (and already corrupt) recording; mark what is wrong."""
    store.check()
    report = VerifyReport()
    last = 0
    while True:
        async with sessions() as session:
            rows = (await session.execute(
                select(Recording.id, Recording.serial, Recording.sha256, Recording.encrypted)
                .where(Recording.id > last, Recording.sha256.is_not(None),
                       Recording.state.in_((RecordingState.STORED.value,
                                            RecordingState.CORRUPT.value)))
                .order_by(Recording.id).limit(BATCH))).all()
        if not rows:
            break
        last = rows[-1][0]
        for rec_id, serial, sha, encrypted in rows:
            verdict = await asyncio.to_thread(_check, store, str(sha), encrypted)
            report.checked += 1
            if verdict == "ok":
                continue
            (report.corrupted if verdict == "corrupt" else report.missing).append(serial)
            state = RecordingState.CORRUPT if verdict == "corrupt" else RecordingState.MISSING
            async with sessions.begin() as session:
                await session.execute(update(Recording).where(Recording.id == rec_id).values(
                    state=state.value,
                    problem="checksum-mismatch" if verdict == "corrupt" else "vanished"))
            log.error("recording failed verification", serial=serial, verdict=verdict)
        if progress is not None:
            progress(len(rows))
    return report
