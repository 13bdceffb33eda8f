"""The routing snapshot is built without holding the event loop for the whole directory."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select

from ari_apps.hotline.snapshot import build_snapshot, each_row
from callcenter.crypto import FieldCipher
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from callcenter.store.models import ContactRole, ElderPhone
from tests.factories import ContactSpec, make_area, make_elder

PHONES = 1200
CHUNK = 100


async def test_a_large_directory_is_read_in_chunks_other_work_runs_between(
    sessions: SessionFactory, settings: Settings, cipher: FieldCipher
) -> None:
    """Every minute the snapshot reads every known number. Read whole, a directory of
    3 000 elders held the loop 13 ms at a time (screen-pops and call events waited
    behind it; ten times that for a district of 30 000): now at most CHUNK rows are
    handled between two chances for other work to run."""
    async with sessions.begin() as session:
        area = await make_area(session, "120104", "南开区")
        elder = await make_elder(session, cipher, area, "王秀英",
                                 phones=[f"139{n:08d}" for n in range(PHONES)],
                                 contacts=[ContactSpec(ContactRole.KIN, "王强", "13800000001")])
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)  # one turn of the loop: other work's chance to run

    running = asyncio.create_task(ticker())
    try:
        # Rows of one statement, read as the snapshot reads each: the ticker moves on
        # at least once every CHUNK rows.
        async with sessions() as db:
            seen = [ticks async for _row in each_row(
                db, select(ElderPhone.number).order_by(ElderPhone.number), CHUNK)]
        content = await build_snapshot(sessions, settings, datetime.now(UTC), chunk=CHUNK)
    finally:
        running.cancel()
    assert len(seen) == PHONES
    assert all(seen[n + CHUNK] > seen[n] for n in range(PHONES - CHUNK))
    numbers = content["numbers"]
    assert len(numbers) == PHONES + 1
    assert numbers["13900000007"] == {"kind": "elder", "elder_id": elder.id, "priority": 0,
                                      "reason": ""}
    assert numbers["13800000001"]["kind"] == "kin"
