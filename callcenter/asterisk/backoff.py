"""Reconnect delays: exponential, capped, with full jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    """Exponential backoff with a cap and jitter, reset after a good connection."""

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5  # fraction of the delay drawn at random, so nodes do not reconnect in step
    _attempt: int = field(default=0, init=False)
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def next_delay(self) -> float:
        """The delay before the next attempt; grows until ``maximum``."""
        base = min(self.maximum, self.initial * self.factor**self._attempt)
        self._attempt += 1
        return base * (1 - self.jitter) + base * self.jitter * self._rng.random()

    def reset(self) -> None:
        """Start again from ``initial`` (after a connection that worked)."""
        self._attempt = 0

    @property
    def attempts(self) -> int:
        """Failed attempts since the last reset."""
        return self._attempt
