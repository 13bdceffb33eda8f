"""Faults a test injects into the simulated ARI: a request answered with an error instead,
or answered late.

Real Asterisk answers a request with a 5xx when a module or a driver fails, and with a
404 when the channel went away between an event and the request; tests script both here
(or over the control API) rather than patching the product. A delay (simulated seconds:
with a manual clock the request waits until the test advances it) holds a request before
it is refused or, with no status, carried out: a slow reply whose moment the test chooses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase


@dataclass
class AriFault:
    """Answer ``times`` requests matching ``method`` and the path pattern with ``status``
    (``None``: carry them out), each after ``delay`` simulated seconds."""

    method: str
    path: str  # fnmatch pattern on the request path, e.g. /ari/channels/*/answer
    status: int | None = 500
    message: str = "Internal Server Error"
    times: int = 1
    delay: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {"method": self.method, "path": self.path, "status": self.status,
                "message": self.message, "times": self.times, "delay": self.delay}


class Faults:
    """The faults waiting for their request, in the order they were added."""

    def __init__(self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.pending: list[AriFault] = []
        self._sleep = sleep  # the simulator's clock
        #: Requests a delay holds now (a test waits for them to have come).
        self.held = 0
        self._held_changed = asyncio.Condition()

    def fail(self, method: str, path: str, *, status: int | None = 500,
             message: str = "Internal Server Error", times: int = 1,
             delay: float = 0.0) -> AriFault:
        """The next ``times`` ``method`` requests on ``path`` answer ``status`` (``None``:
        are carried out), each ``delay`` simulated seconds after it came."""
        fault = AriFault(method.upper(), path, status, message if status is not None else "",
                         times, delay)
        self.pending.append(fault)
        return fault

    def delay(self, method: str, path: str, seconds: float, *, times: int = 1) -> AriFault:
        """The next ``times`` ``method`` requests on ``path`` are carried out ``seconds``
        (simulated) after they came: their replies, and whatever they change, come late."""
        return self.fail(method, path, status=None, times=times, delay=seconds)

    def take(self, method: str, path: str) -> AriFault | None:
        """The fault this request meets, if any (used up after ``times`` requests)."""
        for fault in self.pending:
            if fault.method == method.upper() and fnmatchcase(path, fault.path):
                fault.times -= 1
                if fault.times <= 0:
                    self.pending.remove(fault)
                return fault
        return None

    async def hold(self, fault: AriFault) -> None:
        """Hold one request for its fault's delay."""
        async with self._held_changed:
            self.held += 1
            self._held_changed.notify_all()
        try:
            await self._sleep(fault.delay)
        finally:
            self.held -= 1

    async def wait_held(self, count: int) -> None:
        """Until ``count`` requests are held at once (a test's cue to move the clock on)."""
        async with self._held_changed:
            await self._held_changed.wait_for(lambda: self.held >= count)

    def clear(self) -> None:
        self.pending.clear()
