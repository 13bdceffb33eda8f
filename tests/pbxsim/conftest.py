"""The simulator and a wire-level ARI client on it, shared by the simulator's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from callcenter.pbxsim.server import PbxSimulator
from pbxsim.wire import AriClient


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    async with PbxSimulator(ari_port=0, ami_port=0, control_port=0, speed=None) as s:
        yield s


@pytest.fixture
async def ari(sim: PbxSimulator) -> AsyncIterator[AriClient]:
    client = AriClient(sim.ari_url, "callcenter", "callcenter")
    await client.connect()
    await sim.advance(0)
    yield client
    await client.close()
    assert not client.problems, client.problems
