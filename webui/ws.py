"""The WebSocket hub ``/ws``: one bus subscription per app, fanned out to matching sockets.

Each socket has a bounded send queue drained by its own sender task, so a slow
browser only loses its own messages (dropped and logged) and never delays the
others or the bus. Audience rules (see :func:`audience_matches`) keep personal data
inside each user's role and jurisdiction. The sockets are indexed by user, so a message
for named users (a screen-pop) looks at their sockets only, and one for servers only
(``browsers: false``, the hotline's raw call topics) at none.
"""

from __future__ import annotations

import asyncio
import contextlib
import types
from collections.abc import AsyncIterator, Coroutine, Generator, Iterable, Mapping
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from callcenter.bus import BusMessage, Subscription
from callcenter.commands import INTERNAL_PREFIX
from callcenter.logs import get_logger
from webui.auth import current
from webui.keys import RUNTIME, Clock, Principal

log = get_logger(__name__)
HEARTBEAT_SECONDS = 25.0
SEND_TIMEOUT = 10.0
QUEUE_SIZE = 256
_KICK = object()
# Application close code (4000-4999): the session ended (logout or expiry).
CLOSE_SESSION_ENDED = 4401


def audience_matches(principal: Principal, audience: Mapping[str, Any]) -> bool:
    """Whether a user may receive a message addressed to ``audience``.

    ``browsers: false`` (``SERVERS_ONLY``) keeps it from every socket. ``area_path`` is a
    hard filter: only users whose jurisdiction covers it. ``roles`` and ``users`` widen
    each other (supervisors *or* user 7); with neither, every logged-in user within the
    area filter receives it.
    """
    if audience.get("browsers") is False:
        return False
    area_path = audience.get("area_path")
    if area_path is not None and not principal.jurisdiction.covers(str(area_path)):
        return False
    roles = audience.get("roles") or ()
    users = audience.get("users") or ()
    if not roles and not users:
        return True
    return principal.role in roles or principal.user_id in {_as_int(u) for u in users}


def _as_int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


class WsClient:
    """One connected console socket and its bounded outgoing queue."""

    def __init__(self, principal: Principal, socket: web.WebSocketResponse, queue_size: int) -> None:
        self.principal = principal
        self.socket = socket
        self._queue: asyncio.Queue[object] = asyncio.Queue(queue_size)
        self._idle = False  # the sender waits for a frame: nothing is queued or being sent
        self.dropped = 0

    def offer(self, data: str) -> bool:
        """Send a frame: in this very step when nothing is queued or being sent before it
        (a small frame's write does not wait, so a pop leaves as it is made, not after
        whatever else the loop has ready); else queue it without waiting. A full queue
        drops it (and says so)."""
        if self._idle and self._queue.empty():
            sending = self.socket.send_str(data)
            try:
                self._queue.put_nowait(_Unfinished(sending, sending.send(None)))
            except StopIteration:
                pass  # written
            except Exception as err:  # noqa: BLE001 - the socket broke: its sender closes it
                self._queue.put_nowait(_Broken(err))
            return True
        try:
            self._queue.put_nowait(data)
            return True
        except asyncio.QueueFull:
            self.dropped += 1
            return False

    def kick(self) -> None:
        """Close this socket soon (session ended): jump the queue if it is full."""
        while True:
            try:
                self._queue.put_nowait(_KICK)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()

    async def send_loop(self) -> None:
        """Drain the queue to the socket until it closes or the session ends."""
        while True:
            self._idle = True
            try:
                item = await self._queue.get()
            finally:
                self._idle = False
            if item is _KICK:
                await self.socket.close(code=CLOSE_SESSION_ENDED, message=b"session ended")
                return
            try:
                if isinstance(item, _Broken):
                    raise ConnectionResetError(f"websocket write failed: {item.error!r}")
                async with asyncio.timeout(SEND_TIMEOUT):
                    if isinstance(item, _Unfinished):
                        await item.finish()
                    else:
                        assert isinstance(item, str)
                        await self.socket.send_str(item)
            except (ConnectionError, TimeoutError) as err:
                log.info("websocket send failed, closing", user_id=self.principal.user_id,
                         error=type(err).__name__, detail=str(err))
                await self.socket.close(code=WSCloseCode.GOING_AWAY)
                return


class _Broken:
    """A write begun in :meth:`WsClient.offer` failed at once: the sender closes the
    socket, and says why."""

    def __init__(self, error: Exception) -> None:
        self.error = error


class _Unfinished:
    """A send begun in :meth:`WsClient.offer` that had to wait (flow control, or a large
    frame compressed aside): its sender drives it to its end, before any later frame."""

    def __init__(self, sending: Coroutine[Any, Any, None], waiting_on: Any) -> None:
        self._sending = sending
        self._waiting_on = waiting_on

    @types.coroutine
    def finish(self) -> Generator[Any, Any, None]:
        """Go on as the task that began the send would have: wait for what it waits on,
        then resume it; a cancellation or timeout is passed to it."""
        sending, waiting_on = self._sending, self._waiting_on
        while True:
            try:
                yield waiting_on
            except BaseException as err:  # noqa: BLE001 - passed on to the send, which decides
                step = partial(sending.throw, err)
            else:
                step = partial(sending.send, None)
            try:
                waiting_on = step()
            except StopIteration:
                return


