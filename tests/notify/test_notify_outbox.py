"""The outbox table and enqueue: idempotent by dedup key on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from callcenter.notify.exceptions import InvalidNotification
from callcenter.notify.models import Channel, Notification, NotificationStatus
from callcenter.notify.outbox import NotificationRequest, enqueue, get_by_key, list_for_subject
from callcenter.store import create_engine
from callcenter.store.engine import SessionFactory
from callcenter.store.models import Base


def sms(
    key: str = "sos:17:sms:4", number: str = "+8613800138000", body: str = "紧急呼叫"
) -> NotificationRequest:
    return NotificationRequest(
        dedup_key=key,
        channel=Channel.SMS,
        recipient=number,
        body=body,
        subject_entity="incident",
        subject_id="17",
    )


async def count(sessions: SessionFactory) -> int:
    async with sessions() as session:
        return int(
            (await session.execute(select(func.count()).select_from(Notification))).scalar_one()
        )


async def test_enqueue_twice_keeps_one_row_and_returns_it(sessions: SessionFactory) -> None:
    async with sessions.begin() as session:
        first = await enqueue(session, sms())
    async with sessions.begin() as session:
        second = await enqueue(session, sms(body="a different body is ignored"))
    assert second.id == first.id
    assert second.body == "紧急呼叫"
    assert second.status == NotificationStatus.PENDING
    assert second.attempts == 0
    assert await count(sessions) == 1


async def test_concurrent_enqueues_of_one_key_make_one_row(sessions: SessionFactory) -> None:
    async def one() -> int:
        async with sessions.begin() as session:
            return (await enqueue(session, sms())).id

    ids = await asyncio.gather(*(one() for _ in range(5)))
    assert len(set(ids)) == 1
    assert await count(sessions) == 1


@pytest.mark.parametrize(
    "request_",
    [
        NotificationRequest("", Channel.SMS, "+8613800138000", "x"),
        NotificationRequest("k", Channel.SMS, "13800138000x", "x"),
        NotificationRequest("k", Channel.EMAIL, "not-an-address", "x"),
        NotificationRequest("k", Channel.SMS, "+8613800138000", "   "),
    ],
)
async def test_invalid_request_is_refused_and_writes_nothing(
    sessions: SessionFactory, request_: NotificationRequest
) -> None:
    with pytest.raises(InvalidNotification) as caught:
        async with sessions.begin() as session:
            await enqueue(session, request_)
    assert caught.value.error_id == "notification-invalid"
    assert caught.value.details
    assert await count(sessions) == 0


async def test_list_for_subject_shows_an_incidents_notifications(sessions: SessionFactory) -> None:
    async with sessions.begin() as session:
        await enqueue(session, sms("sos:17:sms:4"))
        await enqueue(session, sms("sos:17:sms:5", number="+8613900139000"))
        await enqueue(
            session,
            NotificationRequest(
                "sos:18:sms:4",
                Channel.SMS,
                "+8613800138000",
                "x",
                subject_entity="incident",
                subject_id="18",
            ),
        )
    async with sessions() as session:
        listed = await list_for_subject(session, "incident", 17)
        assert [n.dedup_key for n in listed] == ["sos:17:sms:4", "sos:17:sms:5"]
        assert await get_by_key(session, "sos:18:sms:4") is not None


async def test_the_notifications_table_matches_its_migration(database_url: str) -> None:
    # The store was migrated by the fixture; autogenerate must find nothing to change here.
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"render_as_batch": True}), Base.metadata
                )
            )
    finally:
        await engine.dispose()

    def about_notifications(op: object) -> bool:
        return "notifications" in repr(op)

    assert [op for op in diff if about_notifications(op)] == []
