"""The PBX simulator: model, ARI, AMI and control API on loopback ports."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from callcenter.pbxsim import ari_ws
from callcenter.pbxsim.agi import AgiClient
from callcenter.pbxsim.ami import AmiSession
from callcenter.pbxsim.ari_rest import SIM_KEY, ari_middleware, routes
from callcenter.pbxsim.calls import Calls
from callcenter.pbxsim.clock import SimClock
from callcenter.pbxsim.control import control_app
from callcenter.pbxsim.dialplan import Dialplan
from callcenter.pbxsim.faults import Faults
from callcenter.pbxsim.media import Media
from callcenter.pbxsim.model import Model
from callcenter.pbxsim.people import Directory, Person
from callcenter.pbxsim.queues import Queues
from callcenter.pbxsim.transfers import AttendedTransfers


class PbxSimulator:
    """A simulated Asterisk 22 (the subset the product uses); start, use, stop."""

    def __init__(self, *, host: str = "127.0.0.1", ari_port: int = 8088, ami_port: int = 5038,
                 control_port: int = 8089, user: str = "callcenter", password: str = "callcenter",
                 speed: float | None = 1.0, recordings_dir: Path | None = None,
                 agi_url: str = "agi://127.0.0.1:4573/route?lang=zh") -> None:
        self.host = host
        self.ports = {"ari": ari_port, "ami": ami_port, "control": control_port}
        self.user, self.password = user, password
        self.clock = SimClock(speed)
        self.model = Model(self.clock)
        self.directory = Directory()
        self.calls = Calls(self.model, self.directory)
        self.faults = Faults(self.clock.sleep)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if recordings_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="pbxsim-rec-")
            recordings_dir = Path(self._tmp.name)
        self.media = Media(self.model, recordings_dir)
        self.calls.detach_hooks.append(self.media.on_detach)
        self.dialplan = Dialplan(self.model, self.calls, agi_url)
        self.dialplan.hotline.media = self.media
        self.dialplan.hotline.spool = recordings_dir / "monitor"  # Asterisk's own, by default
        self.queues = Queues(self.model, self.calls)
        self.dialplan.queues = self.queues
        self.transfers = AttendedTransfers(self.model, self.calls, self.queues,
                                           self.dialplan.run_extension)
        self.dialplan.agi = AgiClient(self.model)
        self.hub = ari_ws.EventHub(self)
        self.model.sinks.append(self.hub.on_event)
        self._runners: list[web.AppRunner] = []
        self._ami_server: asyncio.Server | None = None
        self._ami_tasks: set[asyncio.Task[None]] = set()
        self._ami_sessions: set[AmiSession] = set()

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Listen on the ARI, AMI and control ports (0 picks a free port)."""
        ari = web.Application(middlewares=[ari_middleware])
        ari[SIM_KEY] = self
        ari.add_routes(routes())
        ari_ws.attach(ari)
        self.ports["ari"] = await self._serve(ari, self.ports["ari"])
        self.ports["control"] = await self._serve(control_app(self), self.ports["control"])
        self._ami_server = await asyncio.start_server(self._ami_client, self.host, self.ports["ami"])
        self.ports["ami"] = self._ami_server.sockets[0].getsockname()[1]

    async def _serve(self, app: web.Application, port: int) -> int:
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, port)
        await site.start()
        self._runners.append(runner)
        # The runner serves this one site: its first address is the port bound.
        return int(runner.addresses[0][1])

    async def _ami_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._ami_tasks.add(task)
        session = AmiSession(self, reader, writer)
        self._ami_sessions.add(session)
        try:
            await session.serve()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._ami_sessions.discard(session)
            self._ami_tasks.discard(task)

    async def stop(self) -> None:
        """Stop serving and cancel every task."""
        await self.hub.close()
        if self._ami_server is not None:
            self._ami_server.close()
        for session in list(self._ami_sessions):
            session.drop()  # its reader sees the end: the session's task returns by itself
        await asyncio.sleep(0)
        for task in list(self._ami_tasks):
            task.cancel()
        await asyncio.gather(*self._ami_tasks, return_exceptions=True)
        await self.model.close()
        for runner in self._runners:
            await runner.cleanup()
        if self._tmp is not None:
            self._tmp.cleanup()

    async def __aenter__(self) -> PbxSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- addresses and the Python control API -------------------------------------------------
    @property
    def ari_url(self) -> str:
        """Base URL of ARI (``http://host:port``, paths start with ``/ari``)."""
        return f"http://{self.host}:{self.ports['ari']}"

    @property
    def ami_port(self) -> int:
        """The AMI TCP port."""
        return self.ports["ami"]

    @property
    def control_url(self) -> str:
        """Base URL of the control API."""
        return f"http://{self.host}:{self.ports['control']}"

    def set_registered(self, endpoint: str, registered: bool) -> None:
        """A softphone endpoint registers or goes away (queue members follow)."""
        if registered:
            self.directory.unregistered.discard(endpoint)
        else:
            self.directory.unregistered.add(endpoint)
        self.queues.registration_changed(endpoint)

    async def restart(self) -> None:
        """Asterisk restarts: AMI connections drop first, every call ends, queues forget
        their members and callers (``persistentmembers = no``); AMI logins after it get a
        fresh FullyBooted."""
        for session in list(self._ami_sessions):
            session.drop()
        await asyncio.gather(*self._ami_tasks, return_exceptions=True)
        for ch in list(self.model.channels.values()):
            if ch.task is not None:
                ch.task.cancel()
        for ch in list(self.model.channels.values()):
            self.calls.hangup(ch, 16)
        self.queues.forget()

    def set_person(self, number: str, person: Person) -> None:
        """Script who answers ``number`` (``PJSIP/<number>@trunk``)."""
        self.directory.set(number, person)

    async def advance(self, seconds: float) -> None:
        """Move the manual clock forward."""
        await self.clock.advance(seconds)

    def known_apps(self) -> set[str]:
        """Applications registered by a WebSocket or still owning channels."""
        apps = set(self.model.active_apps)
        for ch in self.model.channels.values():
            apps |= ch.apps
        return apps

    def application(self, name: str) -> dict[str, Any]:
        """The ARI Application model."""
        return {"name": name,
                "channel_ids": [c.id for c in self.model.channels.values() if name in c.apps],
                "bridge_ids": [b.id for b in self.model.bridges.values() if name in b.apps],
                "endpoint_ids": [], "device_names": [], "events_allowed": [],
                "events_disallowed": []}
