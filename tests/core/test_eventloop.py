"""The product's event loop: a marked socket's read runs before what is already ready."""

from __future__ import annotations

import asyncio
import socket

from callcenter import eventloop
from callcenter.eventloop import CallFirstLoop, read_first, read_in_turn


async def _order(mark: bool) -> list[str]:
    """What runs first once a socket is readable and a callback was scheduled before it."""
    loop = asyncio.get_running_loop()
    order: list[str] = []
    got = asyncio.Event()
    ours, theirs = socket.socketpair()
    marks: list[int | None] = []

    class Reader(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
            if mark:
                marks.append(read_first(transport))

        def data_received(self, data: bytes) -> None:
            order.append("read")
            got.set()

    transport, _ = await loop.connect_accepted_socket(Reader, ours)
    try:
        loop.call_soon(order.append, "ready before")
        theirs.send(b"AgentCalled")  # readable before the loop's next select
        async with asyncio.timeout(5):
            await got.wait()
        await asyncio.sleep(0)
    finally:
        for fd in marks:
            read_in_turn(fd)
        transport.close()
        theirs.close()
    return order


def test_a_marked_sockets_read_runs_before_the_callbacks_already_ready() -> None:
    assert eventloop.run(_order(mark=True)) == ["read", "ready before"]


def test_an_unmarked_socket_and_another_loop_read_in_turn() -> None:
    assert eventloop.run(_order(mark=False)) == ["ready before", "read"]
    assert asyncio.run(_order(mark=True)) == ["ready before", "read"]  # not a CallFirstLoop


def test_the_products_loop_is_the_call_first_loop_and_forgets_closed_sockets() -> None:
    async def main() -> tuple[bool, set[int], set[int]]:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
        fd = read_first(transport)
        marked = set(loop._first)  # type: ignore[attr-defined]  # noqa: SLF001
        read_in_turn(fd)
        transport.close()
        theirs.close()
        return isinstance(loop, CallFirstLoop), marked, set(loop._first)  # type: ignore[attr-defined]  # noqa: SLF001

    is_ours, marked, after = eventloop.run(main())
    assert is_ours and len(marked) == 1 and after == set()
