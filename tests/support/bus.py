"""A bus whose published messages a test can read back."""

from __future__ import annotations

from callcenter.bus import BusMessage, MemoryBus


def capture_published(bus: MemoryBus) -> list[BusMessage]:
    """Every message published on ``bus`` from now on, in order (delivery goes on)."""
    published: list[BusMessage] = []
    original, original_nowait = bus.publish, bus.publish_nowait

    async def capture(message: BusMessage) -> None:
        published.append(message)
        await original(message)

    def capture_nowait(message: BusMessage) -> None:
        published.append(message)
        original_nowait(message)

    bus.publish = capture  # type: ignore[method-assign]
    bus.publish_nowait = capture_nowait  # type: ignore[method-assign]
    return published
