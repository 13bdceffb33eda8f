"""A bus whose published messages a test can read back."""

from __future__ import annotations

from callcenter.bus import BusMessage, MemoryBus


def capture_published(bus: MemoryBus) -> list[BusMessage]:
    """Every message published on ``bus`` from now on, in order (delivery goes on)."""
    published: list[BusMessage] = []
    original = bus.publish

    async def capture(message: BusMessage) -> None:
        published.append(message)
        await original(message)

    bus.publish = capture  # type: ignore[method-assign]
    return published
