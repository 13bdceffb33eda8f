"""The Stasis router over the wire: StasisStart by app argument, later events by id."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from callcenter.asterisk import (
    AriClient,
    AriEvent,
    ChannelEnteredBridge,
    Dial,
    StasisEnd,
    StasisRouter,
    StasisStart,
    subject_ids,
)
from callcenter.pbxsim.server import PbxSimulator

WAIT = 5.0


@dataclass
class Owner:
    """A feature's handlers: what reached it, and a wake-up per arrival."""

    name: str
    got: list[AriEvent] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def take(self, event: AriEvent) -> None:
        self.got.append(event)
        self.arrived.set()

    async def wait_for(self, kind: type[AriEvent], subject: str) -> AriEvent:
        """The first event of ``kind`` about ``subject`` (its channel, or a Dial's peer)."""
        async with asyncio.timeout(WAIT):
            while True:
                for event in self.got:
                    if isinstance(event, kind) and subject in subject_ids(event):
                        return event
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    async with PbxSimulator(ari_port=0, ami_port=0, control_port=0, speed=None) as simulator:
        yield simulator


@pytest.fixture
async def client(sim: PbxSimulator) -> AsyncIterator[AriClient]:
    ari = AriClient(sim.ari_url, "callcenter", "callcenter", "callcenter")
    yield ari
    await ari.close()


async def test_a_start_goes_to_the_feature_its_first_argument_names(
    sim: PbxSimulator, client: AriClient
) -> None:
    router = StasisRouter({"default": client})
    sos, hotline = Owner("sos"), Owner("hotline")
    router.on_start("sos", "sos", sos.take, sos.take)
    router.on_start("hotline", "hotline", hotline.take, hotline.take)
    router.attach()
    await client.connect(wait_seconds=WAIT)

    caller = sim.dialplan.inbound("13900001111", "12349", app="callcenter", args=["hotline"])
    await hotline.wait_for(StasisStart, caller.id)
    await client.channels.hangup(caller.id)
    # The channel was claimed at its StasisStart: its later events reach the same owner.
    await hotline.wait_for(StasisEnd, caller.id)
    assert sos.got == []


async def test_later_events_are_routed_by_prefix_and_by_resolver(
    sim: PbxSimulator, client: AriClient
) -> None:
    router = StasisRouter({"default": client})
    starts, bridges, legs = Owner("starts"), Owner("bridges"), Owner("legs")
    router.on_start("sos", "sos", starts.take, starts.take)
    router.on_prefix("sos-", bridges.take)
    router.on_resolver(lambda ident: ident.startswith("inc42-"), legs.take)
    router.attach()
    await client.connect(wait_seconds=WAIT)

    sim.set_person("120", _answering())
    await client.bridges.create("mixing", bridge_id="sos-inc42")
    await client.channels.originate("PJSIP/120@trunk", app="callcenter", app_args="leg",
                                    channel_id="inc42-e0")
    # The resolver's feature hears about its own leg, named after its record, by id.
    await legs.wait_for(Dial, "inc42-e0")
    assert starts.got == [] and bridges.got == []

    caller = sim.dialplan.inbound("13900001111", "12349", app="callcenter", args=["sos"])
    await starts.wait_for(StasisStart, caller.id)
    await client.channels.answer(caller.id)
    await client.bridges.add_channel("sos-inc42", caller.id)
    entered = await bridges.wait_for(ChannelEnteredBridge, caller.id)
    assert entered.bridge.id == "sos-inc42"  # type: ignore[attr-defined]
    # The bridge's prefix wins over the channel's claim for bridge events.
    assert not any(isinstance(e, ChannelEnteredBridge) for e in starts.got)


async def test_a_channel_with_arguments_nobody_routes_is_sent_back_to_the_dialplan(
    sim: PbxSimulator, client: AriClient
) -> None:
    router = StasisRouter({"default": client})
    everything = Owner("observer")
    client.on(StasisEnd, everything.take)
    router.attach()
    await client.connect(wait_seconds=WAIT)

    caller = sim.dialplan.inbound("13900001111", "12349", app="callcenter", args=["unknown"])
    await everything.wait_for(StasisEnd, caller.id)  # left our app: not left in silence


async def test_one_argument_has_one_owner() -> None:
    router = StasisRouter({})
    router.on_start("sos", "sos", print, print)
    with pytest.raises(ValueError, match="sos"):
        router.on_start("sos", "hotline", print, print)


def _answering():  # type: ignore[no-untyped-def]
    from callcenter.pbxsim.people import Person

    return Person(behaviour="answer", ring_seconds=0.0)
