"""ARI client for one Asterisk node: REST resources, the events WebSocket, ordered dispatch.

Lifecycle: ``await client.connect()`` (or ``async with client``) starts one owned
supervisor task that keeps the WebSocket up (exponential, capped, jittered backoff;
WebSocket ping heartbeat to catch half-open sockets), and after every (re)connect
runs the ``on_connected`` hooks, then lists channels and bridges (filtered to our
app) and runs the ``on_resynced`` hooks: Asterisk 22 queues nothing for a
disconnected app and replays nothing on reconnect (traces: ari-app-replaced).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp

from callcenter.asterisk.ari.channels import ChannelsApi
from callcenter.asterisk.ari.errors import (
    AriConnectionError,
    AriError,
    AriMalformedFrame,
    AriUnauthorized,
)
from callcenter.asterisk.ari.events import (
    EVENT_TYPES,
    ApplicationReplaced,
    AriEvent,
    BridgeDestroyed,
    ChannelDestroyed,
    GenericEvent,
)
from callcenter.asterisk.ari.frames import from_json, loads
from callcenter.asterisk.ari.models import Application, Bridge, Channel
from callcenter.asterisk.ari.resources import (
    ApplicationsApi,
    AsteriskApi,
    BridgesApi,
    PlaybacksApi,
    RecordingsApi,
)
from callcenter.asterisk.ari.rest import AriRest
from callcenter.asterisk.backoff import Backoff
from callcenter.asterisk.dispatch import OrderedDispatcher
from callcenter.asterisk.tasks import TaskGroup
from callcenter.logs import get_logger
from callcenter.settings import AsteriskNode

log = get_logger(__name__)

EventT = TypeVar("EventT", bound=AriEvent)
EventHandler = Callable[[Any], Awaitable[None] | None]
ConnectedHook = Callable[["AriClient"], Awaitable[None]]
ResyncedHook = Callable[["AriSnapshot"], Awaitable[None]]

#: Events after which Asterisk sends nothing more for that key: its consumer is evicted.
_FINAL_EVENTS = (ChannelDestroyed, BridgeDestroyed)
#: Key for events that belong to no channel or bridge (ApplicationReplaced, global varsets).
APP_KEY = "app"


@dataclass(slots=True, frozen=True)
class AriSnapshot:
    """What Asterisk has for our app right after a (re)connect."""

    node: str
    channels: list[Channel]
    bridges: list[Bridge]
    application: Application | None


@dataclass(slots=True)
class AriStats:
    """Counters of frames, events, malformed and untyped frames, connects and resyncs."""

    frames: int = 0
    events: int = 0
    malformed: int = 0
    unknown: int = 0
    connects: int = 0
    resyncs: int = 0


def _describe(event: AriEvent) -> dict[str, Any]:
    return {"event_type": event.type, "node": event.node, "order_key": event.order_key()}


class AriClient:
    """One node's ARI: ``channels``, ``bridges``, ``recordings``, ``playbacks`` and typed events."""

    def __init__(
        self,
        base_url: str,
        user: str,
        password: str,
        app: str,
        *,
        node: str = "default",
        request_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        heartbeat: float = 20.0,
        backoff: Backoff | None = None,
        slow_handler_seconds: float = 0.5,
        idle_timeout: float = 60.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.node = node
        self.app = app
        self.base_url = base_url.rstrip("/")
        self._user = user
        self._password = password
        self.connect_timeout = connect_timeout
        self.heartbeat = heartbeat
        self.rest = AriRest(
            self.base_url, user, password, node=node, request_timeout=request_timeout,
            session=session,
        )
        self.asterisk = AsteriskApi(self.rest)
        self.applications = ApplicationsApi(self.rest)
        self.channels = ChannelsApi(self.rest)
        self.bridges = BridgesApi(self.rest)
        self.recordings = RecordingsApi(self.rest)
        self.playbacks = PlaybacksApi(self.rest)
        self.stats = AriStats()
        self._backoff = backoff or Backoff()
        self._handlers: dict[str, list[EventHandler]] = {}
        self._any_handlers: list[EventHandler] = []
        self._resolved: dict[str, tuple[EventHandler, ...]] = {}
        self._connected_hooks: list[ConnectedHook] = []
        self._resynced_hooks: list[ResyncedHook] = []
        self.dispatcher: OrderedDispatcher[AriEvent] = OrderedDispatcher(
            self._handlers_for, name=f"ari:{node}", slow_handler_seconds=slow_handler_seconds,
            idle_timeout=idle_timeout, describe=_describe,
        )
        self._tasks = TaskGroup(f"ari:{node}")
        self._connected = asyncio.Event()
        self._closing = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._unknown_seen: set[str] = set()
        self.last_error: AriError | None = None

    # -- registration -----------------------------------------------------------------

    def on(self, event_type: str | type[AriEvent], handler: EventHandler) -> Callable[[], None]:
        """Call ``handler(event)`` for each event of ``event_type`` ("*" = all); returns an unsubscriber."""
        key = event_type if isinstance(event_type, str) else event_type.__name__
        if key != "*" and key not in EVENT_TYPES:
            # Still allowed (a GenericEvent of that type), but most likely a typo.
            log.info("handler for an untyped ARI event", event_type=key, node=self.node)
        bucket = self._any_handlers if key == "*" else self._handlers.setdefault(key, [])
        bucket.append(handler)
        self._resolved.clear()

        def unsubscribe() -> None:
            if handler in bucket:
                bucket.remove(handler)
                self._resolved.clear()

        return unsubscribe

    def on_connected(self, hook: ConnectedHook) -> ConnectedHook:
        """Run ``await hook(client)`` after each (re)connect of the WebSocket."""
        self._connected_hooks.append(hook)
        return hook

    def on_resynced(self, hook: ResyncedHook) -> ResyncedHook:
        """Run ``await hook(snapshot)`` after each post-connect resynchronisation."""
        self._resynced_hooks.append(hook)
        return hook

    def _handlers_for(self, event: AriEvent) -> tuple[EventHandler, ...]:
        handlers = self._resolved.get(event.type)
        if handlers is None:
            # "*" observers first: e.g. the cluster's owner map is set before features act.
            handlers = (*self._any_handlers, *self._handlers.get(event.type, ()))
            self._resolved[event.type] = handlers
        return handlers

    # -- lifecycle --------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the events WebSocket is open."""
        return self._connected.is_set()

    async def start(self) -> None:
        """Start the supervisor task (returns at once; see :meth:`wait_connected`)."""
        if self._supervisor is None:
            self._closing.clear()
            self._supervisor = self._tasks.spawn(self._run(), "supervisor")

    async def wait_connected(self) -> None:
        """Wait until the WebSocket is open (wrap in ``asyncio.timeout``; ``last_error`` says why)."""
        await self._connected.wait()

    async def connect(self, wait_seconds: float | None = 10.0) -> None:
        """Start and wait up to ``wait_seconds`` for the first connection."""
        await self.start()
        try:
            async with asyncio.timeout(wait_seconds):
                await self._connected.wait()
        except TimeoutError as err:
            cause = self.last_error
            raise AriConnectionError(
                f"no ARI WebSocket within {wait_seconds}s: {cause or 'no answer'}", node=self.node,
                status=cause.status if cause else None, path="/events",
            ) from err

    async def close(self) -> None:
        """Stop reconnecting, close the socket, cancel every task and the HTTP session."""
        self._closing.set()
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close()
        await self._tasks.close()
        self._supervisor = None
        await self.dispatcher.close()
        await self.rest.close()
        self._connected.clear()

    async def __aenter__(self) -> AriClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- the WebSocket ----------------------------------------------------------------

    async def _open(self) -> aiohttp.ClientWebSocketResponse:
        # Asterisk 22 takes credentials for the events socket as api_key=user:pass.
        params = {"app": self.app, "api_key": f"{self._user}:{self._password}",
                  "subscribeAll": "false"}
        url = f"{self.base_url}/ari/events"
        try:
            async with asyncio.timeout(self.connect_timeout):
                return await self.rest.session.ws_connect(
                    url, params=params, heartbeat=self.heartbeat, max_msg_size=16 * 1024 * 1024,
                )
        except aiohttp.WSServerHandshakeError as err:
            cls = AriUnauthorized if err.status == 401 else AriConnectionError
            raise cls(f"WebSocket upgrade refused: {err.status} {err.message}",
                      status=err.status, method="GET", path="/events", node=self.node) from err
        except (aiohttp.ClientError, OSError, TimeoutError) as err:
            raise AriConnectionError(f"{type(err).__name__}: {err}", method="GET",
                                     path="/events", node=self.node) from err

    async def _run(self) -> None:
        while not self._closing.is_set():
            try:
                ws = await self._open()
            except AriError as err:
                self.last_error = err
                level = log.error if isinstance(err, AriUnauthorized) else log.warning
                level("ari connect failed", **err.details, attempt=self._backoff.attempts + 1)
            else:
                self._backoff.reset()
                await self._serve(ws)
            if self._closing.is_set():
                return
            delay = self._backoff.next_delay()
            log.info("ari reconnect scheduled", node=self.node, delay=round(delay, 3))
            try:
                async with asyncio.timeout(delay):
                    await self._closing.wait()
            except TimeoutError:
                pass

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self.stats.connects += 1
        self._connected.set()
        log.info("ari connected", node=self.node, app=self.app)
        after = self._tasks.spawn(self._after_connect(), "after-connect")
        try:
            async for msg in ws:
                if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    self.handle_frame(msg.data)
                elif msg.type is aiohttp.WSMsgType.ERROR:
                    log.warning("ari websocket error", node=self.node, error=str(ws.exception()))
                    break
        finally:
            self._connected.clear()
            self._ws = None
            after.cancel()
            if not ws.closed:
                await ws.close()
            if not self._closing.is_set():
                log.warning("ari disconnected", node=self.node, close_code=ws.close_code,
                            error=str(ws.exception() or ""))

    async def _after_connect(self) -> None:
        for hook in list(self._connected_hooks):
            try:
                await hook(self)
            except Exception:  # task boundary: a feature's hook must not stop the resync
                log.exception("ari connected hook failed", node=self.node,
                              hook=getattr(hook, "__qualname__", repr(hook)))
        try:
            snapshot = await self.resync()
        except AriError as err:
            # The socket is up; features keep their state until the next reconnect's resync.
            log.error("ari resync failed", **err.details)
            return
        for rhook in list(self._resynced_hooks):
            try:
                await rhook(snapshot)
            except Exception:  # task boundary, as above
                log.exception("ari resynced hook failed", node=self.node,
                              hook=getattr(rhook, "__qualname__", repr(rhook)))

    async def resync(self) -> AriSnapshot:
        """List channels and bridges, keeping those our app owns (GET /applications/{app})."""
        channels, bridges = await asyncio.gather(self.channels.list(), self.bridges.list())
        application: Application | None
        try:
            application = await self.applications.get(self.app)
        except AriError as err:
            ws = self._ws
            if err.status == 404 and ws is not None and not ws.closed:
                # The socket is up but Asterisk has no such app: the app was unregistered
                # under it (seen on 22.10.1 when an earlier socket of the app closed while
                # this one registered). No event would ever come: connect again.
                log.warning("ari app not registered on the open socket; reconnecting",
                            **err.details)
                self._tasks.spawn(ws.close(), "reopen")
                raise
            log.warning("ari app listing failed; resync keeps every channel", **err.details)
            application = None
        if application is not None:
            ours_c = set(application.channel_ids)
            ours_b = set(application.bridge_ids)
            channels = [c for c in channels if c.id in ours_c]
            # Bridges the app created are not always listed in bridge_ids (Asterisk 22
            # subscribes the app to them implicitly); keep stasis-class bridges as well.
            bridges = [b for b in bridges if b.id in ours_b or b.bridge_class == "stasis"]
        self.stats.resyncs += 1
        snapshot = AriSnapshot(self.node, channels, bridges, application)
        log.info("ari resynced", node=self.node, channels=len(channels), bridges=len(bridges))
        return snapshot

    # -- frames -> typed events -> ordered handlers ------------------------------------

    def handle_frame(self, frame: str | bytes) -> AriEvent | None:
        """Parse one WebSocket frame and queue it for its ordered consumer."""
        self.stats.frames += 1
        try:
            event = from_json(loads(frame), self.node)  # parse_event, one call less
        except AriMalformedFrame as err:
            self.stats.malformed += 1
            text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
            log.warning("malformed ari frame dropped", node=self.node, reason=err.reason,
                        frame=text[:200])
            return None
        self.dispatch(event)
        return event

    def dispatch(self, event: AriEvent) -> None:
        """Queue a typed event for its channel's or bridge's consumer."""
        self.stats.events += 1
        cls = type(event)
        if cls is GenericEvent:
            self.stats.unknown += 1
            if event.type not in self._unknown_seen:
                self._unknown_seen.add(event.type)
                log.info("untyped ari event (passed on as GenericEvent)", node=self.node,
                         event_type=event.type)
        elif cls is ApplicationReplaced:
            # Asterisk 22 keeps this socket open but sends it nothing more; we do not
            # fight the other instance for the app (it would flap between the two).
            log.error("ari app taken over by another websocket", node=self.node, app=self.app)
        self.dispatcher.submit(event.order_key() or APP_KEY, event, last=cls in _FINAL_EVENTS)


def ari_client_for(node: AsteriskNode, app: str, **kwargs: Any) -> AriClient:
    """An :class:`AriClient` for one configured Asterisk node."""
    return AriClient(
        node.ari_url, node.ari_user, node.ari_password.get_secret_value(), app,
        node=node.name, **kwargs,
    )
