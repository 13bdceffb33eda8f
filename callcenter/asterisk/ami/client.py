"""AmiClient: one owned supervisor per node (login, keepalive, reconnect), events, resync.

panoramisk's ``Manager`` reconnects with untracked ``call_later`` tasks, re-sends
queued actions after a reconnect and runs coroutine callbacks with ``ensure_future``;
here one owned supervisor task owns the connection instead, pending actions fail
with :class:`AmiConnectionError` when the socket drops, and events go through the
same ordered dispatcher as ARI (per call: ``Linkedid``; else per ``Queue``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from panoramisk.actions import Action
from panoramisk.message import Message

from callcenter.asterisk.ami.actions import AmiActions
from callcenter.asterisk.ami.errors import AmiActionError, AmiConnectionError, AmiError, AmiTimeout
from callcenter.asterisk.ami.messages import AmiEvent, AmiResponse
from callcenter.asterisk.ami.protocol import AmiManager, AmiWireProtocol
from callcenter.asterisk.backoff import Backoff
from callcenter.asterisk.dispatch import OrderedDispatcher
from callcenter.asterisk.tasks import TaskGroup
from callcenter.logs import get_logger
from callcenter.settings import AsteriskNode

log = get_logger(__name__)

AmiHandler = Callable[[AmiEvent], Awaitable[None] | None]
ResyncHook = Callable[["AmiClient"], Awaitable[None]]


#: The AMI event classes the product reads: manager.conf's ``read`` for its user (rendered)
#: and each of its sessions' Login ``Events``. Queue and agent state (agent), calls, dials
#: and transfers (call), CDRs (cdr), VarSet (dialplan: MixMonitor's file), UserEvent (user),
#: FullyBooted, Reload and Shutdown (system), login failures (security), and reporting. Not
#: ``agi``: Asterisk sends two AGIExec events for every AGI command, which nothing here
#: reads; the hotline's route alone is a dozen commands a call.
EVENT_CLASSES = "system,call,agent,user,reporting,cdr,dialplan,security"


class AmiClient(AmiActions):
    """One node's AMI: actions with their responses, glob event handlers, reconnect."""

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        secret: str,
        *,
        node: str = "default",
        connect_timeout: float = 10.0,
        action_timeout: float = 10.0,
        ping_interval: float = 20.0,
        backoff: Backoff | None = None,
        slow_handler_seconds: float = 0.5,
        idle_timeout: float = 60.0,
        events: str = EVENT_CLASSES,
    ) -> None:
        self.node = node
        #: The Login's ``Events``: ``on`` (every class the user may read) or a comma list of
        #: classes (``agent``): Asterisk then sends this session those classes only.
        self.events = events
        self.host = host
        self.port = port
        self._user = user
        self._secret = secret
        self.connect_timeout = connect_timeout
        self.action_timeout = action_timeout
        self.ping_interval = ping_interval
        self._backoff = backoff or Backoff()
        self._manager = AmiManager(node, self._event, self._lost, host=host, port=port,
                                   events="on")
        self._resolved: dict[str, tuple[AmiHandler, ...]] = {}
        self._resync_hooks: list[ResyncHook] = []
        self._on_receipt: dict[str, list[Callable[[AmiEvent], None]]] = {}
        self.dispatcher: OrderedDispatcher[AmiEvent] = OrderedDispatcher(
            self._handlers_for, name=f"ami:{node}", slow_handler_seconds=slow_handler_seconds,
            idle_timeout=idle_timeout, describe=lambda e: {"event_type": e.name, "node": e.node},
        )
        self._tasks = TaskGroup(f"ami:{node}")
        self._protocol: AmiWireProtocol | None = None
        self._lost_event = asyncio.Event()
        self._connected = asyncio.Event()
        self._closing = asyncio.Event()
        self._pending: set[asyncio.Future[Any]] = set()
        self._supervisor: asyncio.Task[None] | None = None
        self.last_error: Exception | None = None
        self.events_received = 0

    # -- events -----------------------------------------------------------------------

    def on(self, pattern: str, handler: AmiHandler) -> AmiHandler:
        """Call ``handler(event)`` for events whose name matches the glob ``pattern`` ('Queue*')."""
        self._manager.register_event(pattern, handler)
        self._resolved.clear()
        return handler

    def on_receipt(self, name: str, hook: Callable[[AmiEvent], None]) -> None:
        """Call ``hook(event)`` synchronously as each ``name`` event is read, before the
        ordered handlers run: for what must not wait behind earlier events' work (the
        screen-pop of a ringing agent). The hook must not block; the event is dispatched
        to the ordered handlers as usual."""
        self._on_receipt.setdefault(name, []).append(hook)

    def on_resync(self, hook: ResyncHook) -> ResyncHook:
        """Run ``await hook(client)`` on each FullyBooted (after login and after an Asterisk restart)."""
        self._resync_hooks.append(hook)
        return hook

    def _handlers_for(self, event: AmiEvent) -> tuple[AmiHandler, ...]:
        handlers = self._resolved.get(event.name)
        if handlers is None:
            found: list[AmiHandler] = []
            for pattern, regexp in self._manager.patterns:
                if regexp.match(event.name):
                    found.extend(self._manager.callbacks[pattern])
            handlers = self._resolved[event.name] = tuple(found)
        return handlers

    def _event(self, message: Message) -> None:
        name = message.get("Event")
        if not isinstance(name, str) or not name:
            return
        self.events_received += 1
        event = AmiEvent(name, self.node, message, self.events_received)
        if name == "FullyBooted" and self._resync_hooks:
            self._tasks.spawn(self._resync(), "resync")
        for at_once in self._on_receipt.get(name, ()):
            try:
                at_once(event)
            except Exception:  # noqa: BLE001 - the ordered handlers still get the event
                log.exception("ami receipt hook failed", node=self.node, event_type=name)
        if self._handlers_for(event):
            self.dispatcher.submit(event.order_key(), event)

    async def _resync(self) -> None:
        for hook in list(self._resync_hooks):
            try:
                await hook(self)
            except Exception:  # task boundary: one feature's resync must not stop the others
                log.exception("ami resync hook failed", node=self.node,
                              hook=getattr(hook, "__qualname__", repr(hook)))

    # -- lifecycle --------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while logged in."""
        return self._connected.is_set()

    @property
    def protocol_version(self) -> str | None:
        """The AMI version from the ``Asterisk Call Manager/<version>`` banner (None before it)."""
        protocol = self._protocol
        version = getattr(protocol, "version", None) if protocol is not None else None
        return version if isinstance(version, str) else None

    async def start(self) -> None:
        """Start the supervisor task."""
        if self._supervisor is None:
            self._closing.clear()
            self._supervisor = self._tasks.spawn(self._run(), "supervisor")

    async def connect(self, wait_seconds: float | None = 10.0) -> None:
        """Start and wait up to ``wait_seconds`` for the first login."""
        await self.start()
        try:
            async with asyncio.timeout(wait_seconds):
                await self._connected.wait()
        except TimeoutError as err:
            raise AmiConnectionError(f"no AMI login within {wait_seconds}s: {self.last_error}",
                                     action="Login", node=self.node) from err

    async def wait_connected(self) -> None:
        """Wait until logged in (wrap in ``asyncio.timeout``)."""
        await self._connected.wait()

    async def close(self) -> None:
        """Log off, stop reconnecting, cancel every task."""
        self._closing.set()
        protocol = self._protocol
        if protocol is not None and self.connected:
            try:
                async with asyncio.timeout(1.0):
                    await self._send({"Action": "Logoff"})
            except (AmiError, TimeoutError):
                pass
        if protocol is not None:
            protocol.close()
        await self._tasks.close()
        self._supervisor = None
        await self.dispatcher.close()
        self._fail_pending("client closed")

    async def __aenter__(self) -> AmiClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing.is_set():
            self._lost_event.clear()
            try:
                async with asyncio.timeout(self.connect_timeout):
                    _transport, protocol = await loop.create_connection(
                        lambda: AmiWireProtocol(self._manager), self.host, self.port
                    )
            except (OSError, TimeoutError) as err:
                self.last_error = err
                log.warning("ami connect failed", node=self.node, host=self.host, port=self.port,
                            error=f"{type(err).__name__}: {err}")
            else:
                self._protocol = protocol
                self._manager.protocol = protocol
                try:
                    await self._session(protocol)
                finally:
                    protocol.close()
                    self._connected.clear()
                    self._fail_pending("connection lost")
            if self._closing.is_set():
                return
            delay = self._backoff.next_delay()
            log.info("ami reconnect scheduled", node=self.node, delay=round(delay, 3))
            try:
                async with asyncio.timeout(delay):
                    await self._closing.wait()
            except TimeoutError:
                pass

    async def _session(self, protocol: AmiWireProtocol) -> None:
        try:
            resp = await self._send({"Action": "Login", "Username": self._user,
                                     "Secret": self._secret, "Events": self.events})
        except AmiError as err:
            self.last_error = err
            log.warning("ami login got no answer", node=self.node, error=err.message)
            return
        if not resp.success:
            self.last_error = AmiActionError(resp.message, action="Login", node=self.node)
            log.error("ami login refused", node=self.node, message=resp.message)
            return
        self._backoff.reset()
        self._connected.set()
        log.info("ami connected", node=self.node, ami_version=self.protocol_version)
        while not self._lost_event.is_set():
            try:
                async with asyncio.timeout(self.ping_interval):
                    await self._lost_event.wait()
            except TimeoutError:
                try:
                    await self._send({"Action": "Ping"}, timeout=self.ping_interval / 2)
                except AmiError as err:
                    # A half-open socket: no RST ever comes, so close it ourselves.
                    log.warning("ami keepalive failed; reconnecting", node=self.node,
                                error=err.message)
                    return
        log.warning("ami disconnected", node=self.node)

    def _lost(self, protocol: AmiWireProtocol, exc: Exception | None) -> None:
        if protocol is self._protocol:
            self._lost_event.set()
            self._connected.clear()
        self._manager.awaiting_actions.clear()

    def _fail_pending(self, why: str) -> None:
        for fut in list(self._pending):
            if not fut.done():
                fut.set_exception(AmiConnectionError(why, node=self.node))
        self._pending.clear()

    # -- the sender under every action -------------------------------------------------

    async def _send(self, action: Mapping[str, Any], *, as_list: bool | None = None,
                    timeout: float | None = None) -> AmiResponse:  # noqa: ASYNC109 -- per-action bound
        protocol = self._protocol
        name = str(action.get("Action", ""))
        if protocol is None or protocol.closed:
            raise AmiConnectionError("not connected", action=name, node=self.node)
        act = Action(dict(action), as_list=as_list)
        if name.lower() == "originate" and "async" not in act:
            # panoramisk's Action.multi reads act['async'] unguarded (KeyError otherwise).
            act["Async"] = "false"
        future: asyncio.Future[Any] = protocol.send(act, as_list=as_list)
        self._pending.add(future)
        try:
            async with asyncio.timeout(timeout or self.action_timeout):
                result = await future
        except TimeoutError as err:
            protocol.responses.pop(act.id, None)
            protocol.responses.pop(act.action_id, None)
            raise AmiTimeout(f"no complete answer within {timeout or self.action_timeout}s",
                             action=name, action_id=act.action_id, node=self.node) from err
        finally:
            self._pending.discard(future)
        return self._response(name, act.action_id, result)

    def _response(self, name: str, action_id: str, result: Message | list[Message]) -> AmiResponse:
        messages = result if isinstance(result, list) else [result]
        first = messages[0]
        return AmiResponse(
            node=self.node, action=name, action_id=action_id,
            response=str(first.get("Response", "")), message=str(first.get("Message", "")),
            headers=first,
            events=[AmiEvent(str(m.get("Event")), self.node, m) for m in messages[1:]
                    if m.get("Event")],
        )


def ami_client_for(node: AsteriskNode, **kwargs: Any) -> AmiClient:
    """An :class:`AmiClient` for one configured Asterisk node."""
    return AmiClient(node.ami_host, node.ami_port, node.ami_user,
                     node.ami_secret.get_secret_value(), node=node.name, **kwargs)
