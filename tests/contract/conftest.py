"""The contract suite drives the product's own adapters (AriClient, AmiClient, FastAgiServer).

It runs on the PBX simulator by default, and on a real Asterisk 22 when
``CALLCENTER_TEST_ASTERISK=1``: then the node comes from ``load_settings()``
(``CALLCENTER_ARI_*`` / ``CALLCENTER_AMI_*``), which must have the dialplan and queue
of ``tests/data/asterisk/traces/README.md`` loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pytest
from pydantic import SecretStr
from reference_data import ARI_API_DOCS

from callcenter.asterisk import (
    AmiClient,
    AmiEvent,
    AriClient,
    AriEvent,
    Backoff,
    ami_client_for,
    ari_client_for,
)
from callcenter.pbxsim.ari_schema import AriSchema
from callcenter.pbxsim.server import PbxSimulator
from callcenter.settings import AsteriskNode, load_settings

REAL = os.environ.get("CALLCENTER_TEST_ASTERISK") == "1"
APP = "callcenter"
WAIT = 15.0  # seconds of real time any single expected event may take
SCHEMA = AriSchema(ARI_API_DOCS)

T = TypeVar("T")
E = TypeVar("E")


@dataclass
class Pbx:
    """The node under test and a way to let PBX time pass."""

    node: AsteriskNode
    sim: PbxSimulator | None

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` of PBX time pass (instant on the simulator's manual clock)."""
        if self.sim is not None:
            await self.sim.advance(seconds)
        else:
            await asyncio.sleep(seconds)  # a real Asterisk runs on real time

    async def tick(self) -> None:
        """A small step of PBX time, used while waiting for an event."""
        if self.sim is not None:
            await self.sim.advance(0.25)
        else:
            await asyncio.sleep(0.05)

    async def run(self, aw: Awaitable[T]) -> T:
        """Await ``aw`` (e.g. an originate that waits for its outcome) while PBX time passes."""
        task = asyncio.ensure_future(aw)
        try:
            async with asyncio.timeout(WAIT):
                while not task.done():
                    await self.tick()
                    await asyncio.wait([task], timeout=0.01)
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return task.result()


@dataclass
class Seen(Generic[E]):
    """Events an adapter handed to its handlers, with a wait that lets PBX time pass."""

    pbx: Pbx
    events: list[E] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, event: E) -> None:
        """The adapter's ``"*"`` handler."""
        self.events.append(event)
        self.changed.set()

    def mark(self) -> int:
        """Index to wait from: only events after this point count."""
        return len(self.events)

    async def wait_for(self, match: Callable[[E], bool], start: int = 0) -> E:
        """The first event from ``start`` that matches (PBX time moves while waiting)."""
        async with asyncio.timeout(WAIT):
            while True:
                for event in self.events[start:]:
                    if match(event):
                        return event
                self.changed.clear()
                await self.pbx.tick()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.02):
                        await self.changed.wait()


@pytest.fixture(scope="session")
def real_node() -> AsteriskNode | None:
    """The configured node, read once before the per-test environment cleaning."""
    if not REAL:
        return None
    return load_settings().nodes[0]


@pytest.fixture
async def pbx(real_node: AsteriskNode | None) -> AsyncIterator[Pbx]:
    """A simulator on free loopback ports, or the configured real Asterisk."""
    if real_node is not None:
        yield Pbx(real_node, None)
        return
    sim = PbxSimulator(ari_port=0, ami_port=0, control_port=0, speed=None,
                       agi_url="agi://127.0.0.1:0/route?lang=zh")
    async with sim:
        node = AsteriskNode(name="sim", ari_url=sim.ari_url, ari_user=sim.user,
                            ari_password=SecretStr(sim.password), ami_host=sim.host,
                            ami_port=sim.ami_port, ami_user=sim.user,
                            ami_secret=SecretStr(sim.password))
        yield Pbx(node, sim)


@dataclass
class Ari:
    """The product's AriClient plus what its ``"*"`` handler saw."""

    client: AriClient
    seen: Seen[AriEvent]
    problems: list[str]

    def about(self, channel_id: str) -> list[AriEvent]:
        """Events whose channel (or Dial peer) is ``channel_id``."""
        return [e for e in self.seen.events if channel_of(e) == channel_id]


def channel_of(event: AriEvent) -> str | None:
    """The id of the channel an event is about (``peer`` for Dial)."""
    ch = getattr(event, "channel", None) or getattr(event, "peer", None)
    return ch.id if ch is not None else None


def of_type(kind: type[AriEvent], channel_id: str | None = None,
            **fields: Any) -> Callable[[AriEvent], bool]:
    """Typed event matcher by class, channel id and field values."""
    def match(event: AriEvent) -> bool:
        if type(event) is not kind:
            return False
        if channel_id is not None and channel_of(event) != channel_id:
            return False
        return all(getattr(event, k) == v for k, v in fields.items())
    return match


@pytest.fixture
async def ari(pbx: Pbx) -> AsyncIterator[Ari]:
    """The product's AriClient for the ``callcenter`` app, WebSocket open, every event seen."""
    client = ari_client_for(pbx.node, APP, backoff=Backoff(initial=0.05, maximum=0.5))
    seen: Seen[AriEvent] = Seen(pbx)
    problems: list[str] = []

    def check(event: AriEvent) -> None:
        # The typed event must also be what the published API models describe.
        problems.extend(f"{event.type}: {p}" for p in SCHEMA.validate(event.raw))
        seen.add(event)

    client.on("*", check)
    await pbx.run(client.connect(wait_seconds=WAIT))
    yield Ari(client, seen, problems)
    await client.close()
    assert not problems, problems
    assert client.stats.malformed == 0 and client.stats.unknown == 0, client.stats


@dataclass
class Ami:
    """The product's AmiClient plus what its ``"*"`` handler saw."""

    client: AmiClient
    seen: Seen[AmiEvent]

    def in_wire_order(self, start: int = 0) -> list[AmiEvent]:
        """Seen events in the order Asterisk sent them (handlers run per call/queue key)."""
        return sorted(self.seen.events[start:], key=lambda e: e.seq)


def ami_event(name: str, **headers: str) -> Callable[[AmiEvent], bool]:
    """AMI event matcher by name and header values."""
    return lambda e: e.name == name and all(e.get(k) == v for k, v in headers.items())


@pytest.fixture
async def ami(pbx: Pbx) -> AsyncIterator[Ami]:
    """The product's AmiClient, logged in, every event seen."""
    client = ami_client_for(pbx.node, backoff=Backoff(initial=0.05, maximum=0.5))
    seen: Seen[AmiEvent] = Seen(pbx)
    client.on("*", seen.add)
    await client.connect(wait_seconds=WAIT)
    yield Ami(client, seen)
    await client.close()
