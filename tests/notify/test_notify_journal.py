"""The journal: writes survive a store outage and are replayed exactly once when it is back."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from notify_support import FakeClock, MakeDispatcher, Switchable
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.journal import ACTIVE, REJECTED, Journal, Resilient, WriteOutcome
from callcenter.notify.exceptions import InvalidNotification
from callcenter.notify.models import Channel, Notification, NotificationStatus
from callcenter.notify.outbox import NotificationRequest, Outbox, enqueue, get_by_key
from callcenter.notify.sms import TwilioSmsSender
from callcenter.notify.twilio_stub import TwilioStub
from callcenter.store.engine import SessionFactory

KIN = "+8613800138000"


def request(key: str = "sos:17:sms:4") -> NotificationRequest:
    return NotificationRequest(
        key, Channel.SMS, KIN, "紧急呼叫 事件 17", subject_entity="incident", subject_id="17"
    )


async def rows(sessions: SessionFactory) -> int:
    async with sessions() as session:
        return int(
            (await session.execute(select(func.count()).select_from(Notification))).scalar_one()
        )


def journal_lines(journal: Journal) -> list[dict[str, Any]]:
    return [
        orjson.loads(line)
        for path in sorted(journal.directory.glob("*.jsonl"))
        if path.name != REJECTED
        for line in path.read_bytes().splitlines()
        if line.strip()
    ]


async def test_store_down_journals_the_enqueue_and_replay_stores_it_once(
    sessions: SessionFactory, journal: Journal, switchable: Switchable
) -> None:
    woken: list[bool] = []
    outbox = Outbox(
        Resilient(journal, switchable, timeout=5.0), journal, wake=lambda: woken.append(True)
    )  # type: ignore[arg-type]
    switchable.down = True

    assert await outbox.submit(request()) == WriteOutcome.JOURNALED
    assert await outbox.submit(request()) == WriteOutcome.JOURNALED  # the SOS pressed twice
    [first, second] = journal_lines(journal)
    assert first["key"] == "sos:17:sms:4"
    assert first["kind"] == "notify.enqueue"
    assert first["payload"]["recipient"] == KIN
    assert woken == []
    assert await rows(sessions) == 0

    switchable.down = False
    report = await journal.replay()
    assert (report.applied, report.blocked) == (2, None)
    assert await rows(sessions) == 1
    assert woken  # the dispatcher is told there is work
    assert journal.backlog() == 0

    again = await journal.replay()
    assert again.applied == 0
    assert await rows(sessions) == 1


async def test_a_segment_replayed_twice_gives_the_same_store(
    sessions: SessionFactory, journal: Journal, switchable: Switchable, tmp_path: Path
) -> None:
    # A crash after applying a segment but before deleting it: the next start replays it again.
    outbox = Outbox(Resilient(journal, switchable), journal)  # type: ignore[arg-type]
    switchable.down = True
    for key in ("sos:17:sms:4", "sos:17:sms:5"):
        await outbox.submit(request(key))
    saved = (journal.directory / ACTIVE).read_bytes()

    switchable.down = False
    assert (await journal.replay()).applied == 2
    (journal.directory / ACTIVE).write_bytes(saved)
    assert (await journal.replay()).applied == 2
    assert await rows(sessions) == 2


async def test_replay_waits_while_the_store_is_still_down(
    sessions: SessionFactory, journal: Journal, dead_sessions: SessionFactory
) -> None:
    down = Journal(journal.directory, dead_sessions, db_timeout=5.0)
    Outbox(Resilient(down, dead_sessions), down)
    await down.write("notify.enqueue", request().to_payload(), "sos:17:sms:4")

    report = await down.replay()
    assert report.applied == 0
    assert report.blocked is not None and "store unavailable" in report.blocked
    assert down.backlog() == 1  # kept, not lost

    Outbox(Resilient(journal, sessions), journal)
    assert (await journal.replay()).applied == 1
    assert await rows(sessions) == 1


async def test_bad_input_is_refused_not_journaled(journal: Journal, switchable: Switchable) -> None:
    outbox = Outbox(Resilient(journal, switchable), journal)  # type: ignore[arg-type]
    switchable.down = True
    with pytest.raises(InvalidNotification):
        await outbox.submit(NotificationRequest("k", Channel.SMS, "not a number", "x"))
    assert journal.backlog() == 0


async def test_torn_lines_are_skipped_and_rejected_records_kept_for_an_operator(
    sessions: SessionFactory, journal: Journal
) -> None:
    Outbox(Resilient(journal, sessions), journal)
    await journal.write("notify.enqueue", {"channel": "sms"}, "broken:1")  # unreadable payload

    def tear() -> None:  # a crash mid-append
        with open(journal.directory / ACTIVE, "ab") as fh:
            fh.write(b'{"key": "torn", "kind": "notify.enq')

    await asyncio.to_thread(tear)
    await journal.write("notify.enqueue", request().to_payload(), "sos:17:sms:4")

    report = await journal.replay()
    assert (report.applied, report.rejected) == (1, 1)
    assert await rows(sessions) == 1
    [rejected] = [
        orjson.loads(line) for line in (journal.directory / REJECTED).read_bytes().splitlines()
    ]
    assert rejected["key"] == "broken:1"
    assert "unreadable" in rejected["rejected"]
    assert journal.backlog() == 0


async def test_an_unknown_kind_blocks_replay_without_losing_anything(
    sessions: SessionFactory, journal: Journal
) -> None:
    await journal.write("sos.timeline", {"event": "answered"}, "sos:17:timeline:1")
    report = await journal.replay()
    assert report.blocked is not None
    assert journal.backlog() == 1

    seen: list[str] = []

    async def apply(session: AsyncSession, payload: dict[str, Any], key: str) -> None:
        seen.append(key)

    journal.register("sos.timeline", apply)
    assert (await journal.replay()).applied == 1
    assert seen == ["sos:17:timeline:1"]
    assert journal.backlog() == 0


async def test_a_settle_during_an_outage_is_journaled_and_replayed(
    sessions: SessionFactory,
    journal: Journal,
    switchable: Switchable,
    twilio: TwilioStub,
    sms_sender: TwilioSmsSender,
    make_dispatcher: MakeDispatcher,
    clock: FakeClock,
) -> None:
    Outbox(Resilient(journal, sessions), journal)
    async with sessions.begin() as session:
        await enqueue(session, request())

    class StoreGoesDownAfterSend:
        async def send(self, message: Any) -> str:
            ref = await sms_sender.send(message)
            switchable.down = True  # the store fails between Twilio's answer and the settle
            return ref

        async def find_delivered(self, message: Any, since: Any) -> str | None:
            return await sms_sender.find_delivered(message, since)

        async def close(self) -> None:
            return None

    dispatcher = make_dispatcher({Channel.SMS: StoreGoesDownAfterSend()}, sessions=switchable)
    report = await dispatcher.run_once()
    assert report.sent == 1
    assert [line["kind"] for line in journal_lines(journal)] == ["notify.outcome"]

    switchable.down = False
    assert (await journal.replay()).applied == 1
    async with sessions() as session:
        row = await get_by_key(session, "sos:17:sms:4")
    assert row is not None
    assert row.status == NotificationStatus.SENT
    assert row.provider_ref == twilio.messages[0]["sid"]
    clock.advance(timedelta(hours=1).total_seconds())
    assert (await dispatcher.run_once()).claimed == 0
    assert len(twilio.messages) == 1


async def test_a_batch_is_stored_in_one_go_and_a_repeat_adds_nothing(
    sessions: SessionFactory, journal: Journal
) -> None:
    outbox = Outbox(Resilient(journal, sessions), journal)
    batch = [request(f"sos:18:sms:{n}") for n in range(3)]
    assert await outbox.submit_many(batch) == WriteOutcome.STORED
    assert await outbox.submit_many(batch[1:]) == WriteOutcome.STORED
    assert await rows(sessions) == 3


async def test_a_batch_is_journaled_when_the_store_is_down_and_replayed_once(
    sessions: SessionFactory, journal: Journal, switchable: Switchable
) -> None:
    outbox = Outbox(Resilient(journal, switchable), journal)  # type: ignore[arg-type]
    switchable.down = True
    batch = [request(f"sos:19:sms:{n}") for n in range(3)]
    assert await outbox.submit_many(batch) == WriteOutcome.JOURNALED
    assert [line["key"] for line in journal_lines(journal)] == [r.dedup_key for r in batch]
    switchable.down = False
    await journal.replay()
    await journal.replay()
    assert await rows(sessions) == 3
