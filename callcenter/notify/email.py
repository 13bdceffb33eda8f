"""Email through an SMTP server with aiosmtplib."""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from callcenter.notify.base import Outgoing
from callcenter.notify.exceptions import PermanentSendError, TransientSendError
from callcenter.store.models import utcnow


def message_id(dedup_key: str, sender: str) -> str:
    """A Message-ID fixed by the dedup key, so a receiver can drop a resent copy."""
    domain = sender.rpartition("@")[2] or "localhost"
    digest = hashlib.sha256(dedup_key.encode()).hexdigest()[:40]
    return f"<{digest}.notify@{domain}>"


def build_message(message: Outgoing, sender: str, now: datetime | None = None) -> EmailMessage:
    """The MIME message: UTF-8 subject and body, deterministic Message-ID."""
    mail = EmailMessage()  # email.policy.default: RFC 2047 encodes a Chinese subject
    mail["From"] = sender
    mail["To"] = message.recipient
    mail["Subject"] = message.subject
    mail["Date"] = format_datetime(now or utcnow())
    mail["Message-ID"] = message_id(message.dedup_key, sender)
    mail.set_content(message.body, charset="utf-8")
    return mail


class SmtpEmailSender:
    """An :class:`~callcenter.notify.base.EmailSender` over aiosmtplib."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str | None = None,
        password: str | None = None,
        start_tls: bool = False,
        timeout: float = 15.0,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._username = username
        self._password = password
        self._start_tls = start_tls
        self._timeout = timeout

    async def send(self, message: Outgoing) -> str:
        """Deliver to the SMTP server; return the Message-ID."""
        mail = build_message(message, self._sender)
        try:
            errors, _reply = await aiosmtplib.send(
                mail,
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                start_tls=self._start_tls,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as err:
            raise _from_codes([r.code for r in err.recipients], str(err)) from err
        except (
            aiosmtplib.SMTPRecipientRefused,
            aiosmtplib.SMTPSenderRefused,
            aiosmtplib.SMTPDataError,
        ) as err:
            # Refusals of this message; a refused greeting, HELO or login is the server's
            # or the configuration's problem, fixed without touching the message: retried.
            raise _from_codes([err.code], f"smtp {err.code}: {err.message}") from err
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as err:
            raise TransientSendError(f"smtp unreachable: {err!r}") from err
        if errors:
            raise _from_codes([code for code, _ in errors.values()], f"smtp refused: {errors}")
        return str(mail["Message-ID"])

    async def find_delivered(self, message: Outgoing, since: datetime) -> str | None:
        """SMTP cannot be asked: always None, so the mail is sent again (same Message-ID)."""
        return None

    async def close(self) -> None:
        """Nothing held open: one connection per message."""


def _from_codes(codes: list[int], reason: str) -> TransientSendError | PermanentSendError:
    # 5xx is a permanent refusal (RFC 5321 §4.2.1); 4xx asks to try again later.
    if codes and all(500 <= code < 600 for code in codes):
        return PermanentSendError(reason, {"codes": codes})
    return TransientSendError(reason, {"codes": codes})
