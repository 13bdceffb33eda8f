"""The SOS benchmark's setting: a fresh store of demo elders, and the PBX simulator."""

from __future__ import annotations

import asyncio
import re
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text
from sqlalchemy.engine import make_url

from callcenter.crypto import FieldCipher
from callcenter.demo_data import generate
from callcenter.passwords import Passwords
from callcenter.store import create_engine, migrate, session_factory

SECRET = "bench-secret-key-0123456789abcdef0123456789"
POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


# -- the store -------------------------------------------------------------------------------


def prepare_store(kind: str, database: str, elders: int, workdir: Path) -> str:
    """A fresh, migrated store with ``elders`` demo elders; returns its URL."""
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    else:
        admin = make_url(POSTGRES)

        async def recreate() -> None:
            engine = create_engine(admin.render_as_string(hide_password=False),
                                   isolation_level="AUTOCOMMIT")
            try:
                async with engine.connect() as conn:
                    await conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
                    await conn.execute(text(f'CREATE DATABASE "{database}"'))
            finally:
                await engine.dispose()

        asyncio.run(recreate())
        url = admin.set(database=database).render_as_string(hide_password=False)
    migrate.upgrade(url)

    async def seed() -> None:
        engine = create_engine(url)
        try:
            await generate(session_factory(engine), FieldCipher(SECRET.encode()),
                           Passwords(time_cost=1, memory_cost=8192), elders=elders)
        finally:
            await engine.dispose()

    asyncio.run(seed())
    return url


# -- the simulator -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Simulator:
    """The PBX simulator, in a subprocess (default) or in this process."""

    def __init__(self, inprocess: bool) -> None:
        self.inprocess = inprocess
        self.ari_url = ""
        self.control_url = ""
        self._process: asyncio.subprocess.Process | None = None
        self._sim: Any = None
        self._http: aiohttp.ClientSession | None = None
        self._drain: asyncio.Task[bytes] | None = None

    async def start(self) -> None:
        if self.inprocess:
            from callcenter.pbxsim.server import PbxSimulator

            self._sim = PbxSimulator(ari_port=0, ami_port=0, control_port=0, speed=1.0)
            await self._sim.start()
            self.ari_url, self.control_url = self._sim.ari_url, self._sim.control_url
            return
        ari, ami, control = (f"127.0.0.1:{_free_port()}" for _ in range(3))
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "callcenter", "pbxsim", "--ari-bind", ari,
            "--ami-bind", ami, "--control-bind", control, "--speed", "1",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )
        assert self._process.stdout is not None
        async with asyncio.timeout(30):
            line = (await self._process.stdout.readline()).decode()  # its address line
        found = re.search(r"ARI (\S+) .* control (\S+)", line)
        if found is None:
            raise RuntimeError(f"pbxsim did not start: {line!r}")
        self.ari_url, self.control_url = found.group(1), found.group(2)
        # Keep reading its output, or a full pipe would stall the simulator.
        self._drain = asyncio.get_running_loop().create_task(
            self._process.stdout.read(), name="pbxsim-output")
        self._http = aiohttp.ClientSession()

    async def press(self, number: str) -> None:
        """An elder presses SOS: a call from ``number`` enters Stasis(callcenter,sos)."""
        if self._sim is not None:
            self._sim.dialplan.inbound(number, "12349", app="callcenter", args=["sos"])
            return
        assert self._http is not None
        async with asyncio.timeout(10), self._http.post(
            f"{self.control_url}/control/calls",
            json={"from": number, "to": "12349", "app": "callcenter", "args": ["sos"]},
        ) as response:
            response.raise_for_status()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self._sim is not None:
            await self._sim.stop()
        if self._process is not None:
            self._process.terminate()
            await self._process.wait()
        if self._drain is not None:
            await self._drain
