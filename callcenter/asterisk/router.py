"""The Stasis router: every ARI event to the feature that owns it.

A channel enters the Stasis app with arguments (``Stasis(callcenter,sos,<device>)`` from the
dialplan, ``leg,<incident>,<role>`` for a channel a feature originated): the first argument
names the feature's route. Every later event is routed by the id of what it concerns —
its bridge, its recording, its playback's target, a Dial's peer, its channel, the most specific
first — each looked up among the ids claimed so far (a routed StasisStart claims its
channel), then the id prefixes features declared (``sos-`` bridges and recordings), then
their resolvers (a feature that names channels after its own records). One owner per event; an event
nobody owns is dropped. A channel that enters with arguments nobody routes is sent on in
the dialplan (Asterisk carries on after ``Stasis()``), else hung up: nobody is left in a
Stasis app that no feature handles.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from callcenter.asterisk.ari.client import AriClient
from callcenter.asterisk.ari.errors import AriError
from callcenter.asterisk.ari.events import (
    AriEvent,
    BridgeDestroyed,
    ChannelDestroyed,
    StasisStart,
)
from callcenter.logs import get_logger

log = get_logger(__name__)

EventHandler = Callable[[AriEvent], Awaitable[None] | None]
StartHandler = Callable[[StasisStart], Awaitable[None] | None]
MAX_CLAIMS = 100_000  # claimed ids remembered; the oldest are forgotten first


@dataclass(frozen=True, slots=True)
class StasisRoute:
    """What a feature routes: StasisStart by first argument, then its events."""

    owner: str
    start: StartHandler
    events: EventHandler


def subject_ids(event: AriEvent) -> list[str]:
    """The ids an event concerns, the most specific first."""
    ids: list[str] = []
    bridge = getattr(event, "bridge", None)
    if bridge is not None:
        ids.append(bridge.id)
    recording = getattr(event, "recording", None)
    if recording is not None:
        ids.append(recording.name)
    playback = getattr(event, "playback", None)
    if playback is not None:
        ids.append(playback.target[1])
    peer = getattr(event, "peer", None)
    if peer is not None:
        ids.append(peer.id)
    channel = getattr(event, "channel", None)
    if channel is not None:
        ids.append(channel.id)
    return ids


class StasisRouter:
    """Routes StasisStart by app argument and later events by id, to one feature each."""

    def __init__(self, clients: dict[str, AriClient]) -> None:
        self.clients = clients
        self._starts: dict[str, StasisRoute] = {}
        self._prefixes: list[tuple[str, EventHandler]] = []
        self._resolvers: list[tuple[Callable[[str], bool], EventHandler]] = []
        self._claims: OrderedDict[str, EventHandler] = OrderedDict()

    def attach(self) -> None:
        """Take every event of every node (after the cluster's own observers)."""
        for client in self.clients.values():
            client.on("*", self.dispatch)

    # -- what features declare ---------------------------------------------------------

    def on_start(self, arg: str, owner: str, start: StartHandler, events: EventHandler) -> None:
        """Channels entering with first argument ``arg`` go to ``start``; their events to ``events``."""
        if arg in self._starts:
            raise ValueError(f"Stasis argument {arg!r} is routed by {self._starts[arg].owner}")
        self._starts[arg] = StasisRoute(owner, start, events)

    def on_prefix(self, prefix: str, events: EventHandler) -> None:
        """Events about a bridge, recording or channel whose id starts with ``prefix``."""
        self._prefixes.append((prefix, events))

    def on_resolver(self, owns: Callable[[str], bool], events: EventHandler) -> None:
        """Events about ids that ``owns`` recognises (ids a feature derived from its records)."""
        self._resolvers.append((owns, events))

    def claim(self, ident: str, events: EventHandler) -> None:
        """Route events about ``ident`` to ``events`` until it is destroyed."""
        self._claims[ident] = events
        self._claims.move_to_end(ident)
        if len(self._claims) > MAX_CLAIMS:
            self._claims.popitem(last=False)

    @property
    def routes(self) -> Iterable[str]:
        """The Stasis arguments routed, for the log and the README."""
        return tuple(self._starts)

    # -- routing -----------------------------------------------------------------------

    def owner_of(self, event: AriEvent) -> EventHandler | None:
        """The handler of the feature that owns ``event``, if any."""
        for ident in subject_ids(event):  # the most specific first: a bridge before its member
            claimed = self._claims.get(ident)
            if claimed is not None:
                return claimed
            for prefix, handler in self._prefixes:
                if ident.startswith(prefix):
                    return handler
            for owns, handler in self._resolvers:
                if owns(ident):
                    return handler
        return None

    async def dispatch(self, event: AriEvent) -> None:
        """The handler every ARI client calls for every event."""
        if isinstance(event, StasisStart):
            await self._start(event)
            return
        handler = self.owner_of(event)
        if isinstance(event, ChannelDestroyed):
            self._claims.pop(event.channel.id, None)
        elif isinstance(event, BridgeDestroyed):
            self._claims.pop(event.bridge.id, None)
        if handler is not None:
            await _call(handler, event)

    async def _start(self, event: StasisStart) -> None:
        route = self._starts.get(event.args[0]) if event.args else None
        if route is None:
            await self._unrouted(event)
            return
        self.claim(event.channel.id, route.events)
        await _call(route.start, event)

    async def _unrouted(self, event: StasisStart) -> None:
        channel_id = event.channel.id
        if not event.args:
            # Channels the product makes itself (snoops, plain creates) may enter bare: the
            # feature that made them already claimed them.
            handler = self._claims.get(channel_id)
            if handler is not None:
                await _call(handler, event)
            return
        log.warning("stasis arguments nobody routes; sent back to the dialplan",
                    channel_id=channel_id, args=event.args, node=event.node)
        client = self.clients[event.node]
        try:
            await client.channels.continue_in_dialplan(channel_id)
        except AriError:
            try:
                await client.channels.hangup(channel_id)
            except AriError:
                pass


async def _call(handler: Callable[[AriEvent], Awaitable[None] | None] | StartHandler,
                event: AriEvent) -> None:
    result = handler(event)  # type: ignore[arg-type]
    if inspect.isawaitable(result):
        await result
