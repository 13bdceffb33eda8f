"""Fixtures for the outbox tests: a real SMTP server, the Twilio stub over HTTP, a clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from notify_support import (
    FROM_NUMBER,
    RETRY,
    SMTP_FROM,
    FakeClock,
    Mailbox,
    MakeDispatcher,
    SmtpServer,
    Switchable,
    free_port,
)

from callcenter.journal import Journal, Resilient
from callcenter.notify.base import Sender
from callcenter.notify.dispatcher import Dispatcher
from callcenter.notify.email import SmtpEmailSender
from callcenter.notify.models import Channel
from callcenter.notify.outbox import Outbox
from callcenter.notify.sms import TwilioSmsSender
from callcenter.notify.twilio_stub import TwilioStub, start_twilio_stub
from callcenter.store import create_engine, session_factory
from callcenter.store.engine import SessionFactory


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    """An SMTP server on a free port, not yet started (call ``start``)."""
    server = SmtpServer(free_port(), Mailbox(asyncio.get_running_loop()))
    yield server
    await server.stop()


@pytest.fixture
async def twilio() -> AsyncIterator[TwilioStub]:
    """The Twilio stub served over HTTP on a free port."""
    stub = await start_twilio_stub("127.0.0.1", 0)
    yield stub
    await stub.close()


@pytest.fixture
async def sms_sender(twilio: TwilioStub) -> AsyncIterator[TwilioSmsSender]:
    """The real twilio client pointed at the stub."""
    sender = TwilioSmsSender(
        twilio.account_sid, twilio.auth_token, FROM_NUMBER, base_url=twilio.base_url, timeout=5.0
    )
    yield sender
    await sender.close()


@pytest.fixture
def email_sender(smtp: SmtpServer) -> SmtpEmailSender:
    """aiosmtplib pointed at the test SMTP server's port."""
    return SmtpEmailSender("127.0.0.1", smtp.port, SMTP_FROM, timeout=5.0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def journal(tmp_path: Path, sessions: SessionFactory) -> Journal:
    return Journal(tmp_path / "journal", sessions, db_timeout=10.0)


@pytest.fixture
async def dead_sessions() -> AsyncIterator[SessionFactory]:
    """Sessions on a PostgreSQL URL whose port nothing listens on."""
    engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nowhere")
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def switchable(sessions: SessionFactory, dead_sessions: SessionFactory) -> Switchable:
    return Switchable(sessions, dead_sessions)


@pytest.fixture
def make_dispatcher(
    sessions: SessionFactory, clock: FakeClock, journal: Journal
) -> Iterator[MakeDispatcher]:
    """Build dispatchers over the test store with the fake clock and a jitter-free policy."""

    def make(senders: dict[Channel, Sender], **kwargs: Any) -> Dispatcher:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("retry", RETRY)
        kwargs.setdefault("journal", journal)
        kwargs.setdefault("send_timeout", 5.0)
        kwargs.setdefault("stale_after", timedelta(minutes=5))
        return Dispatcher(kwargs.pop("sessions", sessions), senders, **kwargs)

    yield make


@pytest.fixture
def outbox(journal: Journal, sessions: SessionFactory) -> Outbox:
    return Outbox(Resilient(journal, sessions), journal)
