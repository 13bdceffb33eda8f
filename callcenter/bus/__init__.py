"""The event bus: topics published by the product, delivered to every subscriber.

``RedisBus`` (when ``CALLCENTER_REDIS_URL`` is set) spans processes and nodes;
``MemoryBus`` is the embedded default. Both deliver fire-and-forget: what must
survive an outage goes through the store's outbox, never only through the bus.
"""

from __future__ import annotations

from callcenter.bus.base import SERVERS_ONLY, Bus, BusMessage, Subscription, topic_matches
from callcenter.bus.memory import MemoryBus


def make_bus(redis_url: str | None) -> Bus:
    """The Redis bus when a URL is configured, else the in-process one."""
    if redis_url:
        from callcenter.bus.redis import RedisBus

        return RedisBus(redis_url)
    return MemoryBus()


__all__ = [
    "SERVERS_ONLY", "Bus", "BusMessage", "MemoryBus", "Subscription", "make_bus", "topic_matches",
]
