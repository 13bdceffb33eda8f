"""Simulated time: a manual clock tests advance, or real time at a speed factor."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime

# The traces were captured with the VM clock in 2026; the simulator starts there too
# so ids and timestamps look like the real ones (``1795295583.122``).
DEFAULT_EPOCH = 1795295500.0


class SimClock:
    """Virtual wall clock; ``speed=None`` means manual (only ``advance`` moves it)."""

    def __init__(self, speed: float | None = None, epoch: float = DEFAULT_EPOCH) -> None:
        self.speed = speed
        self._epoch = epoch
        self._virtual = 0.0
        self._real_start = time.monotonic()
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    @property
    def manual(self) -> bool:
        """Whether time only moves when a test calls ``advance``."""
        return self.speed is None

    def elapsed(self) -> float:
        """Seconds of simulated time since the simulator started."""
        if self.speed is None:
            return self._virtual
        return (time.monotonic() - self._real_start) * self.speed

    def now(self) -> float:
        """Simulated epoch seconds."""
        return self._epoch + self.elapsed()

    def iso(self) -> str:
        """ARI timestamp format: ``2026-11-21T21:13:03.454+0000``."""
        dt = datetime.fromtimestamp(self.now(), UTC)
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"

    def cdr_time(self, at: float | None) -> str:
        """cdr_manager time format (``2026-11-21 21:14:02``), empty when unset."""
        if at is None:
            return ""
        return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of simulated time."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        if self.speed is not None:
            await asyncio.sleep(seconds / self.speed)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self._virtual + seconds, next(self._seq), fut))
        await fut

    def call_later(self, seconds: float, callback: Callable[[], None]) -> asyncio.Task[None]:
        """Run ``callback`` after ``seconds`` of simulated time (returns a cancellable task)."""

        async def _later() -> None:
            await self.sleep(seconds)
            callback()

        return asyncio.get_running_loop().create_task(_later())

    async def advance(self, seconds: float) -> None:
        """Move manual time forward, firing due timers in order and letting them run."""
        if self.speed is not None:
            raise RuntimeError("advance() needs a manual clock (speed=None)")
        target = self._virtual + seconds
        await settle()
        while self._timers and self._timers[0][0] <= target:
            when, _, fut = heapq.heappop(self._timers)
            self._virtual = max(self._virtual, when)
            if not fut.done():
                fut.set_result(None)
            await settle()
        self._virtual = target
        await settle()


async def settle(rounds: int = 30) -> None:
    """Give every ready task a chance to run (simulated actions are all in-process)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
