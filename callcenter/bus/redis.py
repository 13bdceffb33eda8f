"""The Redis bus: spans processes and Asterisk nodes.

It publishes on one Redis stream rather than on PUBLISH channels: plain pub/sub
drops whatever is sent while a subscriber is reconnecting, while a stream lets
each subscriber resume from the last message it saw. Redis down → publishers
queue locally, subscribers retry; when it is back nothing published is lost.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import orjson
from redis import asyncio as aioredis
from redis.exceptions import RedisError

from callcenter.bus.base import BusMessage, topic_matches
from callcenter.logs import get_logger

log = get_logger(__name__)
STREAM = "callcenter:bus"
_OP_TIMEOUT = 2.0
_BLOCK_MS = 1000
_BACKOFF_MAX = 10.0
_STREAM_MAXLEN = 100_000
_ERRORS = (RedisError, OSError, TimeoutError)


def _backoff(attempt: int) -> float:
    return min(_BACKOFF_MAX, 0.1 * 2**attempt) * (0.5 + random.random() / 2)


class RedisSubscription:
    """Reads the bus stream from where it last stopped, keeping matching topics."""

    def __init__(self, bus: RedisBus, pattern: str, last_id: str) -> None:
        self.pattern = pattern
        self._bus = bus
        self._last_id = last_id
        self._closed = asyncio.Event()

    async def __aiter__(self) -> AsyncIterator[BusMessage]:
        attempt = 0
        client = self._bus.client
        while not self._closed.is_set():
            try:
                async with asyncio.timeout(_OP_TIMEOUT + _BLOCK_MS / 1000):
                    batches: Any = await client.xread(
                        {STREAM: self._last_id}, count=500, block=_BLOCK_MS
                    )
                attempt = 0
            except _ERRORS as err:
                delay = _backoff(attempt)
                attempt += 1
                log.warning("redis bus read failed, retrying", error=str(err), retry_in=round(delay, 2))
                try:
                    async with asyncio.timeout(delay):
                        await self._closed.wait()
                except TimeoutError:
                    pass
                continue
            for _stream, entries in batches or ():
                for entry_id, fields in entries:
                    self._last_id = entry_id.decode()
                    message = _decode(fields)
                    if message is not None and topic_matches(self.pattern, message.topic):
                        yield message

    async def close(self) -> None:
        self._closed.set()
        self._bus.discard(self)


def _decode(fields: dict[bytes, bytes]) -> BusMessage | None:
    try:
        return BusMessage.from_dict(orjson.loads(fields[b"m"]))
    except (KeyError, orjson.JSONDecodeError, ValueError) as err:
        log.warning("bad bus message ignored", error=str(err))
        return None


class RedisBus:
    """Publishes JSON messages on the ``callcenter:bus`` stream.

    A publish never raises or blocks a call flow: while Redis is unreachable,
    messages wait in a bounded local queue and go out, in order, once it is back.
    """

    def __init__(self, url: str, pending_limit: int = 10_000) -> None:
        self.client = aioredis.from_url(
            url, socket_connect_timeout=_OP_TIMEOUT, socket_timeout=_OP_TIMEOUT + _BLOCK_MS / 1000
        )
        self._pending: deque[bytes] = deque(maxlen=pending_limit)
        self._flusher: asyncio.Task[None] | None = None
        self._subscriptions: set[RedisSubscription] = set()

    async def start(self) -> None:
        """Check the connection once; a failure is logged, not fatal."""
        if not await self.ping():
            log.warning("redis not reachable at start; bus messages will queue")

    async def _append(self, data: bytes) -> None:
        async with asyncio.timeout(_OP_TIMEOUT):
            await self.client.xadd(STREAM, {"m": data}, maxlen=_STREAM_MAXLEN, approximate=True)

    async def publish(self, message: BusMessage) -> None:
        data = orjson.dumps(message.to_dict())
        if not self._pending:
            try:
                await self._append(data)
                return
            except _ERRORS as err:
                log.warning("redis publish failed, queued", topic=message.topic, error=str(err))
        if len(self._pending) == self._pending.maxlen:
            log.error("bus queue full, oldest message dropped")
        self._pending.append(data)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="redis-bus-flush")

    async def _flush(self) -> None:
        attempt = 0
        while self._pending:
            try:
                await self._append(self._pending[0])
                self._pending.popleft()
                attempt = 0
            except _ERRORS:
                await asyncio.sleep(_backoff(attempt))
                attempt += 1
        log.info("redis bus caught up")

    async def flushed(self) -> None:
        """Wait until the messages queued during an outage have gone out."""
        if self._flusher is not None:
            await asyncio.shield(self._flusher)

    @property
    def pending(self) -> int:
        """Messages waiting for Redis to come back."""
        return len(self._pending)

    async def subscribe(self, pattern: str) -> RedisSubscription:
        """Deliver messages published from now on whose topic matches ``pattern``."""
        last_id = "0-0"
        try:
            async with asyncio.timeout(_OP_TIMEOUT):
                newest: Any = await self.client.xrevrange(STREAM, count=1)
            if newest:
                last_id = newest[0][0].decode()
        except _ERRORS as err:
            log.warning("redis unreachable at subscribe; reading from the start", error=str(err))
        subscription = RedisSubscription(self, pattern, last_id)
        self._subscriptions.add(subscription)
        return subscription

    def discard(self, subscription: RedisSubscription) -> None:
        self._subscriptions.discard(subscription)

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(_OP_TIMEOUT):
                return bool(await self.client.ping())
        except _ERRORS:
            return False

    async def close(self) -> None:
        for subscription in tuple(self._subscriptions):
            await subscription.close()
        if self._flusher is not None:
            self._flusher.cancel()
            try:
                await self._flusher
            except asyncio.CancelledError:
                pass
        await self.client.aclose()
