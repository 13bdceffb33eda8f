"""The Redis bus: spans processes and Asterisk nodes.

A message reaches this process's own subscribers at once, in memory, and the other
processes through one Redis stream (not PUBLISH channels: plain pub/sub drops whatever is
sent while a subscriber is reconnecting, while a stream lets a reader resume from the last
message it saw). Each process reads the stream once, with one reader, and skips the
messages it wrote itself (their ``o`` field names it). Redis down → this process's
subscribers still hear its own messages, publishers queue for the others, the reader
retries; when Redis is back nothing published is lost.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections import deque
from typing import Any

import orjson
from redis import asyncio as aioredis
from redis.exceptions import RedisError

from callcenter.bus.base import BusMessage, topic_matches
from callcenter.bus.memory import MemorySubscription
from callcenter.logs import get_logger

log = get_logger(__name__)
STREAM = "callcenter:bus"
_OP_TIMEOUT = 2.0
_BLOCK_MS = 1000
_BACKOFF_MAX = 10.0
_STREAM_MAXLEN = 100_000
_QUEUE_SIZE = 10_000
_BATCH = 500  # queued messages sent in one round trip
_ERRORS = (RedisError, OSError, TimeoutError)


def _backoff(attempt: int) -> float:
    return min(_BACKOFF_MAX, 0.1 * 2**attempt) * (0.5 + random.random() / 2)


def _decode(fields: dict[bytes, bytes]) -> BusMessage | None:
    try:
        return BusMessage.from_dict(orjson.loads(fields[b"m"]))
    except (KeyError, orjson.JSONDecodeError, ValueError) as err:
        log.warning("bad bus message ignored", error=str(err))
        return None


class RedisBus:
    """Publishes JSON messages on the ``callcenter:bus`` stream, and to its own subscribers.

    A publish never raises or blocks a call flow: while Redis is unreachable, messages
    wait in a bounded local queue and go out, in order, once it is back.
    """

    def __init__(self, url: str, pending_limit: int = 10_000) -> None:
        self.client = aioredis.from_url(
            url, socket_connect_timeout=_OP_TIMEOUT, socket_timeout=_OP_TIMEOUT + _BLOCK_MS / 1000
        )
        #: Names this process's entries on the stream, which its reader skips.
        self.origin = uuid.uuid4().hex.encode()
        self._pending: deque[bytes] = deque(maxlen=pending_limit)
        self._outage = False
        self._flusher: asyncio.Task[None] | None = None
        self._subscriptions: set[MemorySubscription] = set()
        # The reader blocks on a connection of its own; closing that connection is how it
        # stops (a cancelled blocking read may swallow its cancellation in redis-py).
        self._reader_client = aioredis.from_url(
            url, socket_connect_timeout=_OP_TIMEOUT, socket_timeout=_OP_TIMEOUT + _BLOCK_MS / 1000
        )
        self._reader: asyncio.Task[None] | None = None
        self._closing = False
        self._last_id = "$"

    async def start(self) -> None:
        """Check the connection once; a failure is logged, not fatal."""
        if not await self.ping():
            log.warning("redis not reachable at start; bus messages will queue")

    def _offer(self, message: BusMessage) -> None:
        for subscription in tuple(self._subscriptions):
            if topic_matches(subscription.pattern, message.topic):
                subscription.offer(message)

    async def _append(self, batch: list[bytes]) -> None:
        """Add ``batch`` to the stream, in order, in one round trip."""
        async with asyncio.timeout(_OP_TIMEOUT):
            pipe = self.client.pipeline(transaction=False)
            for data in batch:
                pipe.xadd(STREAM, {"m": data, "o": self.origin}, maxlen=_STREAM_MAXLEN,
                          approximate=True)
            await pipe.execute()

    async def publish(self, message: BusMessage) -> None:
        self._offer(message)  # this process's own subscribers: now, without the round trip
        data = orjson.dumps(message.to_dict())
        if not self._pending:
            try:
                await self._append([data])
                return
            except _ERRORS as err:
                log.warning("redis publish failed, queued", topic=message.topic, error=str(err))
                self._outage = True
        self._queue(data)

    def publish_nowait(self, message: BusMessage) -> None:
        self._offer(message)
        self._queue(orjson.dumps(message.to_dict()))  # after what is queued, before what follows

    def _queue(self, data: bytes) -> None:
        if len(self._pending) == self._pending.maxlen:
            log.error("bus queue full, oldest message dropped")
        self._pending.append(data)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="redis-bus-flush")

    async def _flush(self) -> None:
        """Send what is queued, in order, up to ``_BATCH`` entries a round trip."""
        attempt = 0
        while self._pending:
            batch = list(itertools.islice(self._pending, _BATCH))
            try:
                await self._append(batch)
                for _ in batch:
                    self._pending.popleft()
                attempt = 0
            except _ERRORS:
                self._outage = True
                await asyncio.sleep(_backoff(attempt))
                attempt += 1
        if self._outage:
            self._outage = False
            log.info("redis bus caught up")

    async def flushed(self) -> None:
        """Wait until the messages queued during an outage have gone out."""
        if self._flusher is not None:
            await asyncio.shield(self._flusher)

    @property
    def pending(self) -> int:
        """Messages waiting for Redis to come back."""
        return len(self._pending)

    async def subscribe(self, pattern: str) -> MemorySubscription:
        """Deliver messages published from now on whose topic matches ``pattern``."""
        if self._reader is None:
            try:
                async with asyncio.timeout(_OP_TIMEOUT):
                    newest: Any = await self.client.xrevrange(STREAM, count=1)
                self._last_id = newest[0][0].decode() if newest else "0-0"
            except _ERRORS as err:
                self._last_id = "0-0"
                log.warning("redis unreachable at subscribe; reading from the start",
                            error=str(err))
            self._reader = asyncio.get_running_loop().create_task(self._read(),
                                                                  name="redis-bus-reader")
        subscription = MemorySubscription(self, pattern, _QUEUE_SIZE)
        self._subscriptions.add(subscription)
        return subscription

    async def _read(self) -> None:
        """The other processes' messages, from where the reader last stopped."""
        attempt = 0
        while not self._closing:
            try:
                # The client's socket timeout (longer than the block) bounds the wait.
                batches: Any = await self._reader_client.xread(
                    {STREAM: self._last_id}, count=500, block=_BLOCK_MS)
                attempt = 0
            except _ERRORS as err:
                if self._closing:
                    return
                delay = _backoff(attempt)
                attempt += 1
                log.warning("redis bus read failed, retrying", error=str(err),
                            retry_in=round(delay, 2))
                await asyncio.sleep(delay)
                continue
            for _stream, entries in batches or ():
                for entry_id, fields in entries:
                    self._last_id = entry_id.decode()
                    if fields.get(b"o") == self.origin:
                        continue  # ours: this process's subscribers had it at publish
                    message = _decode(fields)
                    if message is not None:
                        self._offer(message)

    def discard(self, subscription: MemorySubscription) -> None:
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
        self._closing = True
        await self._reader_client.aclose()  # its blocked read fails: the reader ends
        for task in (self._reader, self._flusher):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._reader = None
        await self.client.aclose()
