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
    """Another process's subscriber gets, in order, what was published while Redis was away;
    the publishing process's own subscriber has had it all along, once."""
    server = _start_redis(redis_port)
    url = f"redis://127.0.0.1:{redis_port}/0"
    bus, other = RedisBus(url), RedisBus(url)
    try:
        subscription = await other.subscribe("care.*")
        own = await bus.subscribe("care.*")
        await bus.publish(BusMessage("care.before", {"n": 0}))
        async with asyncio.timeout(5):
            assert (await anext(aiter(subscription))).topic == "care.before"
            assert (await anext(aiter(own))).topic == "care.before"

        server.terminate()
        server.wait()
        for n in range(1, 4):  # never raises while Redis is away
            await bus.publish(BusMessage("care.during", {"n": n}))
        assert bus.pending == 3
        async with asyncio.timeout(5):  # this process hears itself without Redis
            assert [(await anext(aiter(own))).payload["n"] for _ in range(3)] == [1, 2, 3]

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
        await bus.publish(BusMessage("care.after", {"n": 4}))
        async with asyncio.timeout(5):  # its own messages came back from Redis: not again
            assert (await anext(aiter(own))).topic == "care.after"
    finally:
        await other.close()
        await bus.close()
        server.terminate()
        server.wait()


@pytest.mark.redis
async def test_a_process_hears_its_own_message_before_redis_has_it() -> None:
    """The publishing process's subscribers get the message within the publish call itself
    (no stream round trip), and the process's reader does not deliver it a second time."""
    bus, other = RedisBus(REDIS_URL), RedisBus(REDIS_URL)
    try:
        own, remote = await bus.subscribe("pop.*"), await other.subscribe("pop.*")
        await bus.publish(BusMessage("pop.local", {"n": 1}))
        assert own._queue.qsize() == 1  # delivered during publish, before any read
        await other.publish(BusMessage("pop.remote", {"n": 0}))
        async with asyncio.timeout(5):
            assert (await anext(aiter(own))).topic == "pop.local"
            assert (await anext(aiter(own))).topic == "pop.remote"
            assert {(await anext(aiter(remote))).topic for _ in range(2)} == {"pop.local", "pop.remote"}
        await bus.publish(BusMessage("pop.last", {"n": 2}))
        async with asyncio.timeout(5):
            assert (await anext(aiter(remote))).topic == "pop.last"
            assert (await anext(aiter(own))).topic == "pop.last"  # not pop.local again
    finally:
        await other.close()
        await bus.close()
