"""Bus delivery on the in-process and Redis implementations, and Redis outages."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator

import pytest

from callcenter.bus import Bus, BusMessage, MemoryBus
from callcenter.bus.redis import RedisBus
from tests.conftest import REDIS_URL


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    instance: Bus = MemoryBus() if request.param == "memory" else RedisBus(REDIS_URL)
    await instance.start()
    try:
        yield instance
    finally:
        await instance.close()


async def _collect(bus: Bus, pattern: str, count: int) -> list[BusMessage]:
    subscription = await bus.subscribe(pattern)
    received: list[BusMessage] = []
    try:
        async with asyncio.timeout(5):
            async for message in subscription:
                received.append(message)
                if len(received) == count:
                    break
    finally:
        await subscription.close()
    return received


async def test_subscriber_receives_matching_topics_in_order(bus: Bus) -> None:
    subscription = await bus.subscribe("sos.*")
    messages = [
        BusMessage("sos.started", {"n": 1}, {"roles": ["agent"]}),
        BusMessage("queue.changed", {"n": 2}),
        BusMessage("sos.leg", {"n": 3}),
    ]
    for message in messages:
        await bus.publish(message)
    got: list[BusMessage] = []
    async with asyncio.timeout(5):
        async for message in subscription:
            got.append(message)
            if len(got) == 2:
                break
    await subscription.close()
    assert [m.topic for m in got] == ["sos.started", "sos.leg"]
    assert got[0].audience == {"roles": ["agent"]}
    assert got[1].payload == {"n": 3}


async def test_every_subscriber_gets_its_own_copy(bus: Bus) -> None:
    first = await bus.subscribe("*")
    second = await bus.subscribe("*")
    await bus.publish(BusMessage("agent.state", {"agent": "a1"}))
    for subscription in (first, second):
        async with asyncio.timeout(5):
            message = await anext(aiter(subscription))
        assert message.payload == {"agent": "a1"}
        await subscription.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def redis_port() -> Iterator[int]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed")
    yield _free_port()


def _start_redis(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    for line in process.stdout:  # wait for readiness on its own log, not a sleep
        if b"Ready to accept connections" in line:
            return process
    raise RuntimeError("redis-server did not start")


@pytest.mark.redis
async def test_redis_outage_loses_nothing_published(redis_port: int) -> None:
    server = _start_redis(redis_port)
    bus = RedisBus(f"redis://127.0.0.1:{redis_port}/0")
    try:
        subscription = await bus.subscribe("care.*")
        await bus.publish(BusMessage("care.before", {"n": 0}))
        async with asyncio.timeout(5):
            assert (await anext(aiter(subscription))).topic == "care.before"

        server.terminate()
        server.wait()
        for n in range(1, 4):  # never raises while Redis is away
            await bus.publish(BusMessage("care.during", {"n": n}))
        assert bus.pending == 3

        server = _start_redis(redis_port)
        got = []
        async with asyncio.timeout(15):
            async for message in subscription:
                got.append(message.payload["n"])
                if len(got) == 3:
                    break
        assert got == [1, 2, 3]
        await bus.flushed()
        assert bus.pending == 0
        await subscription.close()
    finally:
        await bus.close()
        server.terminate()
        server.wait()
