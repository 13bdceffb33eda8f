"""Several Asterisk nodes: one ARI and one AMI client each, commands routed to the owner."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from callcenter.asterisk.ami import AmiClient, AmiEvent, AmiHandler, ami_client_for
from callcenter.asterisk.ari.client import AriClient, AriSnapshot, EventHandler, ari_client_for
from callcenter.asterisk.ari.errors import AriError, AriNotFound
from callcenter.asterisk.ari.events import (
    AriEvent,
    BridgeCreated,
    BridgeDestroyed,
    ChannelDestroyed,
    ChannelEnteredBridge,
    Dial,
    StasisStart,
)
from callcenter.logs import get_logger
from callcenter.settings import Settings

log = get_logger(__name__)

MAX_OWNERS = 100_000  # ids remembered per kind; the oldest are forgotten first


class UnknownOwner(LookupError):
    """No node owns this channel or bridge."""

    def __init__(self, kind: str, ident: str) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(f"no Asterisk node has {kind} {ident!r}")


class _Owners:
    """id -> node name, bounded (LRU), learnt from events, listings and our own commands."""

    def __init__(self, limit: int = MAX_OWNERS) -> None:
        self._map: OrderedDict[str, str] = OrderedDict()
        self._limit = limit

    def set(self, ident: str, node: str) -> None:
        self._map[ident] = node
        self._map.move_to_end(ident)
        if len(self._map) > self._limit:
            self._map.popitem(last=False)

    def get(self, ident: str) -> str | None:
        return self._map.get(ident)

    def drop(self, ident: str) -> None:
        self._map.pop(ident, None)


class AsteriskCluster:
    """Every node's clients; events come tagged with ``node``; commands go to the owner node."""

    def __init__(self, ari: Iterable[AriClient], ami: Iterable[AmiClient] = ()) -> None:
        self.ari: dict[str, AriClient] = {c.node: c for c in ari}
        self.ami: dict[str, AmiClient] = {c.node: c for c in ami}
        if not self.ari:
            raise ValueError("an AsteriskCluster needs at least one node")
        self.channels = _Owners()
        self.bridges = _Owners()
        for client in self.ari.values():
            client.on("*", self._track)
            client.on_resynced(self._learn)

    @classmethod
    def from_settings(cls, settings: Settings, **client_kwargs: Any) -> AsteriskCluster:
        """One ARI and one AMI client per ``Settings.nodes`` entry."""
        nodes = settings.nodes
        return cls(
            [ari_client_for(n, settings.ari_app, **client_kwargs) for n in nodes],
            [ami_client_for(n) for n in nodes],
        )

    @property
    def default(self) -> AriClient:
        """The first node's ARI client (for new calls with no other preference)."""
        return next(iter(self.ari.values()))

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Start every client (connections come up in the background)."""
        for ari in self.ari.values():
            await ari.start()
        for ami in self.ami.values():
            await ami.start()

    async def close(self) -> None:
        """Close every client."""
        await asyncio.gather(*(c.close() for c in self.ari.values()),
                             *(c.close() for c in self.ami.values()), return_exceptions=True)

    # -- events -----------------------------------------------------------------------

    def on(self, event_type: str | type[AriEvent], handler: EventHandler) -> None:
        """Register an ARI handler on every node (``event.node`` says which)."""
        for client in self.ari.values():
            client.on(event_type, handler)

    def on_ami(self, pattern: str, handler: AmiHandler) -> None:
        """Register an AMI glob handler on every node."""
        for client in self.ami.values():
            client.on(pattern, handler)

    def on_ami_receipt(self, name: str, hook: Callable[[AmiEvent], None]) -> None:
        """Run ``hook`` as each ``name`` event is read, on every node (AmiClient.on_receipt)."""
        for client in self.ami.values():
            client.on_receipt(name, hook)

    def _track(self, event: AriEvent) -> None:
        # Runs first for every event (registered at construction), before features' handlers.
        if isinstance(event, StasisStart):
            self.channels.set(event.channel.id, event.node)
        elif isinstance(event, Dial):
            self.channels.set(event.peer.id, event.node)
        elif isinstance(event, ChannelDestroyed):
            self.channels.drop(event.channel.id)
        elif isinstance(event, BridgeCreated | ChannelEnteredBridge):
            self.bridges.set(event.bridge.id, event.node)
        elif isinstance(event, BridgeDestroyed):
            self.bridges.drop(event.bridge.id)

    async def _learn(self, snapshot: AriSnapshot) -> None:
        for channel in snapshot.channels:
            self.channels.set(channel.id, snapshot.node)
        for bridge in snapshot.bridges:
            self.bridges.set(bridge.id, snapshot.node)

    # -- routing ----------------------------------------------------------------------

    def remember_channel(self, channel_id: str, node: str) -> None:
        """Record the owner of a channel we created (originate/create return before events)."""
        self.channels.set(channel_id, node)

    def remember_bridge(self, bridge_id: str, node: str) -> None:
        """Record the owner of a bridge we created."""
        self.bridges.set(bridge_id, node)

    async def for_channel(self, channel_id: str) -> AriClient:
        """The ARI client of the node that has ``channel_id`` (asks every node if unknown)."""
        node = self.channels.get(channel_id)
        if node is not None and node in self.ari:
            return self.ari[node]
        client = await self._locate("channel", channel_id)
        self.channels.set(channel_id, client.node)
        return client

    async def for_bridge(self, bridge_id: str) -> AriClient:
        """The ARI client of the node that has ``bridge_id``."""
        node = self.bridges.get(bridge_id)
        if node is not None and node in self.ari:
            return self.ari[node]
        client = await self._locate("bridge", bridge_id)
        self.bridges.set(bridge_id, client.node)
        return client

    def ami_for(self, node: str) -> AmiClient:
        """The AMI client of a node."""
        return self.ami[node]

    async def _locate(self, kind: str, ident: str) -> AriClient:
        async def probe(client: AriClient) -> AriClient | None:
            try:
                if kind == "channel":
                    await client.channels.get(ident)
                else:
                    await client.bridges.get(ident)
            except AriNotFound:
                return None
            except AriError as err:
                log.warning("node probe failed", **err.details, kind=kind)
                return None
            return client

        found = await asyncio.gather(*(probe(c) for c in self.ari.values()))
        for client in found:
            if client is not None:
                return client
        raise UnknownOwner(kind, ident)
