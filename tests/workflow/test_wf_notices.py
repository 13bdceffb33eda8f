"""Deadline warnings and escalations by SMS and email: to the handler and the supervisors
covering the case, through the outbox (the real Twilio client against its stub, aiosmtpd),
once each even when the timer runs twice; a user without contact details is skipped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from callcenter.bus import MemoryBus
from callcenter.journal import Journal
from callcenter.notify.dispatcher import Dispatcher
from callcenter.notify.email import SmtpEmailSender
from callcenter.notify.models import Channel, Notification
from callcenter.notify.sms import TwilioSmsSender
from callcenter.notify.twilio_stub import start_twilio_stub
from callcenter.passwords import Passwords
from callcenter.scheduler import ScheduledTimer, Scheduler
from callcenter.scheduler.records import Timer
from callcenter.store.engine import SessionFactory
from callcenter.store.models import Area, Role
from tests.factories import make_user
from tests.notify.notify_support import FROM_NUMBER, SMTP_FROM, Mailbox, SmtpServer, free_port
from tests.workflow.conftest import AGENT, Clock, Directory
from workflow.casebook import Casebook
from workflow.deadlines import KIND, DeadlineTimers
from workflow.kinds import WORKORDERS
from workflow.machines import Actor
from workflow.schemas import CaseCreate


@pytest.fixture
async def staff(sessions: SessionFactory, passwords: Passwords, directory: Directory) -> None:
    """The handler, supervisors in and out of the case's area, one without contact details."""
    async with sessions.begin() as db:
        areas = {a.code: a for a in (await db.execute(select(Area))).scalars()}
        for username, role, area, phone, email, active in [
            (AGENT, Role.AGENT, "S1", "+8613800000001", "agent@example.cn", True),
            ("super_d1", Role.SUPERVISOR, "D1", "+8613800000002", None, True),
            ("super_all", Role.SUPERVISOR, None, None, "chief@example.cn", True),
            ("super_c1_silent", Role.SUPERVISOR, "C1", None, None, True),
            ("super_d2", Role.SUPERVISOR, "D2", "+8613800000004", "d2@example.cn", True),
            ("super_gone", Role.SUPERVISOR, None, "+8613800000005", None, False),
            ("agent_other", Role.AGENT, "C1", "+8613800000006", None, True),
        ]:
            user = await make_user(db, passwords, username, role,
                                   area=areas[area] if area else None, active=active)
            user.phone, user.email = phone, email


@pytest.fixture
async def timers(sessions: SessionFactory, clock: Clock, tmp_path: Path
                 ) -> AsyncIterator[tuple[Scheduler, DeadlineTimers]]:
    scheduler = Scheduler(sessions, Journal(tmp_path / "journal", sessions), MemoryBus(), clock=clock)
    handler = DeadlineTimers(sessions, MemoryBus(), clock)
    handler.register(scheduler)
    yield scheduler, handler
    await scheduler.close()


async def _outbox(sessions: SessionFactory) -> list[tuple[str, str, str]]:
    async with sessions() as db:
        rows = await db.execute(select(Notification.channel, Notification.recipient,
                                       Notification.body).order_by(Notification.id))
        return [(c, r, b) for c, r, b in rows]


async def _timer(sessions: SessionFactory, key: str) -> Timer:
    async with sessions() as db:
        row = (await db.execute(select(ScheduledTimer).where(ScheduledTimer.key == key))).scalar_one()
        return Timer(KIND, row.key, row.due_at, dict(row.payload), 1, row.requested_at)


async def test_a_warning_and_an_escalation_text_the_handler_and_the_covering_supervisors(
    casebook: Casebook, directory: Directory, agent: Actor, clock: Clock, sessions: SessionFactory,
    staff: None, timers: tuple[Scheduler, DeadlineTimers],
) -> None:
    order = await casebook.create(WORKORDERS, CaseCreate(title="助浴", elder_id=directory.elder_id), agent)
    assert order.due_at is not None
    scheduler, _ = timers
    clock.now = order.due_at - timedelta(hours=24)
    with capture_logs() as logs:
        await scheduler.run_due()
        await scheduler.drain()
    warned = await _outbox(sessions)
    # The handler (opened it) by both; super_d1 (D1 covers C1) by SMS; the whole-service
    # supervisor by mail. Not: D2's supervisor, the inactive one, another agent, the one
    # with neither phone nor email.
    assert [(c, r) for c, r, _ in warned] == [
        ("sms", "+8613800000001"), ("email", "agent@example.cn"),
        ("sms", "+8613800000002"), ("email", "chief@example.cn")]
    assert all(order.number in body and "预警" in body and "9月11日 24:00" in body
               for _, _, body in warned)
    assert [e["user"] for e in logs if "no phone or email" in e["event"]] == ["super_c1_silent"]

    clock.now = order.due_at
    await scheduler.run_due()
    await scheduler.drain()
    escalated = (await _outbox(sessions))[4:]
    assert len(escalated) == 4 and all("超期" in body and "督办" in body for _, _, body in escalated)


async def test_a_timer_that_runs_twice_sends_each_text_once(
    casebook: Casebook, directory: Directory, agent: Actor, clock: Clock, sessions: SessionFactory,
    staff: None, timers: tuple[Scheduler, DeadlineTimers],
) -> None:
    order = await casebook.create(WORKORDERS, CaseCreate(title="助浴", elder_id=directory.elder_id), agent)
    assert order.due_at is not None
    _, handler = timers
    timer = await _timer(sessions, f"workorder:{order.id}:warn")
    clock.now = order.due_at - timedelta(hours=24)
    await handler.run(timer)
    await handler.run(timer)  # the process died before it settled; another one runs it again
    assert len(await _outbox(sessions)) == 4


async def test_the_queued_texts_are_delivered_by_the_products_senders(
    casebook: Casebook, directory: Directory, agent: Actor, clock: Clock, sessions: SessionFactory,
    staff: None, timers: tuple[Scheduler, DeadlineTimers],
) -> None:
    order = await casebook.create(WORKORDERS, CaseCreate(title="助浴", elder_id=directory.elder_id), agent)
    assert order.due_at is not None
    _, handler = timers
    clock.now = order.due_at - timedelta(hours=24)
    await handler.run(await _timer(sessions, f"workorder:{order.id}:warn"))
    twilio = await start_twilio_stub("127.0.0.1", 0)
    smtp = SmtpServer(free_port(), Mailbox(asyncio.get_running_loop()))
    await smtp.start()
    sms = TwilioSmsSender(twilio.account_sid, twilio.auth_token, FROM_NUMBER,
                          base_url=twilio.base_url, timeout=5.0)
    mail = SmtpEmailSender("127.0.0.1", smtp.port, SMTP_FROM, timeout=5.0)
    try:
        report = await Dispatcher(sessions, {Channel.SMS: sms, Channel.EMAIL: mail}).run_once()
        assert report.sent == 4
        assert [m["to"] for m in twilio.messages] == ["+8613800000001", "+8613800000002"]
        async with asyncio.timeout(5):
            mails = await smtp.mailbox.wait_for(2)
        assert sorted(str(m["To"]) for m in mails) == ["agent@example.cn", "chief@example.cn"]
        assert all(str(m["Subject"]) == f"工单即将到期：{order.number}" for m in mails)
    finally:
        await sms.close()
        await mail.close()
        await smtp.stop()
        await twilio.close()
