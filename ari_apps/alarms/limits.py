"""Bad device tokens are rate-limited, per device id and per client address (per process).

Tokens are random, so guessing one is hopeless; the limit stops a misconfigured or
hostile sender from costing a store lookup per attempt forever, and makes a guessing
run visible in the logs. After ``max_failures`` failures for one key within ``window``
seconds, every attempt under that key is refused for ``lockout`` seconds, even with the
right token (telling "right token" apart would let the guessing go on). Attempts during
a lockout neither extend it nor count toward the next one.

The counts live in this process only: several ``calls`` processes each keep their own
(an attacker gets ``max_failures`` per process), and a restart forgets them.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_KEYS = 10_000  # the oldest keys are forgotten first: memory stays bounded


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0


class AttemptLimiter:
    """Counts failures per key (``device:<id>``, ``client:<address>``) within a window."""

    def __init__(
        self,
        max_failures: int,
        window: float,
        lockout: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.lockout = lockout
        self.clock = clock
        self._max_keys = max_keys
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def retry_after(self, keys: list[str]) -> int | None:
        """Whole seconds until any of ``keys`` may try again; None when none is locked out."""
        now = self.clock()
        waits = [record.blocked_until - now for key in keys
                 if (record := self._records.get(key)) is not None and record.blocked_until > now]
        return math.ceil(max(waits)) if waits else None

    def failed(self, keys: list[str]) -> bool:
        """Count one failure under each key; True when one of them is now locked out."""
        now = self.clock()
        locked = False
        for key in keys:
            record = self._records.get(key)
            if record is None:
                record = self._records[key] = _Record()
            self._records.move_to_end(key)
            if record.blocked_until > now:
                locked = True
                continue
            record.failures.append(now)
            while record.failures and record.failures[0] <= now - self.window:
                record.failures.popleft()
            if len(record.failures) >= self.max_failures:
                record.failures.clear()
                record.blocked_until = now + self.lockout
                locked = True
        while len(self._records) > self._max_keys:
            self._records.popitem(last=False)
        return locked

    def succeeded(self, key: str) -> None:
        """A right token: its failures are forgotten (only for the device, never an address)."""
        record = self._records.get(key)
        if record is not None and record.blocked_until <= self.clock():
            del self._records[key]
