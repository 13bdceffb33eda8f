"""Helpers for the outbox tests: a clock moved by hand, a real SMTP server, a switchable store."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.notify.dispatcher import Dispatcher, RetryPolicy
from callcenter.store.engine import SessionFactory
from callcenter.store.models import utcnow

FROM_NUMBER = "+15005550006"
SMTP_FROM = "callcenter@care.example.cn"
#: No jitter, so the test knows exactly when a retry falls due.
RETRY = RetryPolicy(initial=60.0, factor=2.0, maximum=3600.0, jitter=0.0, max_attempts=4)


class FakeClock:
    """A clock the test moves by hand (starts a little ahead of real time)."""

    def __init__(self) -> None:
        self.now = utcnow() + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Mailbox:
    """aiosmtpd handler that keeps every mail and can refuse recipients."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.mails: list[EmailMessage] = []
        self.envelopes: list[Any] = []
        self.refuse: set[str] = set()
        self._loop = loop
        self._arrived = asyncio.Event()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:  # noqa: N802
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.envelopes.append(envelope)
        self.mails.append(mail)  # type: ignore[arg-type]
        self._loop.call_soon_threadsafe(self._arrived.set)
        return "250 Message accepted for delivery"

    async def wait_for(self, count: int) -> list[EmailMessage]:
        """Wait until ``count`` mails arrived (wrap it in ``asyncio.timeout``)."""
        while len(self.mails) < count:
            self._arrived.clear()
            if len(self.mails) >= count:
                break
            await self._arrived.wait()
        return list(self.mails)


def free_port() -> int:
    """A TCP port nothing listens on (for now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SmtpServer:
    """A real SMTP server (aiosmtpd) that can be started late, on a fixed port."""

    def __init__(self, port: int, mailbox: Mailbox) -> None:
        self.port = port
        self.mailbox = mailbox
        self._controller: Controller | None = None

    async def start(self) -> None:
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        await asyncio.to_thread(self._controller.start)

    async def stop(self) -> None:
        if self._controller is not None:
            await asyncio.to_thread(self._controller.stop)
            self._controller = None


class Switchable:
    """A session factory that can be pointed at a dead store and back (the store "goes down")."""

    def __init__(self, good: SessionFactory, bad: SessionFactory) -> None:
        self.good = good
        self.bad = bad
        self.down = False

    def begin(self) -> Any:
        return (self.bad if self.down else self.good).begin()

    def __call__(self) -> AsyncSession:
        return (self.bad if self.down else self.good)()


MakeDispatcher = Callable[..., Dispatcher]
