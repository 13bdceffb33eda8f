"""What an SOS tells the world: console pops over the bus, SMS and email through the outbox.

Both run behind queues owned by one task each, so a slow Redis, database, Twilio or
SMTP never holds up a call (DESIGN invariant 1); the bus queues while Redis is away,
the outbox journals while the database is away.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from callcenter.bus import Bus, BusMessage
from callcenter.logs import get_logger
from callcenter.notify.exceptions import InvalidNotification
from callcenter.notify.outbox import NotificationRequest

log = get_logger(__name__)

#: Who sees SOS pops: agents and supervisors (within jurisdiction when the area is known).
CONSOLE_ROLES = ["agent", "supervisor"]

#: Stores several notifications at once (``Outbox.submit_many``).
Submit = Callable[[list[NotificationRequest]], Awaitable[object]]
_BATCH = 200


class _Worker:
    """One queue, one task; items handed on in order, as many at a time as are waiting;
    failures logged, never raised."""

    def __init__(self, name: str, handle: Callable[[list[Any]], Awaitable[object]]) -> None:
        self._name = name
        self._handle = handle
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def put(self, item: Any) -> None:
        self._idle.clear()
        self._queue.put_nowait(item)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)

    async def _run(self) -> None:
        while True:
            items = [await self._queue.get()]
            while not self._queue.empty() and len(items) < _BATCH:
                items.append(self._queue.get_nowait())
            try:
                await self._handle(items)
            except Exception as err:  # noqa: BLE001 - task boundary: log, keep the queue going
                log.error("sos notifier step failed", worker=self._name, exc_info=err)
            if self._queue.empty():
                self._idle.set()

    async def drain(self) -> None:
        await self._idle.wait()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


class SosNotifier:
    """Publishes incident updates to the console and queues texts and mails."""

    def __init__(self, bus: Bus, submit: Submit | None) -> None:
        self._bus = bus
        self._submit = submit
        self._publisher = _Worker("sos-publish", self._publish_all)
        self._sender = _Worker("sos-outbox", self._send)

    def publish(self, topic: str, payload: dict[str, Any], area_path: str | None) -> None:
        """Tell agents and supervisors (jurisdiction-filtered when the area is known)."""
        audience: dict[str, Any] = {"roles": CONSOLE_ROLES}
        if area_path:
            audience["area_path"] = area_path
        self._publisher.put(BusMessage(topic, payload, audience))

    def notify(self, request: NotificationRequest) -> None:
        """Queue one SMS or email (deduplicated by its key)."""
        if self._submit is None:
            log.warning("notifications not configured; not sent", key=request.dedup_key)
            return
        try:
            request.validate()  # a bad one is refused here, never sinking a whole batch
        except InvalidNotification as err:
            log.error("notification refused", key=request.dedup_key, details=err.details)
            return
        self._sender.put(request)

    async def _publish_all(self, messages: list[BusMessage]) -> None:
        for message in messages:
            await self._bus.publish(message)

    async def _send(self, requests: list[NotificationRequest]) -> None:
        assert self._submit is not None
        await self._submit(requests)

    async def drain(self) -> None:
        """Wait until everything queued so far was handed on."""
        await self._publisher.drain()
        await self._sender.drain()

    async def close(self, grace: float = 10.0) -> None:
        """Hand on what is queued (for at most ``grace`` seconds), then stop."""
        try:
            async with asyncio.timeout(grace):
                await self.drain()
        except TimeoutError:
            log.error("sos notifier still busy at shutdown")
        await self._publisher.close()
        await self._sender.close()
