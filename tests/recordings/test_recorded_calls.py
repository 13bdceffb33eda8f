"""Every call the dialplan records, end to end on the simulator with the product composed as
``callcenter serve`` composes it: a hotline queue call and a click-to-dial call each end with
a MixMonitor file in the spool, captured, checksummed and linked to the call row; a file that
never comes, or comes empty, is flagged on its call."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ari_apps.hotline.keys import HOTLINE
from callcenter.bus import BusMessage, MemoryBus, Subscription
from callcenter.calls.models import Call
from callcenter.composition import open_product
from callcenter.demo_hotline import prepare_simulator
from callcenter.feature import Host
from callcenter.pbxsim.objects import Channel
from callcenter.pbxsim.people import Person
from callcenter.pbxsim.server import PbxSimulator
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from recordings.keys import RECORDINGS
from recordings.models import Recording
from tests.hotline.conftest import (  # noqa: F401 - the hotline's simulator and directory
    ELDER_PHONE,
    WAIT,
    Seeded,
    hotline_settings,
    seeded,
    sim,
)

OUTSIDE = "13811112222"


@asynccontextmanager
async def product(sim: PbxSimulator, rsettings: Settings, tmp_path: Path  # noqa: F811
                  ) -> AsyncIterator[tuple[Host, Subscription]]:
    """A ``calls`` process on the simulator, agent1 logged in, ``recording.stored`` heard."""
    with socket.socket() as probe:  # a free port for the product's FastAGI server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = hotline_settings(rsettings, sim, tmp_path, agi_bind=f"127.0.0.1:{port}")
    async with open_product(config, frozenset({"calls"}), bus=MemoryBus()) as host:
        assert host.cluster is not None
        async with asyncio.timeout(WAIT):
            await host.cluster.ami["default"].wait_connected()
        prepare_simulator(sim, host)
        stored = await host.runtime.bus.subscribe("recording.stored")
        await until(sim, host, host.commands.call(
            "hotline.agent", {"user": "agent1", "action": "login", "queues": ["hotline"]}))
        yield host, stored


async def until(sim: PbxSimulator, host: Host, work: Awaitable[Any]) -> Any:  # noqa: F811
    """Await ``work`` while simulated time moves on (the simulator's clock is manual), a
    quarter second at a time once the product has handled what the last one brought (else
    a loaded machine let simulated minutes pass by the product: queue timeouts, no answer)."""
    assert host.cluster is not None
    ami = host.cluster.ami["default"]
    hotline = host.get(HOTLINE)
    assert hotline is not None
    task = asyncio.ensure_future(work)
    async with asyncio.timeout(WAIT):
        while not task.done():
            await sim.advance(0.25)
            await ami.dispatcher.drain()
            await hotline.tracker.flushed()
            await asyncio.sleep(0.01)  # the work's own polls (the store) get their turn
    return task.result()


async def next_stored(sim: PbxSimulator, host: Host, stored: Subscription,  # noqa: F811
                      sessions: SessionFactory, call_id: str) -> Recording:
    """The recording row of ``call_id`` announced on ``recording.stored``."""
    async def wait() -> BusMessage:
        async for message in stored:
            if message.payload["call_id"] == call_id:
                return message
        raise AssertionError("the bus closed")

    message = await until(sim, host, wait())
    async with sessions() as session:
        return (await session.execute(select(Recording).where(
            Recording.serial == message.payload["serial"]))).scalar_one()


async def queue_call(sim: PbxSimulator, host: Host, sessions: SessionFactory,  # noqa: F811
                     talk: float = 5.0) -> tuple[Channel, Call]:
    """An elder's call through [hotline-entry], answered by agent1; the caller on the line."""
    caller = sim.dialplan.inbound(ELDER_PHONE, "12349", context="hotline-entry")

    async def answered() -> Call:
        while True:
            async with sessions() as session:
                row = await session.get(Call, caller.linkedid)
            if row is not None and row.answered_at is not None:
                return row
            await asyncio.sleep(0.05)

    row = await until(sim, host, answered())
    await sim.advance(talk)
    return caller, row


async def call_row(sessions: SessionFactory, call_id: str) -> Call:
    async with sessions() as session:
        row = await session.get(Call, call_id)
    assert row is not None
    return row


async def test_a_hotline_queue_call_is_recorded_captured_and_linked_to_its_call(
    sim: PbxSimulator, rsettings: Settings, sessions: SessionFactory,  # noqa: F811
    seeded: Seeded, tmp_path: Path,  # noqa: F811
) -> None:
    async with product(sim, rsettings, tmp_path) as (host, stored):
        caller, call = await queue_call(sim, host, sessions)
        spool = rsettings.recordings_spool
        assert spool is not None
        file = spool / f"{caller.linkedid}.wav"
        assert caller.variables["MIXMONITOR_FILENAME"] == str(file)
        sim.calls.hangup(caller, 16)
        row = await next_stored(sim, host, stored, sessions, call.id)
        recordings = host.get(RECORDINGS)
        assert recordings is not None

    assert (row.state, row.problem, row.source, row.name) == (
        "stored", None, "spool", f"{call.id}.wav")
    assert row.agent == "agent1" and row.elder_id == seeded.elder_id
    assert row.sha256 is not None
    assert recordings.store.rehash(row.sha256, row.encrypted) == row.sha256
    assert row.duration_ms >= 5000  # from before the queue to the hang-up
    assert not file.exists(), "taken: the spool's copy is removed"
    assert (await call_row(sessions, call.id)).recording_name == f"{call.id}.wav"


async def test_a_click_to_dial_call_is_recorded_captured_and_linked_to_its_call(
    sim: PbxSimulator, rsettings: Settings, sessions: SessionFactory,  # noqa: F811
    seeded: Seeded, tmp_path: Path,  # noqa: F811
) -> None:
    sim.set_person(OUTSIDE, Person(behaviour="answer", ring_seconds=2, hangup_after=6))
    async with product(sim, rsettings, tmp_path) as (host, stored):
        result = await until(sim, host, host.commands.call(
            "hotline.dial", {"user": "agent1", "number": OUTSIDE, "elder_id": seeded.elder_id}))
        call_id = result["call_id"]
        row = await next_stored(sim, host, stored, sessions, call_id)

    assert (row.state, row.problem, row.name) == ("stored", None, f"{call_id}.wav")
    assert row.agent == "agent1" and row.elder_id == seeded.elder_id
    assert row.duration_ms >= 6000  # the number rang, then talked six seconds
    call = await call_row(sessions, call_id)
    assert call.kind == "click_to_dial" and call.recording_name == f"{call_id}.wav"


async def test_a_call_transferred_out_stays_one_recording_to_its_end(
    sim: PbxSimulator, rsettings: Settings, sessions: SessionFactory,  # noqa: F811
    seeded: Seeded, tmp_path: Path,  # noqa: F811
) -> None:
    sim.set_person(OUTSIDE, Person(behaviour="answer", ring_seconds=1, hangup_after=4))
    async with product(sim, rsettings, tmp_path) as (host, stored):
        caller, call = await queue_call(sim, host, sessions, talk=3)
        await until(sim, host, host.commands.call("hotline.transfer", {
            "call": call.id, "to": "number", "target": OUTSIDE, "user": "agent1"}))
        # [hotline-transfer] → [dial-out]: record-call finds the caller recorded already.
        row = await next_stored(sim, host, stored, sessions, call.id)
        async with sessions() as session:
            rows = (await session.execute(select(Recording))).scalars().all()

    assert caller.gone
    assert [r.serial for r in rows] == [row.serial] and row.state == "stored"
    assert row.duration_ms >= 8000  # queue and talk, then ringing and talking outside


async def test_a_recording_that_never_reaches_the_spool_is_flagged_on_its_call(
    sim: PbxSimulator, rsettings: Settings, sessions: SessionFactory,  # noqa: F811
    seeded: Seeded, tmp_path: Path,  # noqa: F811
) -> None:
    async with product(sim, rsettings, tmp_path) as (host, stored):
        caller, call = await queue_call(sim, host, sessions)
        # Asterisk's MixMonitor failed (a full or unmounted spool): no file at the hang-up.
        monitor = sim.media.mixmonitors.pop(caller.id)
        monitor.path.unlink()
        sim.calls.hangup(caller, 16)
        row = await next_stored(sim, host, stored, sessions, call.id)

    assert (row.state, row.problem, row.call_id) == ("missing", "never-arrived", call.id)
    assert row.agent == "agent1"
    assert (await call_row(sessions, call.id)).recording_name == f"{call.id}.wav"


async def test_an_empty_spool_file_is_flagged_on_its_call_once_it_has_settled(
    sim: PbxSimulator, rsettings: Settings, sessions: SessionFactory,  # noqa: F811
    seeded: Seeded, tmp_path: Path,  # noqa: F811
) -> None:
    async with product(sim, rsettings, tmp_path) as (host, stored):
        caller, call = await queue_call(sim, host, sessions)
        # No audio reached MixMonitor: its file stays a bare header (as with Local channels).
        monitor = sim.media.mixmonitors.pop(caller.id)
        sim.calls.hangup(caller, 16)
        recordings = host.get(RECORDINGS)
        assert recordings is not None
        # Just closed, it may still be being written: not judged yet. Ten minutes later
        # (the file untouched since), the daily pass flags it.
        settled = time.time() - 11 * 60
        os.utime(monitor.path, (settled, settled))
        await recordings.reconcile_capture()
        row = await next_stored(sim, host, stored, sessions, call.id)

    assert (row.state, row.problem, row.call_id) == ("missing", "empty", call.id)
    assert monitor.path.exists(), "evidence is never deleted: the empty file stays"
