"""SMS through the real twilio client to the Twilio stub over HTTP: sent once, whatever fails."""

from __future__ import annotations

from datetime import timedelta

from notify_support import FROM_NUMBER, RETRY, FakeClock, MakeDispatcher
from sqlalchemy import update

from callcenter.notify.models import Channel, Notification, NotificationStatus
from callcenter.notify.outbox import NotificationRequest, enqueue, get_by_key
from callcenter.notify.sms import TwilioSmsSender
from callcenter.notify.twilio_stub import TwilioStub
from callcenter.store.engine import SessionFactory

KIN = "+8613800138000"
BODY = "【12349】王**于 10:02 按下一键呼叫，事件 17，正在接通 120。"


async def queue_sms(sessions: SessionFactory, number: str = KIN, key: str = "sos:17:sms:4") -> int:
    async with sessions.begin() as session:
        row = await enqueue(
            session,
            NotificationRequest(
                key, Channel.SMS, number, BODY, subject_entity="incident", subject_id="17"
            ),
        )
    return row.id


async def row(sessions: SessionFactory, key: str = "sos:17:sms:4") -> Notification:
    async with sessions() as session:
        found = await get_by_key(session, key)
    assert found is not None
    return found


async def test_sms_goes_to_twilio_with_its_form_fields_and_basic_auth(
    sessions: SessionFactory,
    twilio: TwilioStub,
    sms_sender: TwilioSmsSender,
    make_dispatcher: MakeDispatcher,
) -> None:
    await queue_sms(sessions)
    report = await make_dispatcher({Channel.SMS: sms_sender}).run_once()

    assert report.sent == 1
    [request] = twilio.requests
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
    assert request.form == {"To": KIN, "From": FROM_NUMBER, "Body": BODY}
    assert request.auth == (twilio.account_sid, twilio.auth_token)
    [message] = twilio.messages
    sent = await row(sessions)
    assert sent.status == NotificationStatus.SENT
    assert sent.provider_ref == message["sid"]
    assert sent.provider_ref.startswith("SM")
    assert sent.attempts == 1
    assert sent.sent_at is not None


async def test_twilio_500_is_retried_after_the_backoff_and_sent_once(
    sessions: SessionFactory,
    twilio: TwilioStub,
    sms_sender: TwilioSmsSender,
    make_dispatcher: MakeDispatcher,
    clock: FakeClock,
) -> None:
    await queue_sms(sessions)
    dispatcher = make_dispatcher({Channel.SMS: sms_sender})
    twilio.fail_next(500, 20500, "Internal Server Error")

    first = await dispatcher.run_once()
    assert (first.sent, first.retried) == (0, 1)
    pending = await row(sessions)
    assert pending.status == NotificationStatus.PENDING
    assert "500" in (pending.last_error or "")
    assert pending.next_attempt_at == clock.now + timedelta(seconds=RETRY.initial)  # no jitter

    clock.advance(RETRY.initial - 1)
    assert (await dispatcher.run_once()).claimed == 0  # not due yet

    clock.advance(1)
    second = await dispatcher.run_once()
    assert second.sent == 1
    assert len(twilio.messages) == 1
    sent = await row(sessions)
    assert (sent.status, sent.attempts, sent.provider_ref) == (
        NotificationStatus.SENT,
        2,
        twilio.messages[0]["sid"],
    )


async def test_invalid_number_goes_dead_at_once_with_twilios_reason(
    sessions: SessionFactory,
    twilio: TwilioStub,
    sms_sender: TwilioSmsSender,
    make_dispatcher: MakeDispatcher,
    clock: FakeClock,
) -> None:
    await queue_sms(sessions, number="+15005550001")  # Twilio's "invalid number"
    dispatcher = make_dispatcher({Channel.SMS: sms_sender})

    report = await dispatcher.run_once()
    assert report.dead == 1
    dead = await row(sessions)
    assert dead.status == NotificationStatus.DEAD
    assert "21211" in (dead.last_error or "")
    assert "not a valid phone number" in (dead.last_error or "")

    clock.advance(24 * 3600)
    assert (await dispatcher.run_once()).claimed == 0
    assert len(twilio.requests) == 1
    assert twilio.messages == []


