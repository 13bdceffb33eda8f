"""Live CDRs survive a crash: each AMI ``Cdr`` event is in ``cdr_events`` the moment it is
heard, applied to the call records after the grace period, and a start applies whatever a
killed process left there."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from callcenter.bus import MemoryBus
from callcenter.calls.models import Call
from callcenter.composition import open_product
from callcenter.pbxsim.server import PbxSimulator
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from recordings.cdr import utc_offset
from recordings.models import CdrEvent
from recordings.services import Recordings
from tests.recordings.conftest import Clock
from tests.recordings.support import make_call

WAIT = 10.0


def cdr(linkedid: str, uniqueid: str | None = None, source: str = "13900139003") -> dict[str, str]:
    """A Cdr event as cdr_manager sends it with the rendered [mappings] (LinkedID)."""
    return {"Event": "Cdr", "Source": source, "Destination": "12349",
            "DestinationContext": "hotline-entry", "LastApplication": "Queue",
            "LastData": "hotline,t,,,300", "StartTime": "2025-03-02 10:00:00",
            "AnswerTime": "2025-03-02 10:00:08", "EndTime": "2025-03-02 10:01:00",
            "BillableSeconds": "52", "Disposition": "ANSWERED",
            "UniqueID": uniqueid or linkedid, "LinkedID": linkedid}


async def counts(sessions: SessionFactory) -> tuple[list[str], int]:
    async with sessions() as session:
        calls = sorted((await session.execute(select(Call.id))).scalars())
        events = (await session.execute(select(func.count()).select_from(CdrEvent))).scalar_one()
    return calls, events


async def test_a_cdr_is_kept_from_arrival_and_applied_after_the_grace_period(
    build: Callable[..., Recordings], rclock: Clock, sessions: SessionFactory,
) -> None:
    recordings = build()
    await recordings.cdr.on_cdr(cdr("1795300000.1"))
    await recordings.cdr.on_cdr(cdr("1795300000.1", "1795300000.2", source="7001"))  # agent leg
    assert await counts(sessions) == ([], 1)  # kept at once; a later channel never makes a row
    assert await recordings.cdr.flush() == 0  # the feature that handled it writes first
    rclock.advance(minutes=2)
    assert await recordings.cdr.flush() == 1
    assert await counts(sessions) == (["1795300000.1"], 0)
    async with sessions() as session:
        call = await session.get(Call, "1795300000.1")
    assert call is not None and call.talk_seconds == 52 and call.details["source"] == "cdr"


async def test_a_cdr_of_a_call_already_recorded_changes_nothing_and_is_cleared(
    build: Callable[..., Recordings], rclock: Clock, sessions: SessionFactory,
) -> None:
    recordings = build()
    async with sessions.begin() as session:
        await make_call(session, "q-9", datetime(2025, 3, 2, 2, tzinfo=UTC), agent="agent1")
    await recordings.cdr.on_cdr(cdr("q-9"))
    rclock.advance(minutes=3)
    assert await recordings.cdr.flush() == 0
    assert await counts(sessions) == (["q-9"], 0)
    async with sessions() as session:
        call = await session.get(Call, "q-9")
    assert call is not None and call.agent == "agent1" and "cdr" not in call.details


async def test_cdrs_heard_by_a_killed_process_are_call_records_after_the_next_start(
    build: Callable[..., Recordings], sessions: SessionFactory,
) -> None:
    first = build()
    for n in range(3):
        await first.cdr.on_cdr(cdr(f"1795300000.{n}"))
    del first  # killed: nothing flushed, nothing closed
    assert await counts(sessions) == ([], 3)
    second = build()  # the clock has not moved: the grace period is not what holds them
    assert await second.cdr.flush(everything=True) == 3  # what a start runs
    assert await counts(sessions) == (["1795300000.0", "1795300000.1", "1795300000.2"], 0)


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[PbxSimulator]:
    async with PbxSimulator(ari_port=0, ami_port=0, control_port=0, speed=None,
                            recordings_dir=tmp_path / "asterisk") as started:
        yield started


async def heard_then_stopped(configured: Settings, sim: PbxSimulator, sessions: SessionFactory,
                             *cdrs: dict[str, str]) -> None:
    """A calls process hears ``cdrs`` on AMI, keeps them, and stops within the grace
    period (before applying them)."""
    async with open_product(configured, frozenset({"calls"}), bus=MemoryBus()) as host:
        assert host.cluster is not None
        ami = host.cluster.ami["default"]
        async with asyncio.timeout(WAIT):
            await ami.wait_connected()
        for event in cdrs:
            sim.model.ami_event("Cdr", event)
        async with asyncio.timeout(WAIT):
            while (await counts(sessions))[1] < len(cdrs):
                await ami.dispatcher.drain()


async def test_a_calls_process_stopped_before_applying_its_cdrs_loses_none(
    rsettings: Settings, sim: PbxSimulator, sessions: SessionFactory,
) -> None:
    configured = rsettings.model_copy(update={"ari_url": sim.ari_url, "ami_port": sim.ami_port})
    # The simulated Asterisk ends calls: their CDRs (with LinkedID) go out on AMI.
    await heard_then_stopped(configured, sim, sessions, cdr("1795300000.7"), cdr("1795300000.8"))
    # Stopped inside the grace period: not applied, but not lost either.
    assert await counts(sessions) == ([], 2)
    async with open_product(configured, frozenset({"calls"}), bus=MemoryBus()):
        assert await counts(sessions) == (["1795300000.7", "1795300000.8"], 0)


async def test_cdr_times_are_read_in_the_zone_asterisk_writes_them_in(
    rsettings: Settings, sim: PbxSimulator, sessions: SessionFactory,
) -> None:
    """Asterisk writes CDR times in its host's zone (``/etc/localtime``), here UTC, as its
    ARI timestamps say (``+0000``); the centre's TIME_ZONE is Beijing's. Read as Beijing's,
    a call at 10:00 was stored at 02:00 UTC (8 hours early, on a real Asterisk too)."""
    assert rsettings.time_zone == "Asia/Shanghai"
    configured = rsettings.model_copy(update={"ari_url": sim.ari_url, "ami_port": sim.ami_port})
    await heard_then_stopped(configured, sim, sessions, cdr("1795300000.9"))
    async with open_product(configured, frozenset({"calls"}), bus=MemoryBus()):
        async with sessions() as session:
            call = await session.get(Call, "1795300000.9")
    assert call is not None
    assert (call.started_at, call.answered_at, call.ended_at) == (
        datetime(2025, 3, 2, 10, 0, 0, tzinfo=UTC), datetime(2025, 3, 2, 10, 0, 8, tzinfo=UTC),
        datetime(2025, 3, 2, 10, 1, 0, tzinfo=UTC))


@pytest.mark.parametrize(("stamp", "hours"), [
    ("2026-12-01T17:31:48.107+0000", 0.0), ("2026-12-01T17:31:48.107+0800", 8.0),
    ("2026-12-01T17:31:48.107-0330", -3.5), ("2026-12-01T17:31:48.107+9900", None),
    ("2026-12-01T17:31:48.107Z", None), ("", None), (None, None), ("+08:00", None)])
def test_the_utc_offset_of_an_ari_timestamp(stamp: object, hours: float | None) -> None:
    offset = utc_offset(stamp)
    assert (None if offset is None else offset.total_seconds() / 3600) == hours
