"""The dispatcher's background loop and several dispatchers sharing one outbox."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from notify_support import FROM_NUMBER, SMTP_FROM, MakeDispatcher, SmtpServer
from sqlalchemy import select

from callcenter.journal import Journal, Resilient, WriteOutcome
from callcenter.notify.dispatcher import Dispatcher, RetryPolicy
from callcenter.notify.email import SmtpEmailSender
from callcenter.notify.models import Channel, Notification, NotificationStatus
from callcenter.notify.outbox import NotificationRequest, Outbox, enqueue, list_for_subject
from callcenter.notify.services import open_notifications
from callcenter.notify.sms import TwilioSmsSender
from callcenter.notify.twilio_stub import TwilioStub
from callcenter.settings import load_settings
from callcenter.store.engine import SessionFactory


async def test_an_enqueue_wakes_the_loop_which_sends_at_once(
    sessions: SessionFactory,
    journal: Journal,
    twilio: TwilioStub,
    sms_sender: TwilioSmsSender,
    smtp: SmtpServer,
    email_sender: SmtpEmailSender,
) -> None:
    await smtp.start()
    # Real clock; a poll of an hour proves the wake-up, not the poll, sent them.
    dispatcher = Dispatcher(
        sessions,
        {Channel.SMS: sms_sender, Channel.EMAIL: email_sender},
        journal=journal,
        poll_interval=3600.0,
    )
    outbox = Outbox(Resilient(journal, sessions), journal, wake=dispatcher.wake)
    dispatcher.start()
    try:
        async with asyncio.timeout(10):
            await dispatcher.wait_idle()  # the first (empty) pass is done; now it sleeps
        sms = NotificationRequest(
            "sos:17:sms:4",
            Channel.SMS,
            "+8613800138000",
            "紧急呼叫",
            subject_entity="incident",
            subject_id="17",
        )
        mail = NotificationRequest(
            "sos:17:email:9",
            Channel.EMAIL,
            "li@care.example.cn",
            "紧急呼叫",
            subject="SOS",
            subject_entity="incident",
            subject_id="17",
        )
        assert await outbox.submit(sms) == WriteOutcome.STORED
        assert await outbox.submit(mail) == WriteOutcome.STORED
        async with asyncio.timeout(10):
            await twilio.wait_for_messages(1)
            await smtp.mailbox.wait_for(1)
    finally:
        await dispatcher.close()

    async with sessions() as session:
        listed = await list_for_subject(session, "incident", "17")
    assert {n.channel: n.status for n in listed} == {
        "sms": NotificationStatus.SENT,
        "email": NotificationStatus.SENT,
    }


async def test_close_lets_an_in_flight_send_settle(
    sessions: SessionFactory, journal: Journal, twilio: TwilioStub, sms_sender: TwilioSmsSender
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    class SlowSender:
        async def send(self, message: Any) -> str:
            started.set()
            await release.wait()
            return await sms_sender.send(message)

        async def find_delivered(self, message: Any, since: Any) -> str | None:
            return None

        async def close(self) -> None:
            return None

    dispatcher = Dispatcher(
        sessions, {Channel.SMS: SlowSender()}, journal=journal, poll_interval=3600.0
    )
    async with sessions.begin() as session:
        await enqueue(session, NotificationRequest("k1", Channel.SMS, "+8613800138000", "x"))
    dispatcher.start()
    async with asyncio.timeout(10):
        await started.wait()
    closing = asyncio.create_task(dispatcher.close(grace=10.0))
    release.set()
    await closing
    async with sessions() as session:
        row = (await session.execute(select(Notification))).scalar_one()
    assert row.status == NotificationStatus.SENT
    assert len(twilio.messages) == 1


async def test_two_dispatchers_never_send_one_notification_twice(
    sessions: SessionFactory,
    twilio: TwilioStub,
    sms_sender: TwilioSmsSender,
    make_dispatcher: MakeDispatcher,
) -> None:
    # PostgreSQL: FOR UPDATE SKIP LOCKED splits the rows; SQLite: BEGIN IMMEDIATE serialises.
    async with sessions.begin() as session:
        for n in range(30):
            await enqueue(
                session,
                NotificationRequest(
                    f"bulk:{n}", Channel.SMS, f"+86138001380{n:02d}", f"message {n}"
                ),
            )
    policy = RetryPolicy(jitter=0.0)
    first = make_dispatcher({Channel.SMS: sms_sender}, batch_size=7, retry=policy)
    second = make_dispatcher({Channel.SMS: sms_sender}, batch_size=7, retry=policy)

    while True:
        reports = await asyncio.gather(first.run_once(), second.run_once())
        if not any(r.claimed for r in reports):
            break

    assert len(twilio.messages) == 30
    assert len({m["to"] for m in twilio.messages}) == 30
    async with sessions() as session:
        statuses = (await session.execute(select(Notification.status, Notification.attempts))).all()
    assert set(statuses) == {(NotificationStatus.SENT, 1)}


async def test_open_notifications_wires_settings_to_twilio_and_smtp(
    tmp_path: Path,
    database_url: str,
    sessions: SessionFactory,
    twilio: TwilioStub,
    smtp: SmtpServer,
) -> None:
    await smtp.start()
    settings = load_settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        twilio_account_sid=twilio.account_sid,
        twilio_auth_token=twilio.auth_token,
        twilio_from=FROM_NUMBER,
        twilio_base_url=twilio.base_url,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_from=SMTP_FROM,
    )
    async with open_notifications(settings, sessions) as notifications:
        await notifications.outbox.submit(
            NotificationRequest("sos:3:sms:1", Channel.SMS, "+8613800138000", "紧急呼叫 事件 3")
        )
        await notifications.outbox.submit(
            NotificationRequest(
                "sos:3:email:1", Channel.EMAIL, "kin@care.example.cn", "紧急呼叫", subject="SOS"
            )
        )
        async with asyncio.timeout(10):
            await twilio.wait_for_messages(1)
            await smtp.mailbox.wait_for(1)
    assert notifications.journal.directory == settings.data_dir / "journal"
