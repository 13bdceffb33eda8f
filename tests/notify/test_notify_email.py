"""Email through aiosmtplib to a real SMTP server (aiosmtpd): UTF-8, Message-ID, retries."""

from __future__ import annotations

from notify_support import RETRY, SMTP_FROM, FakeClock, MakeDispatcher, SmtpServer

from callcenter.notify.email import SmtpEmailSender, message_id
from callcenter.notify.models import Channel, NotificationStatus
from callcenter.notify.outbox import NotificationRequest, enqueue, get_by_key
from callcenter.store.engine import SessionFactory

WORKER = "li.social@care.example.cn"
SUBJECT = "紧急呼叫：王**（事件 17）"
BODY = "王**于 10:02 按下一键呼叫，已接通 120 与社区医生。\n请尽快回电：12349。"
KEY = "sos:17:email:9"


async def queue_mail(sessions: SessionFactory, recipient: str = WORKER) -> None:
    async with sessions.begin() as session:
        await enqueue(
            session,
            NotificationRequest(
                KEY,
                Channel.EMAIL,
                recipient,
                BODY,
                subject=SUBJECT,
                subject_entity="incident",
                subject_id="17",
            ),
        )


async def test_mail_arrives_with_utf8_subject_body_and_a_deterministic_message_id(
    sessions: SessionFactory,
    smtp: SmtpServer,
    email_sender: SmtpEmailSender,
    make_dispatcher: MakeDispatcher,
) -> None:
    await smtp.start()
    await queue_mail(sessions)
    report = await make_dispatcher({Channel.EMAIL: email_sender}).run_once()

    assert report.sent == 1
    [mail] = smtp.mailbox.mails  # the server accepted it before run_once returned
    assert mail["Subject"] == SUBJECT
    assert mail["From"] == SMTP_FROM
    assert mail["To"] == WORKER
    assert mail.get_content_charset() == "utf-8"
    # Text travels in canonical CRLF form (RFC 2045 §6.8).
    assert mail.get_content().replace("\r\n", "\n").rstrip("\n") == BODY
    assert mail["Message-ID"] == message_id(KEY, SMTP_FROM)
    assert mail["Message-ID"].endswith("@care.example.cn>")
    [envelope] = smtp.mailbox.envelopes
    assert envelope.mail_from == SMTP_FROM
    assert envelope.rcpt_tos == [WORKER]
    async with sessions() as session:
        row = await get_by_key(session, KEY)
    assert row is not None
    assert row.status == NotificationStatus.SENT
    assert row.provider_ref == mail["Message-ID"]


async def test_smtp_down_is_retried_with_backoff_and_delivered_once_it_is_up(
    sessions: SessionFactory,
    smtp: SmtpServer,
    email_sender: SmtpEmailSender,
    make_dispatcher: MakeDispatcher,
    clock: FakeClock,
) -> None:
    await queue_mail(sessions)  # nothing listens on the SMTP port yet
    dispatcher = make_dispatcher({Channel.EMAIL: email_sender})

    first = await dispatcher.run_once()
    assert first.retried == 1
    clock.advance(RETRY.initial)
    second = await dispatcher.run_once()
    assert second.retried == 1
    async with sessions() as session:
        row = await get_by_key(session, KEY)
    assert row is not None
    assert (row.status, row.attempts) == (NotificationStatus.PENDING, 2)
    assert "unreachable" in (row.last_error or "")
    # The second wait doubled: one initial delay later it is not due yet.
    assert (row.next_attempt_at - clock.now).total_seconds() == RETRY.initial * RETRY.factor

    await smtp.start()
    clock.advance(RETRY.initial)
    assert (await dispatcher.run_once()).claimed == 0
    clock.advance(RETRY.initial)
    assert (await dispatcher.run_once()).sent == 1
    clock.advance(RETRY.maximum)
    assert (await dispatcher.run_once()).claimed == 0

    assert len(smtp.mailbox.mails) == 1
    async with sessions() as session:
        row = await get_by_key(session, KEY)
    assert row is not None
    assert (row.status, row.attempts, row.last_error) == (NotificationStatus.SENT, 3, None)


async def test_a_refused_recipient_goes_dead_without_retry(
    sessions: SessionFactory,
    smtp: SmtpServer,
    email_sender: SmtpEmailSender,
    make_dispatcher: MakeDispatcher,
    clock: FakeClock,
) -> None:
    smtp.mailbox.refuse.add("gone@care.example.cn")
    await smtp.start()
    await queue_mail(sessions, recipient="gone@care.example.cn")
    dispatcher = make_dispatcher({Channel.EMAIL: email_sender})

    assert (await dispatcher.run_once()).dead == 1
    clock.advance(RETRY.maximum)
    assert (await dispatcher.run_once()).claimed == 0
    async with sessions() as session:
        row = await get_by_key(session, KEY)
    assert row is not None
    assert row.status == NotificationStatus.DEAD
    assert "550" in (row.last_error or "")
    assert smtp.mailbox.mails == []