class WsHub:
    """The connected sockets and the fan-out of bus messages to them."""

    def __init__(self, *, clock: Clock, queue_size: int = QUEUE_SIZE) -> None:
        self._clients: set[WsClient] = set()
        self._by_user: dict[int, set[WsClient]] = {}
        self._user_ids: dict[str, int] = {}  # username → user id, while they have a socket
        self._clock = clock
        self.queue_size = queue_size

    @property
    def clients(self) -> frozenset[WsClient]:
        return frozenset(self._clients)

    @property
    def has_clients(self) -> bool:
        """Whether any console socket is open here."""
        return bool(self._clients)

    def add(self, client: WsClient) -> None:
        self._clients.add(client)
        principal = client.principal
        self._by_user.setdefault(principal.user_id, set()).add(client)
        self._user_ids[principal.username] = principal.user_id

    def discard(self, client: WsClient) -> None:
        self._clients.discard(client)
        principal = client.principal
        mine = self._by_user.get(principal.user_id)
        if mine is not None:
            mine.discard(client)
            if not mine:
                del self._by_user[principal.user_id]
                self._user_ids.pop(principal.username, None)

    def user_ids(self, usernames: Iterable[str]) -> list[int]:
        """The ids of those of ``usernames`` with a socket open here (sorted)."""
        found = self._user_ids
        return sorted({found[name] for name in usernames if name in found})

    def _candidates(self, audience: Mapping[str, Any]) -> tuple[WsClient, ...]:
        if audience.get("browsers") is False:
            return ()
        users = audience.get("users")
        if users and not audience.get("roles"):
            by_user = self._by_user
            return tuple(c for u in users for c in by_user.get(_as_int(u) or 0, ()))
        return tuple(self._clients)

    def deliver(self, message: BusMessage) -> int:
        """Queue a message on every matching socket; return how many got it."""
        if message.topic.startswith(INTERNAL_PREFIX):
            return 0  # process-to-process traffic (commands, replies): never to a browser
        now = self._clock()
        frame: str | None = None
        delivered = 0
        for client in self._candidates(message.audience):
            if client.principal.expires_at <= now:
                client.kick()
                continue
            if not audience_matches(client.principal, message.audience):
                continue
            if frame is None:  # encoded once, and only if someone wants it
                frame = orjson.dumps({"topic": message.topic, "payload": message.payload}).decode()
            if client.offer(frame):
                delivered += 1
            else:
                log.warning("websocket lagging, message dropped", user_id=client.principal.user_id,
                            topic=message.topic, dropped=client.dropped)
        return delivered

    def disconnect_session(self, token_hash: str) -> int:
        """Close every socket opened with that session (logout)."""
        kicked = [c for c in self._clients if c.principal.token_hash == token_hash]
        for client in kicked:
            client.kick()
        return len(kicked)

    async def pump(self, subscription: Subscription) -> None:
        """Feed bus messages to the sockets until cancelled."""
        while True:
            try:
                async for message in subscription:
                    self.deliver(message)
                return  # the subscription was closed
            except Exception:  # noqa: BLE001 - task boundary: log and keep the hub alive
                log.exception("websocket hub pump failed; resuming")
                await asyncio.sleep(1.0)

    async def close_all(self) -> None:
        """Close every socket at once (consoles reconnect to whichever process serves)."""
        clients = tuple(self._clients)
        await asyncio.gather(*(c.socket.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
                               for c in clients), return_exceptions=True)
        self._clients.clear()
        self._by_user.clear()
        self._user_ids.clear()


HUB = web.AppKey("hub", WsHub)


async def hub_context(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: one bus subscription for the whole app, and its pump task."""
    hub = app[HUB]
    subscription = await app[RUNTIME].bus.subscribe("*")
    pump = asyncio.create_task(hub.pump(subscription), name="ws-hub-pump")
    try:
        yield
    finally:
        await subscription.close()
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        await hub.close_all()


async def close_sockets(app: web.Application) -> None:
    """on_shutdown: the consoles' sockets are closed before the server waits for its
    handlers to end (a socket's handler ends only when it closes: open ones held a
    shutdown for the server's whole minute of grace)."""
    await app[HUB].close_all()


def origin_allowed(request: web.Request) -> bool:
    """The Origin must be a configured console origin or this very host (no cross-site sockets)."""
    origin = request.headers.get("Origin")
    if not origin:
        return False
    if origin in request.app[RUNTIME].settings.web_origins:
        return True
    return urlsplit(origin).netloc.lower() == request.host.lower()


async def websocket(request: web.Request) -> web.StreamResponse:
    """GET /ws: authenticated by the session cookie; pushes ``{topic, payload}`` frames."""
    principal = current(request)
    if not origin_allowed(request):
        log.warning("websocket origin refused", user_id=principal.user_id)
        raise web.HTTPForbidden(reason="origin")
    socket = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS, max_msg_size=4096)
    hub = request.app[HUB]
    client = WsClient(principal, socket, hub.queue_size)
    # Registered before the handshake completes, so nothing published after the
    # client sees the upgrade can be missed.
    hub.add(client)
    try:
        await socket.prepare(request)
        client.offer(orjson.dumps({"topic": "ws.ready", "payload": {
            "user_id": principal.user_id, "role": principal.role}}).decode())
        sender = asyncio.create_task(client.send_loop(), name=f"ws-send-{principal.user_id}")
        try:
            async for frame in socket:
                # The console only listens; a text "ping" is answered for clients' own checks.
                if frame.type == WSMsgType.TEXT and frame.data == "ping":
                    client.offer('{"topic":"ws.pong","payload":{}}')
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
    finally:
        hub.discard(client)
    return socket


__all__ = ["HUB", "WsClient", "WsHub", "audience_matches", "close_sockets", "hub_context",
           "websocket"]
