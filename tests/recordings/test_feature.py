"""The feature in a composed ``calls`` process on the simulator: ``recording.ready`` on the bus
(as SOS publishes it), a MixMonitor file announced by AMI ``MixMonitorStop``, live AMI ``Cdr``
events and Asterisk's CDR file reconciled into call records, the daily sweep on the scheduler."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from callcenter.bus import BusMessage, MemoryBus
from callcenter.calls.models import Call
from callcenter.composition import open_product
from callcenter.pbxsim.server import PbxSimulator
from callcenter.scheduler import TimerState
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from recordings.keys import HOLDS, RECORDINGS
from recordings.models import Recording
from recordings.services import SWEEP_KIND
from tests.recordings.support import make_call, wav_bytes

WAIT = 10.0
CDR_LINE = ('"1795295642.163","1795295642.163","13800138001","hotline","queue-entry","Queue",'
            '"hotline,,,,60","2025-03-01 09:30:00","2025-03-01 09:30:04","2025-03-01 09:31:10",'
            '"66","ANSWERED"\n')


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[PbxSimulator]:
    async with PbxSimulator(ari_port=0, ami_port=0, control_port=0, speed=None,
                            recordings_dir=tmp_path / "asterisk") as started:
        yield started


def _configured(rsettings: Settings, sim: PbxSimulator, tmp_path: Path) -> Settings:
    csv = tmp_path / "Master.csv"
    csv.write_text(CDR_LINE)
    return rsettings.model_copy(update={"ari_url": sim.ari_url, "ami_port": sim.ami_port,
                                        "cdr_csv": csv})


async def test_a_calls_process_captures_from_the_bus_and_the_spool_and_reconciles_cdrs(
    rsettings: Settings, sim: PbxSimulator, sessions: SessionFactory, tmp_path: Path,
) -> None:
    configured = _configured(rsettings, sim, tmp_path)
    async with sessions.begin() as session:
        await make_call(session, "q-1", datetime(2025, 3, 2, 1, tzinfo=UTC), agent="agent1")
    async with open_product(configured, frozenset({"calls"}), bus=MemoryBus()) as host:
        assert host.cluster is not None and host.get(HOLDS) is not None
        async with asyncio.timeout(WAIT):
            await host.cluster.ami["default"].wait_connected()
        # Asterisk's CDR file: the call that ended while no product ran is a call record now.
        async with sessions() as session:
            missed = await session.get(Call, "1795295642.163")
        assert missed is not None and missed.kind == "hotline" and missed.talk_seconds == 66
        # In the zone Asterisk wrote it in: the simulated host's, UTC (its ARI says +0000).
        assert missed.started_at == datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
        assert missed.details["source"] == "cdr"

        stored = await host.runtime.bus.subscribe("recording.stored")
        # SOS's event, as it publishes it.
        file = sim.media.stored_path("sos-i1")
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(wav_bytes(1.5))
        await host.runtime.bus.publish(BusMessage(
            "recording.ready", {"name": "sos-i1", "node": "default", "incident": "i1"}))

        async def taken(name: str) -> Recording:
            async with asyncio.timeout(WAIT):
                message = await anext(aiter(stored))
            async with sessions() as session:
                row = (await session.execute(select(Recording).where(
                    Recording.serial == message.payload["serial"]))).scalar_one()
            assert row.name == name
            return row

        sos = await taken("sos-i1")
        assert sos.state == "stored" and sos.incident_id == "i1"

        # A queue call's MixMonitor file, announced by AMI once it is complete.
        spool = configured.recordings_spool
        assert spool is not None
        (spool / "q-1.wav").write_bytes(wav_bytes(2.0, tone=600))
        sim.model.ami_event("MixMonitorStop", {"Channel": "PJSIP/trunk-00000001",
                                               "Uniqueid": "q-1", "Linkedid": "q-1"})
        queue = await taken("q-1.wav")
        assert queue.state == "stored" and queue.call_id == "q-1" and queue.agent == "agent1"

        # A live Cdr event of a call nobody wrote (applied after its grace period).
        heard = asyncio.Event()
        host.cluster.on_ami("Cdr", lambda event: heard.set())
        sim.model.ami_event("Cdr", {"Source": "13900139003", "Destination": "hotline",
                                    "DestinationContext": "queue-entry", "LastApplication": "Queue",
                                    "StartTime": "2025-03-02 10:00:00", "EndTime":
                                    "2025-03-02 10:01:00", "BillableSeconds": "50",
                                    "Disposition": "ANSWERED", "UniqueID": "1795300000.1",
                                    "LinkedID": "1795300000.1"})
        recordings = host.get(RECORDINGS)
        assert recordings is not None

        async with asyncio.timeout(WAIT):
            await heard.wait()
        assert await recordings.cdr.flush(everything=True) == 1
        timers = await host.scheduler.timers(kind=SWEEP_KIND)
        assert [t.state for t in timers] == [TimerState.PENDING.value]
        assert timers[0].due_at == recordings.next_sweep(datetime.now(UTC)).replace(microsecond=0)

    # Started again: the CDR file is read from where it stopped; nothing is written twice.
    async with open_product(configured, frozenset({"calls"}), bus=MemoryBus()):
        async with sessions() as session:
            calls = (await session.execute(select(Call.id))).scalars().all()
    assert sorted(calls) == ["1795295642.163", "1795300000.1", "q-1"]


async def test_the_daily_sweep_runs_on_the_scheduler_and_arms_the_next_one(
    rsettings: Settings, sim: PbxSimulator, sessions: SessionFactory, tmp_path: Path,
) -> None:
    configured = _configured(rsettings, sim, tmp_path)
    async with open_product(configured, frozenset({"calls"}), bus=MemoryBus()) as host:
        recordings = host.get(RECORDINGS)
        assert recordings is not None
        host.scheduler.start()
        ran = asyncio.Event()
        handler = host.scheduler._handlers[SWEEP_KIND]  # noqa: SLF001 - wrap to see it run

        async def watched(timer: object) -> None:
            await handler(timer)  # type: ignore[arg-type]
            ran.set()

        host.scheduler._handlers[SWEEP_KIND] = watched  # noqa: SLF001
        await host.scheduler.schedule(SWEEP_KIND, "daily", datetime.now(UTC))
        host.scheduler.wake()
        async with asyncio.timeout(WAIT):
            await ran.wait()
        await host.scheduler.drain()
        (timer,) = await host.scheduler.timers(kind=SWEEP_KIND)
        assert timer.state == TimerState.PENDING.value
        assert timer.due_at == recordings.next_sweep(datetime.now(UTC))
    async with sessions() as session:
        from recordings.models import SweepRun

        runs = (await session.execute(select(SweepRun))).scalars().all()
    assert len(runs) == 1 and runs[0].report["complete"] is True
