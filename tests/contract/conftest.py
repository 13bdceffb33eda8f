"""The contract suite runs on the PBX simulator, or on a real Asterisk when configured."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlparse

import pytest

from callcenter.pbxsim.server import PbxSimulator
from contract.wire import AmiClient, AriClient

REAL = os.environ.get("CALLCENTER_TEST_ASTERISK") == "1"


@dataclass
class Pbx:
    """What a contract test needs: addresses, credentials and a way to let time pass."""

    ari_url: str
    ari_user: str
    ari_password: str
    ami_host: str
    ami_port: int
    ami_user: str
    ami_secret: str
    sim: PbxSimulator | None

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` of PBX time pass (instant on the simulator's manual clock)."""
        if self.sim is not None:
            await self.sim.advance(seconds)
        else:
            import asyncio

            await asyncio.sleep(seconds)  # a real Asterisk runs on real time

    async def tick(self) -> None:
        """A small step of PBX time, used while waiting for an event."""
        await self.advance(0.25)


@pytest.fixture
async def pbx(tmp_path: object) -> AsyncIterator[Pbx]:
    """A simulator on free loopback ports, or the configured real Asterisk."""
    if REAL:
        env = os.environ
        url = env.get("CALLCENTER_ARI_URL", "http://127.0.0.1:8088")
        yield Pbx(url, env.get("CALLCENTER_ARI_USER", "callcenter"),
                  env.get("CALLCENTER_ARI_PASSWORD", "callcenter"),
                  env.get("CALLCENTER_AMI_HOST", urlparse(url).hostname or "127.0.0.1"),
                  int(env.get("CALLCENTER_AMI_PORT", "5038")),
                  env.get("CALLCENTER_AMI_USER", "callcenter"),
                  env.get("CALLCENTER_AMI_SECRET", "callcenter"), None)
        return
    sim = PbxSimulator(ari_port=0, ami_port=0, control_port=0, speed=None,
                       agi_url="agi://127.0.0.1:0/route?lang=zh")
    async with sim:
        yield Pbx(sim.ari_url, sim.user, sim.password, sim.host, sim.ami_port, sim.user,
                  sim.password, sim)


@pytest.fixture
async def ari(pbx: Pbx) -> AsyncIterator[AriClient]:
    """An ARI client with the ``callcenter`` app's WebSocket open."""
    client = AriClient(pbx.ari_url, pbx.ari_user, pbx.ari_password)
    await client.connect()
    if pbx.sim is not None:
        await pbx.advance(0)
    yield client
    await client.close()
    assert not client.problems, client.problems  # every event matched the API models


@pytest.fixture
async def ami(pbx: Pbx) -> AsyncIterator[AmiClient]:
    """A logged-in AMI client."""
    client = AmiClient(pbx.ami_host, pbx.ami_port, pbx.ami_user, pbx.ami_secret)
    await client.connect()
    yield client
    await client.close()
