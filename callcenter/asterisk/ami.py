"""AMI client on panoramisk: login, actions and event lists, glob events, reconnect, resync.

panoramisk's ``Manager`` reconnects with untracked ``call_later`` tasks, re-sends
queued actions after a reconnect and runs coroutine callbacks with ``ensure_future``;
here one owned supervisor task owns the connection instead, pending actions fail
with :class:`AmiConnectionError` when the socket drops, and events go through the
same ordered dispatcher as ARI (per call: ``Linkedid``; else per ``Queue``).
panoramisk's parser and its ``register_event`` glob patterns are used as they are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.manager import Manager
from panoramisk.message import Message

from callcenter.asterisk.backoff import Backoff
from callcenter.asterisk.dispatch import OrderedDispatcher
from callcenter.asterisk.tasks import TaskGroup
from callcenter.logs import get_logger
from callcenter.settings import AsteriskNode

log = get_logger(__name__)

AmiHandler = Callable[["AmiEvent"], Awaitable[None] | None]
ResyncHook = Callable[["AmiClient"], Awaitable[None]]

#: AMI OriginateResponse ``Reason`` codes as Asterisk 22 reports them (traces: ami-originate).
ORIGINATE_REASONS = {0: "failed", 1: "hangup", 3: "no_answer", 4: "answered", 5: "busy",
                     8: "congestion"}


class AmiError(Exception):
    """An AMI action failed; carries the action, its ActionID, the node and Asterisk's message."""

    error_id = "ami_error"

    def __init__(self, message: str, *, action: str = "", action_id: str = "", node: str = "",
                 response: AmiResponse | None = None) -> None:
        self.message = message
        self.action = action
        self.action_id = action_id
        self.node = node
        self.response = response
        super().__init__(f"[{node}] {action} ({action_id}): {message}")


class AmiConnectionError(AmiError):
    """Not connected, or the connection dropped before the answer came."""

    error_id = "ami_unreachable"


class AmiTimeout(AmiError):
    """No (complete) answer within the action timeout."""

    error_id = "ami_timeout"


class AmiActionError(AmiError):
    """Asterisk answered ``Response: Error`` (e.g. 'Extension does not exist.')."""

    error_id = "ami_action_error"


@dataclass(slots=True, frozen=True)
class AmiEvent:
    """One AMI event; ``headers`` is case-insensitive (repeated headers are lists).

    ``seq`` is the arrival order on this client: handlers of different calls or queues
    run concurrently, so sorting by ``seq`` recovers the order Asterisk sent them in.
    """

    name: str
    node: str
    headers: Mapping[str, Any] = field(repr=False)
    seq: int = 0

    def get(self, key: str, default: str = "") -> Any:
        """A header value, case-insensitively."""
        value = self.headers.get(key)
        return default if value is None else value

    def __getitem__(self, key: str) -> Any:
        return self.headers[key]


@dataclass(slots=True, frozen=True)
class AmiResponse:
    """An action's response, with the events of an event list (``*Complete`` last)."""

    node: str
    action: str
    action_id: str
    response: str
    message: str
    headers: Mapping[str, Any] = field(repr=False)
    events: list[AmiEvent] = field(default_factory=list, repr=False)

    @property
    def success(self) -> bool:
        """True for Success/Follows/Goodbye."""
        return self.response in ("Success", "Follows", "Goodbye")

    def items(self, name: str | None = None) -> list[AmiEvent]:
        """The listed events, without the ``*Complete`` terminator (optionally of one name)."""
        return [e for e in self.events
                if not e.name.endswith("Complete") and (name is None or e.name == name)]


@dataclass(slots=True, frozen=True)
class OriginateResult:
    """Outcome of an async Originate: the matching OriginateResponse event."""

    success: bool
    reason: int
    channel: str
    uniqueid: str | None
    event: AmiEvent | None
    #: The action's own answer ('Originate successfully queued'), before the event.
    response: AmiResponse | None = None

    @property
    def outcome(self) -> str:
        """'answered', 'busy', 'congestion', 'no_answer', 'failed' ..."""
        return ORIGINATE_REASONS.get(self.reason, f"reason_{self.reason}")


def _order_key(event: AmiEvent) -> str:
    headers = event.headers
    for header in ("Linkedid", "Queue"):
        value = headers.get(header)
        if isinstance(value, str) and value:
            return f"{header.lower()}:{value}"
    return "ami"


class _Protocol(AMIProtocol):
    """panoramisk's protocol, made to survive bad input and report every disconnect."""

    def __init__(self, manager: _Manager) -> None:
        super().__init__()
        self._manager = manager

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        # Set here, not after create_connection returns: data can arrive in between.
        self.factory = self._manager
        self.log = self._manager.log
        self.config = self._manager.config
        self.encoding = "utf8"
        self._manager.responses = self.responses

    def data_received(self, data: bytes) -> None:
        try:
            super().data_received(data)
        except Exception:  # protocol boundary: garbage must not kill the connection
            # e.g. panoramisk's Action.multi reads action['async'] and raises KeyError
            # for a sync Originate; the stream position is kept, only that message is lost.
            log.exception("ami message could not be handled", node=self._manager.node)

    def connection_lost(self, exc: Exception | None) -> None:
        # panoramisk only reports a loss it did not cause; we need every one.
        if not self.closed:
            self.close()
        self._manager.lost(self, exc)


