"""Ordered event dispatch: one owned consumer per key (channel, bridge), a watchdog.

Events with the same key are handled one after another in arrival order; events of
different keys run concurrently. A consumer task exists only while its key has
work: it ends when its queue is drained and the key was closed (channel or bridge
destroyed) or after ``idle_timeout`` without events (Asterisk 22 sends no
ChannelDestroyed to an app for a channel that entered through dialplan Stasis()).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from callcenter.logs import get_logger

E = TypeVar("E")
Handler = Callable[[E], Awaitable[None] | None]

log = get_logger(__name__)


def _cancel_swallowed() -> bool:
    """Whether this task was cancelled and yet runs on (the cancellation was caught)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class _Consumer:
    __slots__ = ("key", "queue", "wakeup", "task", "closing", "busy_since", "current", "warned",
                 "last_active")

    def __init__(self, key: str) -> None:
        self.key = key
        self.queue: deque[Any] = deque()
        self.wakeup: asyncio.Future[None] | None = None
        self.task: asyncio.Task[None] | None = None
        self.closing = False
        self.busy_since = 0.0
        self.current: Any = None
        self.warned = False
        self.last_active = time.monotonic()


class OrderedDispatcher(Generic[E]):
    """Runs handlers for events in per-key order, each key on its own task."""

    def __init__(
        self,
        resolve: Callable[[E], Sequence[Handler[E]]],
        *,
        name: str = "dispatch",
        slow_handler_seconds: float = 0.5,
        idle_timeout: float = 60.0,
        describe: Callable[[E], dict[str, Any]] | None = None,
        on_slow: Callable[[str, float], None] | None = None,
    ) -> None:
        self._resolve = resolve
        self._name = name
        self.slow_handler_seconds = slow_handler_seconds
        self.idle_timeout = idle_timeout
        self._describe = describe or (lambda item: {"item": repr(item)[:200]})
        self.on_slow = on_slow  # metrics hook: (key, seconds) each time the watchdog reports
        self._consumers: dict[str, _Consumer] = {}
        self._watchdog: asyncio.Task[None] | None = None
        self._closed = False
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(self, key: str, event: E, *, last: bool = False) -> None:
        """Queue ``event`` behind earlier events of ``key``; ``last`` evicts the key once drained."""
        if self._closed:
            return
        consumer = self._consumers.get(key)
        if consumer is None:
            consumer = _Consumer(key)
            self._consumers[key] = consumer
            consumer.task = asyncio.get_running_loop().create_task(
                self._consume(consumer), name=f"{self._name}:{key}"
            )
            if self._watchdog is None:
                self._watchdog = asyncio.get_running_loop().create_task(
                    self._watch(), name=f"{self._name}:watchdog"
                )
        consumer.queue.append(event)
        if not self._pending:
            self._idle.clear()
        self._pending += 1
        if last:
            consumer.closing = True
        wakeup = consumer.wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def _consume(self, consumer: _Consumer) -> None:
        queue = consumer.queue
        loop = asyncio.get_running_loop()
        try:
            while True:
                while queue:
                    event = queue.popleft()
                    try:
                        await self._handle(consumer, event)
                    finally:
                        self._pending -= 1
                        if not self._pending:
                            self._idle.set()
                if consumer.closing:
                    return
                # Not kept while idle (up to idle_timeout: a minute for a call's AMI key, a
                # thousand calls' last events through every collection at 50 calls a second).
                event = None
                consumer.last_active = time.monotonic()
                # No per-wait timer here (too costly per event burst): the watchdog
                # closes consumers idle for longer than idle_timeout.
                consumer.wakeup = loop.create_future()
                try:
                    await consumer.wakeup
                finally:
                    consumer.wakeup = None
        finally:
            # Only drop the entry if it is still ours (a new consumer may have replaced it).
            if self._consumers.get(consumer.key) is consumer:
                del self._consumers[consumer.key]
                if queue and not self._closed:
                    # Events raced in after the closing decision: hand them to a fresh consumer.
                    self._pending -= len(queue)
                    for event in queue:
                        self.submit(consumer.key, event)

    async def _handle(self, consumer: _Consumer, event: E) -> None:
        handlers = self._resolve(event)
        if not handlers:
            return
        consumer.current = event
        consumer.warned = False
        start = consumer.busy_since = time.perf_counter()
        for handler in handlers:
            try:
                result = handler(event)
                # A sync handler may return a value (list.append does not, dict.setdefault does).
                if result is not None and hasattr(result, "__await__"):
                    await result
                    if self._closed and _cancel_swallowed():
                        # The close's cancellation ended inside the handler: go on with it,
                        # or this consumer would wait for events forever and the close too.
                        log.error("event handler swallowed a cancellation",
                                  dispatcher=self._name, key=consumer.key,
                                  handler=getattr(handler, "__qualname__", repr(handler)))
                        raise asyncio.CancelledError
            except asyncio.CancelledError:
                raise
            except Exception:  # task boundary: one bad handler must not stop the call's events
                log.exception("event handler failed", dispatcher=self._name, key=consumer.key,
                              handler=getattr(handler, "__qualname__", repr(handler)),
                              **self._describe(event))
        elapsed = time.perf_counter() - start
        consumer.busy_since = 0.0
        consumer.current = None
        if elapsed > self.slow_handler_seconds and not consumer.warned:
            log.warning("slow event handler", dispatcher=self._name, key=consumer.key,
                        seconds=round(elapsed, 3), bound=self.slow_handler_seconds,
                        **self._describe(event))
            if self.on_slow is not None:
                self.on_slow(consumer.key, elapsed)

    async def _watch(self) -> None:
        """Log handlers still running past the bound (a hung handler never finishes)."""
        while True:
            await asyncio.sleep(max(min(self.slow_handler_seconds, self.idle_timeout) / 2, 0.005))
            now = time.perf_counter()
            idle_before = time.monotonic() - self.idle_timeout
            for consumer in list(self._consumers.values()):
                wakeup = consumer.wakeup
                if (wakeup is not None and not consumer.queue and not consumer.closing
                        and consumer.last_active < idle_before):
                    consumer.closing = True  # evicted: Asterisk sent nothing for a while
                    if not wakeup.done():
                        wakeup.set_result(None)
                    continue
                since = consumer.busy_since
                if since and not consumer.warned and now - since > self.slow_handler_seconds:
                    consumer.warned = True
                    log.warning("event handler still running", dispatcher=self._name,
                                key=consumer.key, seconds=round(now - since, 3),
                                bound=self.slow_handler_seconds,
                                **self._describe(consumer.current))
                    if self.on_slow is not None:
                        self.on_slow(consumer.key, now - since)

    async def drain(self) -> None:
        """Wait until every event submitted so far has been handled (benchmarks and tests)."""
        await self._idle.wait()

    async def close(self) -> None:
        """Cancel every consumer and the watchdog; queued events are dropped."""
        self._closed = True
        tasks = [c.task for c in self._consumers.values() if c.task is not None]
        if self._watchdog is not None:
            tasks.append(self._watchdog)
            self._watchdog = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._consumers.clear()
