"""Wiring for the composition root: senders from settings, the outbox and its dispatcher."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from callcenter.journal import Journal, Resilient
from callcenter.logs import get_logger
from callcenter.notify.base import Sender
from callcenter.notify.dispatcher import Dispatcher
from callcenter.notify.email import SmtpEmailSender
from callcenter.notify.models import Channel
from callcenter.notify.outbox import Outbox
from callcenter.notify.sms import TwilioSmsSender
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory

log = get_logger(__name__)


def build_senders(settings: Settings) -> dict[Channel, Sender]:
    """One sender per configured channel; an unconfigured channel's rows wait in the outbox."""
    senders: dict[Channel, Sender] = {}
    if settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from:
        senders[Channel.SMS] = TwilioSmsSender(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            settings.twilio_from,
            base_url=settings.twilio_base_url,
        )
    if settings.smtp_host:
        senders[Channel.EMAIL] = SmtpEmailSender(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            username=settings.smtp_user,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            start_tls=settings.smtp_starttls,
        )
    missing = [str(c) for c in Channel if c not in senders]
    if missing:
        log.warning(
            "notification channels not configured: they queue until configured", channels=missing
        )
    return senders


@dataclass
class Notifications:
    """The running notification service: enqueue through ``outbox``."""

    outbox: Outbox
    dispatcher: Dispatcher
    journal: Journal


@asynccontextmanager
async def open_notifications(
    settings: Settings, sessions: SessionFactory, journal: Journal | None = None
) -> AsyncIterator[Notifications]:
    """Start the journal replayer and the dispatcher; stop both and close the senders on exit.

    Pass a shared ``journal`` when other features (SOS timeline) journal through it too;
    register their handlers before entering, since replay starts here.
    """
    senders = build_senders(settings)
    own_journal = journal is None
    journal = journal or Journal(settings.data_dir / "journal", sessions)
    dispatcher = Dispatcher(sessions, senders, journal=journal)
    outbox = Outbox(Resilient(journal, sessions), journal, wake=dispatcher.wake)
    if own_journal:
        journal.start()
    dispatcher.start()
    try:
        yield Notifications(outbox=outbox, dispatcher=dispatcher, journal=journal)
    finally:
        await dispatcher.close()
        if own_journal:
            await journal.close()
        for sender in senders.values():
            await sender.close()
