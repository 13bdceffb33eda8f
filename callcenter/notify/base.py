"""The sender interface shared by the SMS (Twilio) and email (SMTP) implementations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from callcenter.notify.models import Channel


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message as a sender sees it."""

    dedup_key: str
    channel: Channel
    recipient: str
    subject: str
    body: str


class Sender(Protocol):
    """Hands one message to a provider.

    ``send`` returns the provider's reference (Twilio SID, SMTP Message-ID) or raises
    :class:`~callcenter.notify.exceptions.TransientSendError` /
    :class:`~callcenter.notify.exceptions.PermanentSendError`.
    ``find_delivered`` is asked after a crash left a message in ``sending``: it returns
    the provider's reference when the provider already has the message, or None
    when it cannot tell (then the message is sent again).
    """

    async def send(self, message: Outgoing) -> str: ...

    async def find_delivered(self, message: Outgoing, since: datetime) -> str | None: ...

    async def close(self) -> None: ...


class SmsSender(Sender, Protocol):
    """A sender of text messages to E.164 phone numbers."""


class EmailSender(Sender, Protocol):
    """A sender of email to addresses."""
