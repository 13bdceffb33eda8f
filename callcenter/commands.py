"""Commands across processes: a process asks over the bus, the process that can act answers.

A console process without the ``calls`` role cannot ring a softphone itself; it sends the
command on the bus and waits for the one reply. Every process that registered the command
hears it; a handler returns ``None`` for "not mine" (e.g. the incident runs elsewhere) and
stays silent, the owner replies with its result or its error. No reply within the
deadline is a clear :class:`CommandTimeout`, never a hang. Requests and replies travel on
``internal.*`` topics, which the console's WebSocket hub never forwards to browsers.

    commands.handle("sos.join", join_here)          # async (args) -> dict | None
    result = await commands.call("sos.join", {"incident": "…"}, within=10)
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from callcenter.bus import Bus, BusMessage, Subscription
from callcenter.errors import DomainError
from callcenter.logs import get_logger

log = get_logger(__name__)

INTERNAL_PREFIX = "internal."
REQUEST_PREFIX = f"{INTERNAL_PREFIX}command."
REPLY_PREFIX = f"{INTERNAL_PREFIX}reply."
CommandHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]


class CommandTimeout(DomainError):
    """No process answered the command in time (none runs call control, or it is down)."""

    error_id = "command-timeout"
    status = 504


class CommandFailed(DomainError):
    """The process that took the command refused it; carries that process's error."""

    error_id = "command-failed"
    status = 502

    def __init__(self, message: str, details: dict[str, Any] | None = None, *,
                 error_id: str | None = None, status: int | None = None) -> None:
        super().__init__(message, details)
        if error_id:
            self.error_id = error_id
        if status:
            self.status = status


class CommandPath:
    """Sends commands to, and answers commands from, the other processes of the product."""

    def __init__(self, bus: Bus, process: str | None = None) -> None:
        self.bus = bus
        self.process = process or uuid.uuid4().hex[:12]
        self._handlers: dict[str, CommandHandler] = {}
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._subscriptions: list[Subscription] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def handle(self, name: str, handler: CommandHandler) -> None:
        """Answer command ``name`` in this process (before :meth:`start`)."""
        if name in self._handlers:
            raise ValueError(f"command {name!r} is handled twice")
        self._handlers[name] = handler

    def local(self, name: str) -> CommandHandler | None:
        """This process's own handler of ``name`` (a command to oneself skips the bus)."""
        return self._handlers.get(name)

    async def start(self) -> None:
        """Listen for replies to this process and, if it handles any, for requests."""
        replies = await self.bus.subscribe(f"{REPLY_PREFIX}{self.process}")
        self._spawn(self._take_replies(replies), "command-replies")
        if self._handlers:
            requests = await self.bus.subscribe(f"{REQUEST_PREFIX}*")
            self._spawn(self._take_requests(requests), "command-requests")

    def _spawn(self, work: Awaitable[None], name: str) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        task.set_name(name)
        self._tasks.add(task)

    async def close(self) -> None:
        """Stop listening; callers still waiting get a timeout."""
        for subscription in self._subscriptions:
            await subscription.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def call(self, name: str, args: dict[str, Any], *, within: float = 10.0) -> dict[str, Any]:
        """Run command ``name`` wherever it can run; its result, or its error re-raised."""
        local = self._handlers.get(name)
        if local is not None:
            result = await local(args)
            if result is not None:
                return result
        request_id = uuid.uuid4().hex
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            await self.bus.publish(BusMessage(f"{REQUEST_PREFIX}{name}", {
                "id": request_id, "reply_to": self.process, "from": self.process, "args": args,
            }))
            async with asyncio.timeout(within):
                reply = await future
        except TimeoutError as err:
            raise CommandTimeout(
                "no process with call control answered in time", {"command": name, "within": within}
            ) from err
        finally:
            self._waiting.pop(request_id, None)
        error = reply.get("error")
        if isinstance(error, dict):
            raise CommandFailed(str(error.get("message", "")), error.get("details") or {},
                                error_id=error.get("id"), status=error.get("status"))
        result = reply.get("result")
        return result if isinstance(result, dict) else {}

    async def _take_replies(self, subscription: Subscription) -> None:
        self._subscriptions.append(subscription)
        async for message in subscription:
            future = self._waiting.get(str(message.payload.get("id")))
            if future is not None and not future.done():
                future.set_result(message.payload)

    async def _take_requests(self, subscription: Subscription) -> None:
        self._subscriptions.append(subscription)
        async for message in subscription:
            name = message.topic[len(REQUEST_PREFIX):]
            handler = self._handlers.get(name)
            payload = message.payload
            if handler is None or payload.get("from") == self.process:
                continue  # not ours; our own requests were tried locally first
            self._spawn(self._answer(name, handler, payload), f"command-{name}")

    async def _answer(self, name: str, handler: CommandHandler, payload: dict[str, Any]) -> None:
        args = payload.get("args")
        reply: dict[str, Any] = {"id": payload.get("id"), "by": self.process}
        try:
            result = await handler(args if isinstance(args, dict) else {})
            if result is None:
                return  # not ours: the owner answers
            reply["result"] = result
        except DomainError as err:
            reply["error"] = {"id": err.error_id, "status": err.status, "message": str(err),
                              "details": err.details}
        except Exception as err:  # noqa: BLE001 - task boundary: the caller gets an error, not a hang
            log.exception("command failed", command=name)
            reply["error"] = {"id": "command-error", "status": 500, "message": repr(err),
                              "details": {}}
        await self.bus.publish(BusMessage(f"{REPLY_PREFIX}{payload.get('reply_to')}", reply))
