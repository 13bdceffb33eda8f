"""Step 7: the demo's hotline traffic, through the product as ``callcenter demo`` composes
it (the hotline feature loaded by the registry): callers queue, agents answer, pause, wrap up."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from sqlalchemy import func, select

from callcenter.bus import MemoryBus
from callcenter.calls.models import AgentEvent, Call
from callcenter.composition import open_product
from callcenter.demo_hotline import HotlineTraffic, prepare_simulator, run_traffic
from callcenter.pbxsim.server import PbxSimulator
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from tests.hotline.conftest import WAIT, Seeded, hotline_settings


async def test_demo_callers_are_answered_and_demo_agents_take_breaks(
        sim: PbxSimulator, settings: Settings, sessions: SessionFactory, seeded: Seeded,
        tmp_path: Path) -> None:
    with socket.socket() as probe:  # a free port for the product's FastAGI server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = hotline_settings(settings, sim, tmp_path, agi_bind=f"127.0.0.1:{port}")
    async with open_product(config, frozenset({"calls"}), bus=MemoryBus()) as product:
        prepare_simulator(sim, product)
        traffic = HotlineTraffic(calls_every=0.3, break_every=0.5, break_seconds=0.2)
        demo = asyncio.ensure_future(run_traffic(sim, product, traffic))
        answered, paused = 0, 0
        try:
            async with asyncio.timeout(WAIT * 2):
                while answered < 2 or paused < 1:
                    await sim.advance(1)
                    await asyncio.sleep(0.05)
                    async with sessions() as db:
                        answered = (await db.execute(select(func.count()).select_from(Call)
                                                     .where(Call.answered_at.is_not(None)))
                                    ).scalar_one()
                        paused = (await db.execute(select(func.count()).select_from(AgentEvent)
                                                   .where(AgentEvent.kind == "pause"))
                                  ).scalar_one()
        finally:
            demo.cancel()
            await asyncio.gather(demo, return_exceptions=True)
    assert answered >= 2 and paused >= 1