class _Manager(Manager):
    """The parts of panoramisk's Manager we keep: send, glob registration, the protocol hooks."""

    def __init__(self, owner: AmiClient, **config: Any) -> None:
        super().__init__(**config)
        self.owner = owner
        self.node = owner.node
        # panoramisk re-sends queued actions on FullyBooted; we fail them instead.
        self.callbacks.clear()
        self.patterns.clear()

    def lost(self, protocol: _Protocol, exc: Exception | None) -> None:
        self.owner._lost(protocol, exc)

    def connection_lost(self, exc: Any) -> None:  # the Shutdown event path
        protocol = self.protocol
        if isinstance(protocol, _Protocol):
            protocol.close()
            self.owner._lost(protocol, None)

    def dispatch(self, event: Message) -> list[str]:
        self.owner._event(event)
        return []


class AmiClient:
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
    ) -> None:
        self.node = node
        self.host = host
        self.port = port
        self._user = user
        self._secret = secret
        self.connect_timeout = connect_timeout
        self.action_timeout = action_timeout
        self.ping_interval = ping_interval
        self._backoff = backoff or Backoff()
        self._manager = _Manager(self, host=host, port=port, events="on")
        self._resolved: dict[str, tuple[AmiHandler, ...]] = {}
        self._resync_hooks: list[ResyncHook] = []
        self.dispatcher: OrderedDispatcher[AmiEvent] = OrderedDispatcher(
            self._handlers_for, name=f"ami:{node}", slow_handler_seconds=slow_handler_seconds,
            idle_timeout=idle_timeout, describe=lambda e: {"event_type": e.name, "node": e.node},
        )
        self._tasks = TaskGroup(f"ami:{node}")
        self._protocol: _Protocol | None = None
        self._lost_event = asyncio.Event()
        self._connected = asyncio.Event()
        self._closing = asyncio.Event()
        self._pending: set[asyncio.Future[Any]] = set()
        self._supervisor: asyncio.Task[None] | None = None
        self.last_error: Exception | None = None
        self.events_received = 0

    # -- registration -----------------------------------------------------------------

    def on(self, pattern: str, handler: AmiHandler) -> AmiHandler:
        """Call ``handler(event)`` for events whose name matches the glob ``pattern`` ('Queue*')."""
        self._manager.register_event(pattern, handler)
        self._resolved.clear()
        return handler

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
        if self._handlers_for(event):
            self.dispatcher.submit(_order_key(event), event)

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
                        lambda: _Protocol(self._manager), self.host, self.port
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

    async def _session(self, protocol: _Protocol) -> None:
        try:
            resp = await self._send({"Action": "Login", "Username": self._user,
                                     "Secret": self._secret, "Events": "on"})
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
        log.info("ami connected", node=self.node)
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

    def _lost(self, protocol: _Protocol, exc: Exception | None) -> None:
        if protocol is self._protocol:
            self._lost_event.set()
            self._connected.clear()
        self._manager.awaiting_actions.clear()

    def _fail_pending(self, why: str) -> None:
        for fut in list(self._pending):
            if not fut.done():
                fut.set_exception(AmiConnectionError(why, node=self.node))
        self._pending.clear()

    # -- actions ----------------------------------------------------------------------

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

    async def send_action(self, action: Mapping[str, Any], *, as_list: bool | None = None,
                          check: bool = True) -> AmiResponse:
        """Send any action; ``check`` raises :class:`AmiActionError` on ``Response: Error``."""
        resp = await self._send(action, as_list=as_list)
        if check and not resp.success:
            raise AmiActionError(resp.message or resp.response, action=resp.action,
                                 action_id=resp.action_id, node=self.node, response=resp)
        return resp

    async def ping(self) -> AmiResponse:
        """Ping."""
        return await self.send_action({"Action": "Ping"})

    async def core_show_channels(self) -> list[AmiEvent]:
        """CoreShowChannels: one CoreShowChannel event per channel."""
        resp = await self.send_action({"Action": "CoreShowChannels"})
        return resp.items("CoreShowChannel")

    async def queue_status(self, queue: str | None = None, member: str | None = None) -> list[AmiEvent]:
        """QueueStatus: QueueParams, QueueMember and QueueEntry events."""
        action = _compact({"Action": "QueueStatus", "Queue": queue, "Member": member})
        return (await self.send_action(action)).items()

    async def queue_summary(self, queue: str | None = None) -> list[AmiEvent]:
        """QueueSummary: one QueueSummary event per queue."""
        action = _compact({"Action": "QueueSummary", "Queue": queue})
        return (await self.send_action(action)).items("QueueSummary")

    async def queue_add(self, queue: str, interface: str, *, member_name: str | None = None,
                        penalty: int | None = None, paused: bool | None = None,
                        state_interface: str | None = None) -> AmiResponse:
        """QueueAdd ('Added interface to queue'; QueueMemberAdded follows)."""
        # panoramisk treats 'Added ... to queue' as the start of a list; as_list=False
        # stops it waiting for a *Complete that Asterisk 22 never sends for QueueAdd.
        return await self.send_action(_compact({
            "Action": "QueueAdd", "Queue": queue, "Interface": interface,
            "MemberName": member_name, "Penalty": penalty,
            "Paused": None if paused is None else ("true" if paused else "false"),
            "StateInterface": state_interface,
        }), as_list=False)

    async def queue_remove(self, queue: str, interface: str) -> AmiResponse:
        """QueueRemove (QueueMemberRemoved follows)."""
        return await self.send_action({"Action": "QueueRemove", "Queue": queue,
                                       "Interface": interface})

    async def queue_pause(self, queue: str | None, interface: str, paused: bool,
                          reason: str | None = None) -> AmiResponse:
        """QueuePause true/false (QueueMemberPause follows); ``queue`` None = every queue."""
        return await self.send_action(_compact({
            "Action": "QueuePause", "Queue": queue, "Interface": interface,
            "Paused": "true" if paused else "false", "Reason": reason,
        }))

    async def originate(
        self,
        channel: str,
        *,
        context: str | None = None,
        exten: str | None = None,
        priority: int | None = None,
        application: str | None = None,
        data: str | None = None,
        caller_id: str | None = None,
        ring_timeout_ms: int = 30000,
        variables: Mapping[str, str] | None = None,
        account: str | None = None,
        channel_id: str | None = None,
    ) -> OriginateResult:
        """Originate with Async=true and wait for the OriginateResponse of our ActionID.

        Asterisk 22: 'Originate successfully queued' first, then OriginateResponse with
        Reason 4 answered, 5 busy, 8 congestion, 3 no answer, 0 failure. A bad dialplan
        target answers ``Response: Error`` at once (raised as AmiActionError).
        """
        action = _compact({
            "Action": "Originate", "Channel": channel, "Context": context, "Exten": exten,
            "Priority": priority, "Application": application, "Data": data,
            "CallerID": caller_id, "Timeout": ring_timeout_ms, "Account": account,
            "ChannelId": channel_id, "Async": "true",
        })
        if variables:
            action["Variable"] = [f"{k}={v}" for k, v in variables.items()]
        resp = await self._send(action, timeout=ring_timeout_ms / 1000 + self.action_timeout)
        if not resp.success:
            raise AmiActionError(resp.message or resp.response, action="Originate",
                                 action_id=resp.action_id, node=self.node, response=resp)
        event = next((e for e in resp.events if e.name == "OriginateResponse"), None)
        if event is None:
            raise AmiError("no OriginateResponse", action="Originate",
                           action_id=resp.action_id, node=self.node, response=resp)
        reason = event.get("Reason", "0")
        uniqueid = event.get("Uniqueid") or None
        return OriginateResult(
            success=event.get("Response") == "Success",
            reason=int(reason) if str(reason).isdigit() else 0,
            channel=str(event.get("Channel")),
            # On failure Asterisk 22 reports Uniqueid '<unknown>'.
            uniqueid=None if uniqueid == "<unknown>" else uniqueid,
            event=event,
            response=resp,
        )

    async def redirect(self, channel: str, context: str, exten: str, priority: int = 1, *,
                       extra_channel: str | None = None) -> AmiResponse:
        """Redirect a channel (and optionally its peer) to a dialplan location."""
        return await self.send_action(_compact({
            "Action": "Redirect", "Channel": channel, "Context": context, "Exten": exten,
            "Priority": priority, "ExtraChannel": extra_channel,
            "ExtraContext": context if extra_channel else None,
            "ExtraExten": exten if extra_channel else None,
            "ExtraPriority": priority if extra_channel else None,
        }))

    async def blind_transfer(self, channel: str, context: str, exten: str) -> AmiResponse:
        """BlindTransfer a bridged channel's peer to ``exten@context``."""
        return await self.send_action({"Action": "BlindTransfer", "Channel": channel,
                                       "Context": context, "Exten": exten})

    async def hangup(self, channel: str, cause: int | None = None) -> AmiResponse:
        """Hangup a channel (name or regex ``/.../``)."""
        return await self.send_action(_compact({"Action": "Hangup", "Channel": channel,
                                                "Cause": cause}))

    async def command(self, command: str) -> list[str]:
        """A CLI command; its output lines."""
        resp = await self.send_action({"Action": "Command", "Command": command})
        output = resp.headers.get("Output", [])
        return output if isinstance(output, list) else [output]


def _compact(action: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in action.items() if v is not None}


def ami_client_for(node: AsteriskNode, **kwargs: Any) -> AmiClient:
    """An :class:`AmiClient` for one configured Asterisk node."""
    return AmiClient(node.ami_host, node.ami_port, node.ami_user,
                     node.ami_secret.get_secret_value(), node=node.name, **kwargs)


__all__: Sequence[str] = [
    "ORIGINATE_REASONS", "AmiActionError", "AmiClient", "AmiConnectionError", "AmiError",
    "AmiEvent", "AmiResponse", "AmiTimeout", "OriginateResult", "ami_client_for",
]