async def test_a_lost_reply_is_not_sent_again(
    sessions: SessionFactory,
    twilio: TwilioStub,
    sms_sender: TwilioSmsSender,
    make_dispatcher: MakeDispatcher,
    clock: FakeClock,
) -> None:
    # Twilio created the message but the answer was an error: the retry must find it.
    await queue_sms(sessions)
    dispatcher = make_dispatcher({Channel.SMS: sms_sender})
    twilio.lose_reply_next()

    assert (await dispatcher.run_once()).retried == 1
    clock.advance(RETRY.initial)
    report = await dispatcher.run_once()

    assert (report.found_sent, report.sent) == (1, 0)
    assert len(twilio.messages) == 1
    sent = await row(sessions)
    assert sent.status == NotificationStatus.SENT
    assert sent.provider_ref == twilio.messages[0]["sid"]
    assert [r.method for r in twilio.requests] == ["POST", "GET"]
    assert twilio.requests[1].query["To"] == KIN


async def test_crash_while_sending_is_recovered_from_twilio_without_resending(
    sessions: SessionFactory,
    twilio: TwilioStub,
    sms_sender: TwilioSmsSender,
    make_dispatcher: MakeDispatcher,
    clock: FakeClock,
) -> None:
    await queue_sms(sessions)
    crashed = make_dispatcher({Channel.SMS: sms_sender})
    [claim] = await crashed.claim()
    await sms_sender.send(claim.message)  # reached Twilio, then the process died: no settle
    assert (await row(sessions)).status == NotificationStatus.SENDING

    restarted = make_dispatcher({Channel.SMS: sms_sender})
    assert (await restarted.run_once()).claimed == 0  # a live send is not taken over
    clock.advance(5 * 60)
    report = await restarted.run_once()

    assert (report.claimed, report.found_sent, report.sent) == (1, 1, 0)
    assert len(twilio.messages) == 1
    sent = await row(sessions)
    assert sent.status == NotificationStatus.SENT
    assert sent.provider_ref == twilio.messages[0]["sid"]


async def test_crash_before_reaching_twilio_is_sent_on_recovery(
    sessions: SessionFactory,
    twilio: TwilioStub,
    sms_sender: TwilioSmsSender,
    make_dispatcher: MakeDispatcher,
    clock: FakeClock,
) -> None:
    notification_id = await queue_sms(sessions)
    async with sessions.begin() as session:  # left in ``sending`` by a process that died
        await session.execute(
            update(Notification)
            .where(Notification.id == notification_id)
            .values(status="sending", claimed_at=clock.now, attempts=1)
        )
    clock.advance(5 * 60)
    report = await make_dispatcher({Channel.SMS: sms_sender}).run_once()

    assert (report.found_sent, report.sent) == (0, 1)
    assert len(twilio.messages) == 1
    assert (await row(sessions)).status == NotificationStatus.SENT


async def test_twilio_unreachable_is_retried_until_the_attempts_run_out(
    sessions: SessionFactory, make_dispatcher: MakeDispatcher, clock: FakeClock
) -> None:
    from notify_support import free_port

    await queue_sms(sessions)
    sender = TwilioSmsSender(
        "AC1", "token", FROM_NUMBER, base_url=f"http://127.0.0.1:{free_port()}"
    )
    try:
        dispatcher = make_dispatcher({Channel.SMS: sender})
        for _attempt in range(1, RETRY.max_attempts + 1):
            report = await dispatcher.run_once()
            assert report.claimed == 1
            clock.advance(RETRY.maximum)
    finally:
        await sender.close()
    dead = await row(sessions)
    assert dead.status == NotificationStatus.DEAD
    assert dead.attempts == RETRY.max_attempts
    assert "gave up after 4 attempts" in (dead.last_error or "")
    assert "unreachable" in (dead.last_error or "")


async def test_a_refused_login_is_retried_not_dead(
    sessions: SessionFactory, twilio: TwilioStub, make_dispatcher: MakeDispatcher
) -> None:
    await queue_sms(sessions)
    sender = TwilioSmsSender(
        twilio.account_sid, "wrong-token", FROM_NUMBER, base_url=twilio.base_url
    )
    try:
        report = await make_dispatcher({Channel.SMS: sender}).run_once()
    finally:
        await sender.close()
    assert report.retried == 1
    pending = await row(sessions)
    assert pending.status == NotificationStatus.PENDING
    assert "20003" in (pending.last_error or "")
    assert twilio.messages == []
