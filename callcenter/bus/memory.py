"""The in-process bus: the embedded default, one process only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from callcenter.bus.base import BusMessage, topic_matches
from callcenter.logs import get_logger

log = get_logger(__name__)
_CLOSED = object()


class _Owner(Protocol):
    def discard(self, subscription: MemorySubscription) -> None: ...


class MemorySubscription:
    """A bounded queue of the messages matching one pattern (the Redis bus's too)."""

    def __init__(self, bus: _Owner, pattern: str, maxsize: int) -> None:
        self.pattern = pattern
        self._bus = bus
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize)
        self.dropped = 0
        #: Called with each message as it arrives, before it is queued for the consumer
        #: (which sees it as well): for what must happen at once; the tap keeps its own
        #: order with the messages still queued.
        self.tap: Callable[[BusMessage], None] | None = None

    def offer(self, message: BusMessage) -> None:
        if self.tap is not None:
            try:
                self.tap(message)
            except Exception:  # noqa: BLE001 - a tap must never fail the publisher
                log.exception("bus tap failed", topic=message.topic)
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            # A stalled consumer must never stall the publisher (an SOS path).
            self.dropped += 1
            log.warning("bus subscriber lagging, message dropped", topic=message.topic)

    async def __aiter__(self) -> AsyncIterator[BusMessage]:
        while True:
            item = await self._queue.get()
            if item is _CLOSED:
                return
            assert isinstance(item, BusMessage)
            yield item

    async def close(self) -> None:
        self._bus.discard(self)
        while True:
            try:
                self._queue.put_nowait(_CLOSED)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()


class MemoryBus:
    """Delivers each published message to every matching subscription."""

    def __init__(self, queue_size: int = 10_000) -> None:
        self._subscriptions: set[MemorySubscription] = set()
        self._queue_size = queue_size

    async def start(self) -> None:
        """Nothing to connect."""

    async def publish(self, message: BusMessage) -> None:
        self._deliver(message)

    def publish_nowait(self, message: BusMessage) -> None:
        self._deliver(message)

    def _deliver(self, message: BusMessage) -> None:
        for subscription in tuple(self._subscriptions):
            if topic_matches(subscription.pattern, message.topic):
                subscription.offer(message)

    async def subscribe(self, pattern: str) -> MemorySubscription:
        subscription = MemorySubscription(self, pattern, self._queue_size)
        self._subscriptions.add(subscription)
        return subscription

    def discard(self, subscription: MemorySubscription) -> None:
        self._subscriptions.discard(subscription)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        for subscription in tuple(self._subscriptions):
            await subscription.close()
