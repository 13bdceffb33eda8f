"""Helpers of the device alarm tests: alarms, a device on MQTT, the product's subscriber."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import aiomqtt
import orjson
from aiohttp.test_utils import TestServer

from ari_apps.alarms.http import install_web
from ari_apps.alarms.mqtt import BrokerAddress, Intake, MqttAlarms
from ari_apps.alarms.services import AlarmIntake
from callcenter.bus import MemoryBus
from callcenter.runtime import open_runtime
from callcenter.settings import Settings
from tests.sos.conftest import DEVICE, SosHarness
from webui import create_app

BROKER = BrokerAddress("127.0.0.1", 1883)
WAIT = 10.0


def alarm(kind: str = "sos", alarm_id: str = "a-1", **extra: Any) -> dict[str, Any]:
    return {"type": kind, "id": alarm_id, "at": datetime.now(UTC).isoformat(), **extra}


def nothing_started(sos: SosHarness) -> bool:
    return not sos.app.conferences and not sos.sim.model.channels and not sos.published


#: A device's POST /api/alarms: (body, device=, bearer=, raw=) -> (status, answer).
Post = Callable[..., Awaitable[tuple[int, dict[str, Any]]]]


class Clock:
    """The intake's clock, moved by hand: lockouts end without sleeping."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@contextlib.asynccontextmanager
async def serve_alarms(
    settings: Settings, intake: AlarmIntake | None
) -> AsyncIterator[aiohttp.ClientSession]:
    """The console with the alarm feature, and a device's HTTP client (no cookies, no CSRF)."""
    async with open_runtime(settings, bus=MemoryBus()) as runtime:
        app = create_app(runtime, features=[lambda app: install_web(app, intake)])
        async with TestServer(app) as server, aiohttp.ClientSession(
            base_url=server.make_url("")
        ) as client:
            yield client


def poster(http: aiohttp.ClientSession, token: str) -> Post:
    """POST /api/alarms as device ``DEVICE`` with ``token`` unless told otherwise."""

    async def send(body: Any, *, device: str = DEVICE, bearer: str | None = None,
                   raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {bearer or token}", "X-Device-Id": device,
                   "Content-Type": "application/json"}
        data = raw if raw is not None else orjson.dumps(body)
        async with http.post("/api/alarms", data=data, headers=headers) as response:
            return response.status, await response.json()

    return send


class Device:
    """A device on MQTT: publishes alarms, reads the acks."""

    def __init__(self, client: aiomqtt.Client, root: str) -> None:
        self.client = client
        self.root = root

    async def send(self, payload: bytes | dict[str, Any], device: str = DEVICE) -> dict[str, Any]:
        raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        await self.client.publish(f"{self.root}/{device}/alarm", raw, qos=1)
        async with asyncio.timeout(WAIT):
            async for message in self.client.messages:
                assert isinstance(message.payload, bytes)
                ack: dict[str, Any] = orjson.loads(message.payload)
                return ack
        raise AssertionError("no ack")


@contextlib.asynccontextmanager
async def device_on(address: BrokerAddress, root: str) -> AsyncIterator[Device]:
    async with aiomqtt.Client(address.host, address.port) as client:
        await client.subscribe(f"{root}/+/alarm/ack", qos=1)
        yield Device(client, root)


@contextlib.asynccontextmanager
async def subscriber(address: BrokerAddress, intake: Intake, root: str, **options: Any
                     ) -> AsyncIterator[MqttAlarms]:
    alarms = MqttAlarms(address, intake, topic_root=root, backoff=(0.05, 0.5), **options)
    alarms.start()
    try:
        await asyncio.wait_for(alarms.wait_connections(1), WAIT)
        yield alarms
    finally:
        await alarms.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def private_broker(port: int) -> AsyncIterator[None]:
    """``mosquitto -p PORT``, up once it says it is running; killed on exit."""
    process = await asyncio.create_subprocess_exec(
        "mosquitto", "-p", str(port), stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    try:
        async with asyncio.timeout(WAIT):
            while b" running" not in (line := await process.stderr.readline()):
                assert line, "mosquitto exited"
        yield
    finally:
        process.kill()
        await process.wait()

