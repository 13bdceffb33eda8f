"""/healthz tells the truth about call control: ARI and AMI, each node."""

from __future__ import annotations

import asyncio
import socket

from callcenter.bus import MemoryBus
from callcenter.composition import health_checks, open_product
from callcenter.pbxsim.server import PbxSimulator
from callcenter.settings import Settings


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_healthz_reports_ami_as_well_as_ari(settings: Settings) -> None:
    async with PbxSimulator(ari_port=0, ami_port=0, control_port=0, speed=None) as sim:
        reachable = settings.model_copy(update={"ari_url": sim.ari_url, "ami_port": sim.ami_port})
        async with open_product(reachable, frozenset({"calls"}), bus=MemoryBus()) as host:
            assert host.cluster is not None
            async with asyncio.timeout(10):
                await host.cluster.ari["default"].wait_connected()
                await host.cluster.ami["default"].wait_connected()
            report = (await health_checks(host).run()).model_dump()
            assert report["checks"]["asterisk"]["status"] == "ok"
            assert report["checks"]["ami"]["status"] == "ok"

        no_ami = settings.model_copy(update={"ari_url": sim.ari_url, "ami_port": _closed_port()})
        async with open_product(no_ami, frozenset({"calls"}), bus=MemoryBus()) as host:
            assert host.cluster is not None
            async with asyncio.timeout(10):
                await host.cluster.ari["default"].wait_connected()
            report = (await health_checks(host).run()).model_dump()
            assert report["status"] != "ok"
            assert report["checks"]["asterisk"]["status"] == "ok"
            assert report["checks"]["ami"] == report["checks"]["ami"] | {
                "status": "error", "detail": "AMI not connected: default"}
