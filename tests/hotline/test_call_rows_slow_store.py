"""A call's row survives a slow or unreachable store: the route's first write is not lost
to the FastAGI request's timeout, and a call whose earlier write went to the journal has
its later writes applied after it, not before (a row merged out of order has no kind and
is refused: the call record would be lost)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import make_url, text

from ari_apps.hotline.store import CallRowMissing, HotlineStore, register_journal_kinds
from callcenter.calls.models import Call
from callcenter.journal import Journal
from callcenter.store import create_engine
from callcenter.store.direct import DirectStatements
from callcenter.store.engine import SessionFactory
from tests.hotline.conftest import ELDER_PHONE, WAIT, HotlineHarness, Seeded
from tests.support.tcp_proxy import ProxiedStore, proxied_store

pytestmark = pytest.mark.postgres


def _postgres_only(database_url: str) -> None:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("a lock held by another session: PostgreSQL")


async def test_the_routes_row_is_written_though_the_agi_request_timed_out_waiting_for_it(
        hotline: HotlineHarness, seeded: Seeded, database_url: str) -> None:
    _postgres_only(database_url)
    assert hotline.service.agi is not None
    hotline.service.agi.request_timeout = 0.5
    await hotline.service.agents.login("agent1", ["hotline"])
    engine = create_engine(database_url)
    blocker = await engine.connect()
    try:
        await blocker.begin()
        # Inserts into calls wait (reads do not): the route decides, its row write hangs.
        await blocker.execute(text("LOCK TABLE calls IN SHARE MODE"))
        ringing = await hotline.bus.subscribe("hotline.call.ringing")
        channel = hotline.call_in(ELDER_PHONE)
        call_id = hotline.linkedid(channel)
        async with asyncio.timeout(WAIT):  # the route answered: the caller is in the queue
            await anext(aiter(ringing))
        await ringing.close()
        await blocker.rollback()
    finally:
        await blocker.close()
        await engine.dispose()
    row = await hotline.row_with(call_id, "answered_at")
    assert (row.kind, row.caller_number, row.elder_id, row.agent) == (
        "hotline", ELDER_PHONE, seeded.elder_id, "agent1")
    hotline.hang_up(channel)
    row = await hotline.row_with(call_id, "ended_at")
    assert row.outcome == "answered" and row.queued_at is not None
    assert not (hotline.journal.directory / "rejected.jsonl").exists()


@pytest.fixture
async def proxied(database_url: str) -> AsyncIterator[ProxiedStore]:
    async with proxied_store(database_url) as store:
        yield store


async def test_a_calls_later_writes_follow_its_journaled_write_until_the_journal_is_replayed(
        proxied: ProxiedStore, sessions: SessionFactory, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal", proxied.sessions)
    register_journal_kinds(journal)
    direct = DirectStatements(proxied.sessions.kw["bind"])  # the product's writes, one statement each
    store = HotlineStore(proxied.sessions, journal, direct)
    started = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

    await proxied.proxy.cut()
    await store.save_call("c1", kind="hotline", direction="inbound", caller_number=ELDER_PHONE,
                          caller_kind="elder", queue="hotline", priority=0, started_at=started)
    await proxied.proxy.restore()
    # The store is back, the journal not yet replayed: the answer must not be merged into
    # a row that is not there yet.
    await store.save_call("c1", agent="agent1", answered_at=started + timedelta(seconds=9),
                          wait_seconds=9)
    await store.save_call("c2", kind="hotline", direction="inbound", caller_number="13500000000",
                          caller_kind="unknown", queue="hotline", priority=0, started_at=started)
    async with sessions() as db:  # another call's write is not held back
        assert await db.get(Call, "c2") is not None
        assert await db.get(Call, "c1") is None

    report = await journal.replay()
    assert (report.applied, report.rejected) == (2, 0)
    async with sessions() as db:
        row = await db.get(Call, "c1")
        assert row is not None
        assert (row.kind, row.caller_number, row.agent, row.wait_seconds) == (
            "hotline", ELDER_PHONE, "agent1", 9)
    # Replayed: the call's writes go straight to the store again.
    await store.save_call("c1", outcome="answered", ended_at=started + timedelta(minutes=3))
    assert journal.backlog() == 0
    async with sessions() as db:
        assert (await db.get(Call, "c1")).outcome == "answered"  # type: ignore[union-attr]
    await direct.close()


async def test_a_call_rows_direct_writes_give_the_row_the_session_writes_give(
        sessions: SessionFactory, database_url: str, tmp_path: Path) -> None:
    _postgres_only(database_url)
    journal = Journal(tmp_path / "journal", sessions)
    register_journal_kinds(journal)
    direct = DirectStatements(sessions.kw["bind"])
    stores = {"direct": HotlineStore(sessions, journal, direct),
              "session": HotlineStore(sessions, journal)}
    started = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    for name, store in stores.items():
        await store.save_call(name, kind="hotline", direction="inbound", caller_kind="elder",
                              caller_number=ELDER_PHONE, queue="hotline", priority=2,
                              started_at=started, details={"uniqueid": "u1", "reason": "r"})
        await store.save_call(name, queue="vip", queued_at=started, details={"uniqueid": "u2"})
        await store.save_call(name, agent="agent1", answered_at=started, wait_seconds=4,
                              details={"agent_channel": "PJSIP/agent-7001-1"})
        await store.save_call(name, caller_number="13500000000", outcome="answered",
                              ended_at=started + timedelta(minutes=2), talk_seconds=116)
    with pytest.raises(CallRowMissing):
        await stores["direct"].save_call("nobody", agent="agent1")
    async with sessions() as db:
        rows = {name: await db.get(Call, name) for name in stores}
        assert await db.get(Call, "nobody") is None
    columns = [c.key for c in Call.__table__.columns if c.key != "id"]
    direct_row, session_row = rows["direct"], rows["session"]
    assert direct_row is not None and session_row is not None
    assert {c: getattr(direct_row, c) for c in columns} == {
        c: getattr(session_row, c) for c in columns}
    assert (direct_row.caller_tail, direct_row.queue, direct_row.details) == (
        "00000000531", "vip",
        {"uniqueid": "u2", "reason": "r", "agent_channel": "PJSIP/agent-7001-1"})
    await direct.close()
